import { FerryError } from '../../lib/ferry-error.js';
import type { Clock } from '../../platform/clock.js';
import { storedMessage, type StoredMessage } from '../message/message.js';
import { encodeMessage } from '../message/message-codec.js';
import type { CoreStorage, JsonValue, Log, QueueState, RecordInput } from '../ports.js';
import type { Destination } from '../routing/destination.js';
import type { ExchangeDeclaration, ExchangeDescription } from '../routing/exchange.js';
import type { HeaderTable } from '../routing/header-value.js';
import { Router, type RouteOptions } from '../routing/router.js';
import { PublishTurn } from '../queue/publish-turn.js';
import { Queue, type QueueHost } from '../queue/queue.js';
import { inequivalentQueueMessage, resolveQueueConfig, sameQueueConfig, type ArgumentTypeOf, type QueueConfig } from '../queue/queue-config.js';
import { Stream } from '../stream/stream.js';
import { partitionLogOptions, resolveStreamConfig, sameStreamConfig, type StreamConfig } from '../stream/stream-config.js';
import { StreamState } from '../stream/stream-state.js';
import { ShareGroup } from '../stream/share-group.js';
import { TransactionCoordinator, type Transaction, type TransactionOptions } from '../transaction/transaction.js';

/** An exchange as the vhost keeps it: the router's declaration plus lifetime flags. */
export interface ExchangeDefinition extends ExchangeDeclaration {
  readonly durable?: boolean;
  /** Deleted when the last binding from it goes (after it had one), as in RabbitMQ. */
  readonly autoDelete?: boolean;
}

/**
 * The outcome of a publish. Read-only and possibly shared: publishes with the
 * same outcome (all transient ones to a queue, the persistent ones written in
 * one batch) may get the same frozen object, so compare fields, not identity.
 */
export interface PublishOutcome {
  /** False when no queue received the message (unroutable). A duplicate dropped by a dedup window counts as routed. */
  readonly routed: boolean;
  /** Queues that refused it (overflow `reject-publish`): confirms should be negative. */
  readonly rejectedBy: readonly string[];
  /** Resolves once every queue that took it has it durably (per durability contract). */
  readonly durable: Promise<void>;
}

/** Options of {@link VirtualHost.publish}. */
export interface PublishOptions {
  /** For broker-originated messages (dead letters): internal exchanges may be used. */
  readonly internal?: boolean;
  /**
   * The message's envelope as its publisher encoded it, when those bytes
   * encode exactly `message` published through `exchange` (see
   * StoredMessage.envelope): it is kept with the message instead of being
   * encoded again for storage and delivery.
   */
  readonly envelope?: Uint8Array;
  /** Routing keys to route by besides the message's own (see RouteOptions.extraRoutingKeys). */
  readonly extraRoutingKeys?: readonly string[];
}

/** Options of {@link VirtualHost.deleteQueue}. */
export interface DeleteQueueOptions {
  readonly ifUnused?: boolean;
  readonly ifEmpty?: boolean;
}

/** Delivery policies of a share group (queue-style consumption of a stream). */
export interface ShareGroupOptions {
  readonly deliveryLimit?: number;
  readonly deadLetterExchange?: string;
  readonly deadLetterRoutingKey?: string;
  /** How long a pulled message stays invisible (default 30 s). */
  readonly visibilityTimeoutMs?: number;
}

/** Limits of one vhost. */
export interface VirtualHostLimits {
  readonly queuesMax: number;
  /** Largest message body accepted; larger publishes fail with MESSAGE_TOO_LARGE. */
  readonly messageBytesMax: number;
}

/** Numbers the calls of VirtualHost.groupByQueue (see Queue.groupMark). */
let groupSequence = 0;

/**
 * One isolated namespace: exchanges (a Router), queues, and their durable
 * definitions. Protocol-neutral: front ends call these methods.
 *
 * Durable definitions are written to the definition store before the call
 * resolves; transient ones live in memory only. A queue's logs are named
 * `queue/<vhost>/<name>/<priority>` in the durable or transient store.
 */
export class VirtualHost {
  readonly router: Router;
  private readonly queues = new Map<string, Queue>();
  private readonly streams = new Map<string, Stream>();
  private readonly streamOpening = new Map<string, Promise<Stream>>();
  private coordinator: Promise<TransactionCoordinator> | null = null;
  /** Share groups by `<stream>\u0000<group>`, with the options they were opened with. */
  private readonly shareGroups = new Map<string, { readonly options: ShareGroupOptions; readonly group: Promise<ShareGroup> }>();
  private readonly exchangeDurability = new Map<string, boolean>();
  private readonly autoDeleteExchanges = new Set<string>();
  private readonly queueOpening = new Map<string, Promise<Queue>>();
  private readonly queueDestinations = new Map<string, Destination>();
  private readonly host: QueueHost;
  /** Client publishes to this vhost's exchanges and those routed nowhere, since start (for rates). */
  readonly counters = { published: 0, unroutable: 0 };

  constructor(
    readonly name: string,
    private readonly storage: CoreStorage,
    private readonly clock: Clock,
    private readonly limits: VirtualHostLimits,
  ) {
    this.router = new Router({ findDestination: (queueName) => this.queueDestination(queueName), vhostName: name });
    // The exchanges every vhost has (AMQP's amq.* set; other protocols may use them too).
    for (const [name, type] of BUILT_IN_EXCHANGES) {
      this.router.declareExchange(name, { type });
      this.exchangeDurability.set(name, true);
    }
    const durableStore = storage.durable;
    this.host = {
      clock,
      turn: new PublishTurn(() => durableStore.written()),
      deadLetter: (exchange, message, extraRoutingKeys) => this.deadLetter(exchange, message, extraRoutingKeys),
      unused: (queue, why) => void this.deleteQueue(queue.name, {}).catch(() => undefined).then(() => why),
    };
  }

  /** The destination named `name` for the default exchange: a queue or a stream (one namespace). */
  private queueDestination(name: string): Destination | undefined {
    let destination = this.queueDestinations.get(name);
    if (destination && (destination.kind === 'queue' ? this.queues.has(name) : this.streams.has(name))) return destination;
    const kind = this.queues.has(name) ? 'queue' : this.streams.has(name) ? 'stream' : undefined;
    if (kind === undefined) return undefined;
    destination = Object.freeze({ kind, name });
    this.queueDestinations.set(name, destination);
    return destination;
  }

  // ------------------------------------------------------------------ exchanges

  /**
   * Declares an exchange; redeclaring with the same settings is a no-op, with
   * others EXCHANGE_DECLARATION_MISMATCH. Durable ones are stored before resolving.
   */
  async declareExchange(name: string, definition: ExchangeDefinition): Promise<ExchangeDescription> {
    const { durable = true, autoDelete = false, ...declaration } = definition;
    const existing = this.router.getExchange(name);
    if (existing && this.exchangeDurability.get(name) !== durable && name !== '') {
      const current = String(this.exchangeDurability.get(name));
      throw new FerryError('EXCHANGE_DECLARATION_MISMATCH', `inequivalent arg 'durable' for exchange '${name}' in vhost '${this.name}': received '${String(durable)}' but current is '${current}'`);
    }
    const created = this.router.declareExchange(name, declaration);
    if (created) {
      this.exchangeDurability.set(name, durable);
      if (autoDelete) this.autoDeleteExchanges.add(name);
      if (durable) await this.storage.definitions.put('exchange', `${this.name}\u0000${name}`, { vhost: this.name, name, autoDelete, ...declaration } as JsonValue);
    }
    return this.router.getExchange(name)!;
  }

  /** Lifetime flags of exchange `name` (the default exchange is durable), or undefined when there is none. */
  exchangeFlags(name: string): { readonly durable: boolean; readonly autoDelete: boolean } | undefined {
    if (!this.router.getExchange(name)) return undefined;
    return { durable: name === '' || this.exchangeDurability.get(name) === true, autoDelete: this.autoDeleteExchanges.has(name) };
  }

  /** Deletes an exchange and its bindings. */
  async deleteExchange(name: string, options: { ifUnused?: boolean } = {}): Promise<boolean> {
    const durable = this.exchangeDurability.get(name);
    const removedBindings = [...this.router.bindingsFrom(name), ...this.router.bindingsTo({ kind: 'exchange', name })];
    const deleted = this.router.deleteExchange(name, options);
    if (deleted) {
      this.exchangeDurability.delete(name);
      this.autoDeleteExchanges.delete(name);
      if (durable) await this.storage.definitions.delete('exchange', `${this.name}\u0000${name}`);
      for (const binding of removedBindings) await this.forgetBinding(binding.source, binding.destination, binding.routingKey, binding.arguments);
    }
    return deleted;
  }

  // ------------------------------------------------------------------ queues

  /**
   * Declares a queue: creates it, or checks that an existing one has the same
   * settings (PRECONDITION_FAILED otherwise) and that an exclusive one belongs
   * to the caller (RESOURCE_LOCKED). Resolves once a durable queue is stored.
   */
  async declareQueue(input: Partial<QueueConfig> & { readonly name: string }, options: { readonly argumentTypeOf?: ArgumentTypeOf } = {}): Promise<Queue> {
    const config = resolveQueueConfig(input);
    if (this.streams.has(config.name) || this.streamOpening.has(config.name)) {
      throw new FerryError('PRECONDITION_FAILED', `${config.name} is a stream, not a queue`);
    }
    const existing = this.queues.get(config.name) ?? (await this.queueOpening.get(config.name));
    if (existing) {
      if (existing.config.exclusiveOwner !== undefined && existing.config.exclusiveOwner !== config.exclusiveOwner) {
        throw new FerryError('RESOURCE_LOCKED', lockedQueueMessage(config.name, this.name));
      }
      if (!sameQueueConfig(existing.config, config)) {
        throw new FerryError('PRECONDITION_FAILED', inequivalentQueueMessage(existing.config, config, this.name, options.argumentTypeOf));
      }
      existing.touch();
      return existing;
    }
    if (this.queues.size >= this.limits.queuesMax) {
      throw new FerryError('QUEUE_LIMIT_REACHED', `vhost ${this.name} has ${this.limits.queuesMax} queues, its limit`);
    }
    const opening = this.openQueue(config, true);
    this.queueOpening.set(config.name, opening);
    try {
      return await opening;
    } finally {
      this.queueOpening.delete(config.name);
    }
  }

  /** Opens a queue's logs and state; `store` writes the definition (false when restoring). */
  async openQueue(config: QueueConfig, store: boolean): Promise<Queue> {
    const logStore = this.storeFor(config);
    const levelCount = (config.maxPriority ?? 0) + 1;
    const logs: Log[] = [];
    const states: QueueState[] = [];
    for (let priority = 0; priority < levelCount; priority++) {
      const logName = `queue/${this.name}/${config.name}/${priority}`;
      const log = await logStore.openLog(logName);
      logs.push(log);
      // A deduplication window is rebuilt after a restart from the records of its messages, acked ones too.
      const settledRead = config.deduplicationWindowMs !== undefined ? { settledRecordsReadForMs: config.deduplicationWindowMs } : {};
      states.push(await this.storage.openQueueState(logStore, `state/${this.name}/${config.name}/${priority}`, log, settledRead));
    }
    if (store && config.durable && config.exclusiveOwner === undefined) {
      await this.storage.definitions.put('queue', `${this.name}\u0000${config.name}`, { vhost: this.name, ...config } as unknown as JsonValue);
    }
    const queue = await Queue.open(config, this.host, logs, states);
    this.queues.set(config.name, queue);
    return queue;
  }

  /** Exclusive queues live and die with their connection: never on disk, whatever `durable` says. */
  private storeFor(config: QueueConfig) {
    return config.durable && config.exclusiveOwner === undefined ? this.storage.durable : this.storage.transient;
  }

  /** The queue named `name`; QUEUE_NOT_FOUND when there is none. */
  queue(name: string): Queue {
    const queue = this.queues.get(name);
    if (!queue) throw new FerryError('QUEUE_NOT_FOUND', `no queue '${name}' in vhost '${this.name}'`);
    return queue;
  }

  /**
   * The ids of `deliveries` grouped by queue, in the order the queues first appear: `ids[i]`
   * belong to `queues[i]`. QUEUE_NOT_FOUND when a delivery's queue is gone. One pass with no
   * map: each queue remembers the grouping that saw it last (Queue.groupMark), so acking the
   * deliveries of a thousand queues costs no hash table growing to a thousand entries.
   */
  groupByQueue(deliveries: readonly { readonly queue: string; readonly id: number }[]): { readonly queues: Queue[]; readonly ids: number[][] } {
    const mark = ++groupSequence;
    const queues: Queue[] = [];
    const ids: number[][] = [];
    for (let index = 0; index < deliveries.length; index++) {
      const delivery = deliveries[index]!;
      const queue = this.queue(delivery.queue);
      if (queue.groupMark === mark) {
        ids[queue.groupIndex]!.push(delivery.id);
      } else {
        queue.groupMark = mark;
        queue.groupIndex = queues.length;
        queues.push(queue);
        ids.push([delivery.id]);
      }
    }
    return { queues, ids };
  }

  /** The queue named `name`, or undefined. */
  findQueue(name: string): Queue | undefined {
    return this.queues.get(name);
  }

  /** Every queue of the vhost. */
  listQueues(): Queue[] {
    return [...this.queues.values()];
  }

  /**
   * Deletes a queue, its bindings and its data; resolves with the number of
   * ready messages it held. PRECONDITION_FAILED when `ifUnused`/`ifEmpty` fail.
   */
  async deleteQueue(name: string, options: DeleteQueueOptions = {}): Promise<number> {
    const queue = this.queue(name);
    if (options.ifUnused && queue.consumerCount() > 0) throw new FerryError('PRECONDITION_FAILED', `queue '${name}' in vhost '${this.name}' in use`);
    if (options.ifEmpty && queue.messageCount() > 0) throw new FerryError('PRECONDITION_FAILED', `queue '${name}' in vhost '${this.name}' not empty`);
    const count = queue.messageCount();
    this.queues.delete(name);
    queue.markDeleted(`queue ${name} was deleted`);
    const destination = this.queueDestinations.get(name) ?? { kind: 'queue' as const, name };
    const bindings = this.router.bindingsTo(destination);
    this.router.unbindAllTo(destination);
    this.queueDestinations.delete(name);
    for (const binding of bindings) await this.forgetBinding(binding.source, binding.destination, binding.routingKey, binding.arguments);
    await this.deleteIfUnusedAutoDelete(bindings.map((binding) => binding.source));
    if (queue.config.durable && queue.config.exclusiveOwner === undefined) await this.storage.definitions.delete('queue', `${this.name}\u0000${name}`);
    const logStore = this.storeFor(queue.config);
    for (const state of queue.states()) await state.close();
    for (const log of queue.logs()) await logStore.deleteLog(log.name);
    for (let priority = 0; priority < queue.logs().length; priority++) {
      const stateName = `state/${this.name}/${name}/${priority}`;
      if (logStore.getLog(stateName)) await logStore.deleteLog(stateName);
    }
    return count;
  }

  /** Deletes every exclusive queue owned by `owner` (its connection closed). */
  async deleteExclusiveQueues(owner: string): Promise<void> {
    for (const queue of [...this.queues.values()]) {
      if (queue.config.exclusiveOwner === owner) await this.deleteQueue(queue.name);
    }
  }

  // ------------------------------------------------------------------ streams

  /**
   * Declares a stream: creates it, or checks that an existing one has the
   * same settings (PRECONDITION_FAILED otherwise). Streams and queues share
   * one namespace. Resolves once a durable stream is stored.
   */
  async declareStream(input: Partial<StreamConfig> & { readonly name: string }): Promise<Stream> {
    const config = resolveStreamConfig(input);
    if (this.queues.has(config.name) || this.queueOpening.has(config.name)) {
      throw new FerryError('PRECONDITION_FAILED', `${config.name} is a queue, not a stream`);
    }
    const existing = this.streams.get(config.name) ?? (await this.streamOpening.get(config.name));
    if (existing) {
      if (!sameStreamConfig(existing.config, config)) throw new FerryError('PRECONDITION_FAILED', `stream ${config.name} exists with different settings`);
      return existing;
    }
    if (this.queues.size + this.streams.size >= this.limits.queuesMax) {
      throw new FerryError('QUEUE_LIMIT_REACHED', `vhost ${this.name} has ${this.limits.queuesMax} queues and streams, its limit`);
    }
    const opening = this.openStream(config, true);
    this.streamOpening.set(config.name, opening);
    try {
      return await opening;
    } finally {
      this.streamOpening.delete(config.name);
    }
  }

  /** Opens a stream's partition logs and state; `store` writes the definition (false when restoring). */
  private async openStream(config: StreamConfig, store: boolean): Promise<Stream> {
    const logStore = config.durable ? this.storage.durable : this.storage.transient;
    const logs: Log[] = [];
    for (let partition = 0; partition < config.partitions; partition++) {
      logs.push(await logStore.openLog(`stream/${this.name}/${config.name}/${partition}`, partitionLogOptions(config)));
    }
    const state = await StreamState.open(await logStore.openLog(`stream-state/${this.name}/${config.name}`, { retentionMs: Number.POSITIVE_INFINITY, retentionBytes: Number.POSITIVE_INFINITY, retentionRecords: Number.POSITIVE_INFINITY, segmentBytesMax: 1024 * 1024 }));
    if (store && config.durable) await this.storage.definitions.put('stream', `${this.name}\u0000${config.name}`, { vhost: this.name, ...config } as unknown as JsonValue);
    const stream = await Stream.open(config, { clock: this.clock, messageBytesMax: this.limits.messageBytesMax }, logs, state);
    this.streams.set(config.name, stream);
    return stream;
  }

  /** The stream named `name`; STREAM_NOT_FOUND when there is none. */
  stream(name: string): Stream {
    const stream = this.streams.get(name);
    if (!stream) throw new FerryError('STREAM_NOT_FOUND', `no stream ${name} in vhost ${this.name}`);
    return stream;
  }

  /** The stream named `name`, or undefined. */
  findStream(name: string): Stream | undefined {
    return this.streams.get(name);
  }

  /** Every stream of the vhost. */
  listStreams(): Stream[] {
    return [...this.streams.values()];
  }

  /**
   * The share group `group` of stream `streamName`, opened on first use with
   * `options` (PRECONDITION_FAILED when reopened with different ones). Its
   * delivery state is durable with the stream.
   */
  shareGroup(streamName: string, group: string, options: ShareGroupOptions = {}): Promise<ShareGroup> {
    const stream = this.streams.get(streamName);
    if (!stream) return Promise.reject(new FerryError('STREAM_NOT_FOUND', `no stream ${streamName} in vhost ${this.name}`));
    if (group.length === 0) return Promise.reject(new FerryError('INVALID_ARGUMENT', 'a share group needs a name'));
    const key = `${streamName}\u0000${group}`;
    const existing = this.shareGroups.get(key);
    if (existing) {
      if (JSON.stringify(existing.options) !== JSON.stringify(options)) {
        return Promise.reject(new FerryError('PRECONDITION_FAILED', `share group ${group} of stream ${streamName} is open with other settings`));
      }
      return existing.group;
    }
    const opening = this.openShareGroup(stream, group, options);
    this.shareGroups.set(key, { options, group: opening });
    opening.catch(() => this.shareGroups.delete(key));
    return opening;
  }

  private async openShareGroup(stream: Stream, group: string, options: ShareGroupOptions): Promise<ShareGroup> {
    const logStore = stream.config.durable ? this.storage.durable : this.storage.transient;
    const queues: Queue[] = [];
    for (let partition = 0; partition < stream.partitionCount(); partition++) {
      const view = stream.partitionView(partition);
      const state = await this.storage.openQueueState(logStore, `${shareStatePrefix(this.name, stream.name)}${group}/${partition}`, view);
      const config = resolveQueueConfig({ ...options, name: `${stream.name}#${group}#${partition}`, durable: stream.config.durable });
      queues.push(await Queue.open(config, this.host, [view], [state], { externalLog: true }));
    }
    return new ShareGroup(group, stream, queues);
  }

  /** Deletes a stream, its bindings, committed offsets, share groups and data; resolves with the number of messages it held. */
  async deleteStream(name: string): Promise<number> {
    const stream = this.stream(name);
    const count = stream.messageCount();
    this.streams.delete(name);
    stream.markDeleted();
    for (const [key, entry] of [...this.shareGroups]) {
      if (!key.startsWith(`${name}\u0000`)) continue;
      this.shareGroups.delete(key);
      await (await entry.group).close();
    }
    const destination = this.queueDestinations.get(name) ?? { kind: 'stream' as const, name };
    const bindings = this.router.bindingsTo(destination);
    this.router.unbindAllTo(destination);
    this.queueDestinations.delete(name);
    for (const binding of bindings) await this.forgetBinding(binding.source, binding.destination, binding.routingKey, binding.arguments);
    await this.deleteIfUnusedAutoDelete(bindings.map((binding) => binding.source));
    if (stream.config.durable) await this.storage.definitions.delete('stream', `${this.name}\u0000${name}`);
    const logStore = stream.config.durable ? this.storage.durable : this.storage.transient;
    for (const log of stream.logs()) await logStore.deleteLog(log.name);
    await logStore.deleteLog(`stream-state/${this.name}/${name}`);
    const sharePrefix = shareStatePrefix(this.name, name);
    for (const logName of logStore.logNames()) if (logName.startsWith(sharePrefix)) await logStore.deleteLog(logName);
    return count;
  }

  // ------------------------------------------------------------------ transactions

  /**
   * Opens a transaction: publishes, stream appends, acks and consumer-group
   * offset commits that take effect together at commit, or not at all.
   */
  async beginTransaction(options: TransactionOptions = {}): Promise<Transaction> {
    return (await this.transactions()).begin(options);
  }

  /** Deletes the transaction log (the vhost is being deleted; open transactions are abandoned). */
  async deleteTransactionLog(): Promise<void> {
    await this.coordinator?.catch(() => undefined);
    this.coordinator = null;
    const name = `tx/${this.name}`;
    if (this.storage.durable.getLog(name)) await this.storage.durable.deleteLog(name);
  }

  /** The vhost's transaction coordinator, opened (and recovered) on first use. */
  private transactions(): Promise<TransactionCoordinator> {
    this.coordinator ??= (async () => {
      const log = await this.storage.durable.openLog(`tx/${this.name}`, { retentionMs: Number.POSITIVE_INFINITY, retentionBytes: Number.POSITIVE_INFINITY, retentionRecords: Number.POSITIVE_INFINITY, segmentBytesMax: 4 * 1024 * 1024 });
      const coordinator = new TransactionCoordinator(
        {
          clock: this.clock,
          messageBytesMax: this.limits.messageBytesMax,
          route: (exchange, message, extraRoutingKeys) =>
            this.router.route(exchange, message.routingKey, message.headers, extraRoutingKeys === undefined ? ROUTE_EXTERNAL : { internalAllowed: false, extraRoutingKeys }).destinations,
          findQueue: (name) => this.queues.get(name),
          findStream: (name) => this.streams.get(name),
        },
        log,
      );
      await coordinator.recover();
      return coordinator;
    })();
    const opening = this.coordinator;
    opening.catch(() => {
      if (this.coordinator === opening) this.coordinator = null;
    });
    return opening;
  }

  // ------------------------------------------------------------------ bindings

  /** Binds a queue or exchange to an exchange; durable when both ends are. */
  async bind(source: string, destination: Destination, routingKey: string, bindingArguments: HeaderTable = {}): Promise<void> {
    const interned = destination.kind !== 'exchange' ? this.queueDestination(destination.name) ?? destination : destination;
    if (interned.kind !== destination.kind) throw new FerryError('PRECONDITION_FAILED', `${destination.name} is a ${interned.kind}, not a ${destination.kind}`);
    const created = this.router.bind(source, interned, routingKey, bindingArguments);
    if (created && this.bindingIsDurable(source, destination)) {
      await this.storage.definitions.put('binding', bindingKey(this.name, source, destination, routingKey, bindingArguments), {
        vhost: this.name,
        source,
        destinationKind: destination.kind,
        destination: destination.name,
        routingKey,
        arguments: bindingArguments as unknown as JsonValue,
      });
    }
  }

  /** Removes a binding; false when there was none. */
  async unbind(source: string, destination: Destination, routingKey: string, bindingArguments: HeaderTable = {}): Promise<boolean> {
    const interned = destination.kind !== 'exchange' ? this.queueDestination(destination.name) ?? destination : destination;
    const removed = this.router.unbind(source, interned, routingKey, bindingArguments);
    if (removed) {
      await this.forgetBinding(source, destination, routingKey, bindingArguments);
      await this.deleteIfUnusedAutoDelete([source]);
    }
    return removed;
  }

  /** Deletes auto-delete exchanges among `names` that have no binding from them left. */
  private async deleteIfUnusedAutoDelete(names: Iterable<string>): Promise<void> {
    for (const name of new Set(names)) {
      if (this.autoDeleteExchanges.has(name) && this.router.getExchange(name) && this.router.bindingsFrom(name).length === 0) {
        this.autoDeleteExchanges.delete(name);
        await this.deleteExchange(name);
      }
    }
  }

  private bindingIsDurable(source: string, destination: Destination): boolean {
    const sourceDurable = this.exchangeDurability.get(source) ?? true;
    const destinationDurable =
      destination.kind === 'queue'
        ? (this.queues.get(destination.name)?.config.durable ?? false) && this.queues.get(destination.name)?.config.exclusiveOwner === undefined
        : destination.kind === 'stream'
          ? (this.streams.get(destination.name)?.config.durable ?? false)
          : (this.exchangeDurability.get(destination.name) ?? true);
    return sourceDurable && destinationDurable;
  }

  private async forgetBinding(source: string, destination: Destination, routingKey: string, bindingArguments: HeaderTable): Promise<void> {
    await this.storage.definitions.delete('binding', bindingKey(this.name, source, destination, routingKey, bindingArguments));
  }

  // ------------------------------------------------------------------ publish

  /**
   * Routes a message and offers it to every queue it reaches. Synchronous
   * placement (the message is in each queue when this returns); `durable`
   * resolves when the persistent copies are written.
   */
  publish(exchange: string, message: Omit<StoredMessage, 'exchange' | 'arrivedAtMs' | 'envelope'>, options: PublishOptions = noOptions): PublishOutcome {
    if (message.body.byteLength > this.limits.messageBytesMax) {
      throw new FerryError('MESSAGE_TOO_LARGE', `message of ${message.body.byteLength} bytes exceeds message-bytes-max ${this.limits.messageBytesMax}`);
    }
    if (exchange === '' && options.extraRoutingKeys === undefined) {
      // The default exchange routes to the queue named by the routing key: found here
      // without the router's outcome objects (what Router.route would find for it).
      const queue = this.queues.get(message.routingKey);
      if (queue !== undefined) {
        if (options.internal !== true) this.counters.published++;
        return this.offerToQueue(queue, this.stored(exchange, message, options.envelope));
      }
    }
    const internalAllowed = options.internal === true;
    const routeOptions =
      options.extraRoutingKeys !== undefined ? { internalAllowed, extraRoutingKeys: options.extraRoutingKeys } : internalAllowed ? ROUTE_INTERNAL : ROUTE_EXTERNAL;
    const outcome = this.router.route(exchange, message.routingKey, message.headers, routeOptions);
    if (options.internal !== true) this.counters.published++;
    if (outcome.unroutable) {
      this.counters.unroutable++;
      return unroutedOutcome;
    }
    const stored = this.stored(exchange, message, options.envelope);
    if (outcome.destinations.length === 1 && outcome.destinations[0]!.kind === 'queue') {
      // The common case, without the arrays.
      const queue = this.queues.get(outcome.destinations[0]!.name);
      if (queue) return this.offerToQueue(queue, stored);
    }
    const writes: Promise<void>[] = [];
    const rejectedBy: string[] = [];
    let routed = false;
    // Encoded once for every durable queue it reaches (fanout), not once per queue.
    let record: RecordInput | undefined;
    for (const destination of outcome.destinations) {
      if (destination.kind === 'stream') {
        const stream = this.streams.get(destination.name);
        if (!stream) continue;
        record ??= encodeMessage(stored);
        writes.push(stream.appendRouted(stored, record).durable);
        routed = true;
        continue;
      }
      const queue = this.queues.get(destination.name);
      if (!queue) continue;
      if (record === undefined && queue.config.durable && queue.config.exclusiveOwner === undefined) record = encodeMessage(stored);
      const result = queue.enqueue(stored, record);
      if (result.kind === 'accepted') {
        routed = true;
        writes.push(result.durable);
      } else if (result.kind === 'rejected') {
        rejectedBy.push(queue.name);
      } else {
        routed = true;
      }
    }
    return { routed: routed || rejectedBy.length > 0, rejectedBy, durable: writes.length === 1 ? writes[0]! : Promise.all(writes).then(() => undefined) };
  }

  /** `message` as queues store it, arriving now. */
  private stored(exchange: string, message: Omit<StoredMessage, 'exchange' | 'arrivedAtMs' | 'envelope'>, envelope: Uint8Array | undefined): StoredMessage {
    return storedMessage(message, exchange, this.clock.nowMs(), envelope);
  }

  /** Offers a message routed to exactly one queue. */
  private offerToQueue(queue: Queue, stored: StoredMessage): PublishOutcome {
    const result = queue.enqueue(stored);
    if (result.kind === 'rejected') return { routed: true, rejectedBy: [queue.name], durable: resolved };
    if (result.kind === 'duplicate') return routedOutcome;
    return this.acceptedOutcome(result.durable);
  }

  /** The outcome of a publish accepted by one queue: one object per `durable` promise, shared by the publishes that wait for it. */
  private acceptedOutcome(durable: Promise<void>): PublishOutcome {
    let outcome = this.lastAccepted;
    if (outcome === null || outcome.durable !== durable) {
      outcome = Object.freeze({ routed: true, rejectedBy: noQueues, durable });
      this.lastAccepted = outcome;
    }
    return outcome;
  }

  /** See {@link acceptedOutcome}. */
  private lastAccepted: PublishOutcome | null = null;

  private deadLetter(exchange: string, message: StoredMessage, extraRoutingKeys: readonly string[] | undefined): void {
    try {
      const outcome = this.publish(exchange, message, extraRoutingKeys === undefined ? INTERNAL : { internal: true, extraRoutingKeys });
      // Nobody awaits a dead letter's write: one that fails (a failed store) must not be an unhandled rejection.
      outcome.durable.catch(ignoreFailure);
    } catch {
      // A missing dead-letter exchange drops the message, as RabbitMQ does.
    }
  }

  /** Restores exchanges, queues and bindings from stored definitions. */
  async restore(): Promise<void> {
    const definitions = this.storage.definitions;
    for (const [, value] of definitions.list('exchange')) {
      const { vhost, name, autoDelete, ...declaration } = value as unknown as { vhost: string; name: string; autoDelete?: boolean } & ExchangeDeclaration;
      if (vhost !== this.name) continue;
      this.router.declareExchange(name, declaration);
      this.exchangeDurability.set(name, true);
      if (autoDelete) this.autoDeleteExchanges.add(name);
    }
    for (const [, value] of definitions.list('queue')) {
      const { vhost, ...config } = value as unknown as { vhost: string } & QueueConfig;
      if (vhost !== this.name) continue;
      await this.openQueue(resolveQueueConfig(config), false);
    }
    for (const [, value] of definitions.list('stream')) {
      const { vhost, ...config } = value as unknown as { vhost: string } & StreamConfig;
      if (vhost !== this.name) continue;
      await this.openStream(resolveStreamConfig(config), false);
    }
    for (const [, value] of definitions.list('binding')) {
      const binding = value as unknown as { vhost: string; source: string; destinationKind: Destination['kind']; destination: string; routingKey: string; arguments: HeaderTable };
      if (binding.vhost !== this.name) continue;
      const destination: Destination =
        binding.destinationKind !== 'exchange' ? this.queueDestination(binding.destination) ?? { kind: binding.destinationKind, name: binding.destination } : { kind: binding.destinationKind, name: binding.destination };
      try {
        this.router.bind(binding.source, destination, binding.routingKey, binding.arguments);
      } catch {
        // A binding whose ends are gone (transient destination) is dropped.
      }
    }
    // Transactions a crash cut short are completed before anyone consumes.
    if (this.storage.durable.logNames().includes(`tx/${this.name}`)) await this.transactions();
  }

  /** Marks every queue and stream deleted in memory (broker shutdown); nothing is removed from storage. */
  shutdown(): void {
    for (const queue of this.queues.values()) queue.markDeleted('broker shutting down', { shutdown: true });
    for (const stream of this.streams.values()) stream.markDeleted();
    for (const { group } of this.shareGroups.values()) void group.then((opened) => opened.close({ shutdown: true })).catch(() => undefined);
  }

  /** Closes every queue and stream cleanly (transient messages settled, state flushed). */
  async close(): Promise<void> {
    for (const queue of this.queues.values()) await queue.close();
    for (const { group } of this.shareGroups.values()) await (await group.catch(() => undefined))?.close();
    for (const stream of this.streams.values()) await stream.close();
  }
}

const noQueues: readonly string[] = Object.freeze([]);
const noOptions: PublishOptions = Object.freeze({});
const ignoreFailure = (): void => undefined;

/** RESOURCE_LOCKED's text for an exclusive queue used from another connection, in RabbitMQ's words. */
export function lockedQueueMessage(queue: string, vhost: string): string {
  return `cannot obtain exclusive access to locked queue '${queue}' in vhost '${vhost}'. It could be originally declared on another connection or the exclusive property value does not match that of the original declaration.`;
}
const INTERNAL: PublishOptions = Object.freeze({ internal: true });
const ROUTE_EXTERNAL: RouteOptions = Object.freeze({ internalAllowed: false });
const ROUTE_INTERNAL: RouteOptions = Object.freeze({ internalAllowed: true });

/** Names of share-group state logs of a stream start with this (a NUL ends the stream name, so no other stream's prefix matches). */
function shareStatePrefix(vhost: string, stream: string): string {
  return `share/${vhost}/${stream}\u0000`;
}
const BUILT_IN_EXCHANGES: ReadonlyArray<readonly [string, 'direct' | 'fanout' | 'topic' | 'headers']> = [
  ['amq.direct', 'direct'],
  ['amq.fanout', 'fanout'],
  ['amq.topic', 'topic'],
  ['amq.headers', 'headers'],
  ['amq.match', 'headers'],
];
const resolved = Promise.resolve();
/** Outcomes shared by every publish they describe (frozen: callers only read them). */
const unroutedOutcome: PublishOutcome = Object.freeze({ routed: false, rejectedBy: noQueues, durable: resolved });
const routedOutcome: PublishOutcome = Object.freeze({ routed: true, rejectedBy: noQueues, durable: resolved });

function bindingKey(vhost: string, source: string, destination: Destination, routingKey: string, bindingArguments: HeaderTable): string {
  return [vhost, source, destination.kind, destination.name, routingKey, JSON.stringify(bindingArguments)].join('\u0000');
}
