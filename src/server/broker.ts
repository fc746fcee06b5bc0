import { SystemClock, type Clock } from '../platform/clock.js';
import type { FileSystem } from '../platform/file-system.js';
import { NodeFileSystem } from '../platform/node-file-system.js';
import { ScryptPasswordHasher, type PasswordHasher } from '../platform/password-hasher.js';
import { NodeResourceProbe, type ResourceProbe } from '../platform/resource-probe.js';
import { turnOffAllocationSitePretenuring } from '../platform/v8-heap-tuning.js';
import type { AlarmSettings } from '../core/alarms/resource-alarms.js';
import { totalmem } from 'node:os';
import { BROKER_LIMIT_DEFAULTS, BrokerCore, DEFAULT_VHOST, type BrokerLimits } from '../core/broker/broker-core.js';
import type { MessageProperties } from '../core/message/message.js';
import type { Durability, LogStore } from '../core/ports.js';
import type { ConsumerOptions, Delivery } from '../core/queue/delivery.js';
import { LAZY_ACK, type PullOptions, type Queue } from '../core/queue/queue.js';
import type { QueueConfig } from '../core/queue/queue-config.js';
import type { Destination } from '../core/routing/destination.js';
import type { HeaderTable } from '../core/routing/header-value.js';
import type { DeleteQueueOptions, ExchangeDefinition, PublishOutcome, ShareGroupOptions, VirtualHost } from '../core/vhost/virtual-host.js';
import type { ShareGroup } from '../core/stream/share-group.js';
import type { ConsumerGroup } from '../core/stream/consumer-group.js';
import type { Transaction, TransactionMessage, TransactionOutcome } from '../core/transaction/transaction.js';
import type { StoredMessage } from '../core/message/message.js';
import type { OffsetSpec, ProducerStampInput, Stream, StreamAppendResult, StreamEntry } from '../core/stream/stream.js';
import type { StreamConfig } from '../core/stream/stream-config.js';
import { startNativeServer, type NativeServer } from '../protocols/native/native-server.js';
import { openCoreStorage, type StorageTuning } from './core-storage.js';
import { whenAll } from '../lib/when-all.js';

/** How to start an embedded broker. */
export interface BrokerStartOptions {
  /** Data directory of the embedded on-disk storage (default `./data`). */
  readonly dataDir?: string;
  /** Keep everything in memory: nothing survives the process. */
  readonly memory?: boolean;
  /** When publishes are confirmed: `always` (default) after fsync. */
  readonly durability?: Durability;
  readonly limits?: Partial<BrokerLimits>;
  /** Injected for tests and simulation. */
  readonly clock?: Clock;
  readonly fileSystem?: FileSystem;
  readonly resourceProbe?: ResourceProbe;
  readonly passwordHasher?: PasswordHasher;
  /** Watermarks: memory defaults to 40% of the machine's memory, free disk to 50 MiB. */
  readonly alarms?: Partial<AlarmSettings>;
  /** Tuning of the on-disk storage (`ferry serve --storage-*`); ignored with `memory`. Unset fields keep the store's defaults. */
  readonly storage?: StorageTuning;
  /** Told how long each journal fsync of the file storage took, in milliseconds (metrics). */
  readonly onSync?: (durationMs: number) => void;
  /**
   * Serves the native protocol in this process at `ferry+mem://NAME`, with no
   * socket (the TypeScript client's in-process transport); the endpoint closes
   * with the broker. A name already served in the process is refused (RangeError).
   */
  readonly inProcessName?: string;
  /**
   * Keep V8's allocation-site pretenuring (default false: the broker turns it off, for the
   * whole process, at its first start; see turnOffAllocationSitePretenuring). True leaves the
   * process's V8 settings alone.
   */
  readonly gcPretenuring?: boolean;
}

/** What to publish. */
export interface PublishInput {
  readonly body: Uint8Array | string;
  readonly routingKey?: string;
  readonly headers?: HeaderTable;
  readonly properties?: MessageProperties;
  /** Default true: survives a restart in a durable queue. */
  readonly persistent?: boolean;
  readonly vhost?: string;
}

/** The result of a confirmed publish. */
export interface PublishResult {
  readonly routed: boolean;
  /** Queues that refused the message (overflow reject-publish). */
  readonly rejectedBy: readonly string[];
}

/** Options of {@link Broker.consume}. */
export interface ConsumeOptions extends Partial<Omit<ConsumerOptions, 'onDelivery'>> {
  readonly vhost?: string;
}

/** A running consumer; `cancel()` detaches it. */
export interface ConsumerHandle {
  readonly tag: string;
  cancel(options?: { requeueUnsettled?: boolean }): void;
}

const encoder = new TextEncoder();
/** Headers and properties of a publish that has none (frozen: shared by every such message). */
const noHeaders: HeaderTable = Object.freeze({});
const noProperties: MessageProperties = Object.freeze({});
/** Results shared by every publish they describe (frozen: callers only read them). */
const routedResult: PublishResult = Object.freeze({ routed: true, rejectedBy: Object.freeze([]) });
const unroutedResult: PublishResult = Object.freeze({ routed: false, rejectedBy: Object.freeze([]) });
let consumerSequence = 0;

/** True when every delivery of a non-empty list is of the same queue. */
function ofOneQueue(deliveries: readonly Delivery[]): boolean {
  const queue = deliveries[0]!.queue;
  for (let index = 1; index < deliveries.length; index++) if (deliveries[index]!.queue !== queue) return false;
  return true;
}

function transactionMessage(input: PublishInput, routingKey: string): TransactionMessage {
  return {
    routingKey,
    body: typeof input.body === 'string' ? encoder.encode(input.body) : input.body,
    headers: input.headers ?? {},
    properties: input.properties ?? {},
    persistent: input.persistent ?? true,
  };
}

/** A transaction of the embedded API; see {@link Broker.transaction}. */
export class BrokerTransaction {
  constructor(private readonly transaction: Transaction) {}

  /** Publishes through `exchange` at commit. */
  publish(exchange: string, input: PublishInput): this {
    this.transaction.publish(exchange, transactionMessage(input, input.routingKey ?? ''));
    return this;
  }

  /** Appends to a stream at commit. */
  appendToStream(stream: string, input: PublishInput, options: { partition?: number } = {}): this {
    this.transaction.appendToStream(stream, transactionMessage(input, input.routingKey ?? stream), options.partition);
    return this;
  }

  /** Acknowledges deliveries at commit; until then they stay in flight. */
  ack(deliveries: Delivery | readonly Delivery[]): this {
    for (const delivery of Array.isArray(deliveries) ? (deliveries as readonly Delivery[]) : [deliveries as Delivery]) this.transaction.ack(delivery.queue, delivery.id);
    return this;
  }

  /**
   * Commits a consumer-group offset at commit (the member must own the
   * partition); with `generation`, refused after any rebalance since (ILLEGAL_GENERATION).
   */
  commitOffset(stream: string, group: string, member: string, partition: number, offset: number, options: { generation?: number } = {}): this {
    this.transaction.commitOffset(stream, group, member, partition, offset, options.generation);
    return this;
  }

  /** Makes everything take effect; resolves once durable. */
  commit(): Promise<TransactionOutcome> {
    return this.transaction.commit();
  }

  /** Discards everything; acked deliveries stay unacked. */
  abort(): void {
    this.transaction.abort();
  }
}

/**
 * Ferry in-process: `const broker = await Broker.start({ memory: true })`.
 * Every call takes an optional `vhost` (default "/"). Publishes resolve once
 * confirmed (durable per the durability setting); acks once durable.
 */
export class Broker {
  /** The `ferry+mem://` endpoint, when started with `inProcessName`. */
  private inProcess: NativeServer | null = null;

  private constructor(
    readonly core: BrokerCore,
    private readonly logStore: LogStore,
  ) {}

  /** Starts a broker on embedded storage (on disk in `dataDir`, or in memory). */
  static async start(options: BrokerStartOptions = {}): Promise<Broker> {
    if (options.gcPretenuring !== true) turnOffAllocationSitePretenuring();
    const clock = options.clock ?? new SystemClock();
    const storage = await openCoreStorage(
      options.memory
        ? { kind: 'memory' }
        : {
            kind: 'file',
            directory: options.dataDir ?? 'data',
            fileSystem: options.fileSystem ?? new NodeFileSystem(),
            durability: options.durability ?? 'always',
            ...(options.storage ? { tuning: options.storage } : {}),
            ...(options.onSync ? { onSync: options.onSync } : {}),
          },
      clock,
    );
    try {
      const core = await BrokerCore.start({
        storage,
        clock,
        ...(options.limits ? { limits: options.limits } : {}),
        passwordHasher: options.passwordHasher ?? new ScryptPasswordHasher(),
        resourceProbe: options.resourceProbe ?? new NodeResourceProbe(),
        dataDirectory: options.memory ? null : (options.dataDir ?? 'data'),
        alarms: { memoryHighWatermarkBytes: Math.floor(totalmem() * 0.4), ...options.alarms },
      });
      const broker = new Broker(core, storage.logStore);
      if (options.inProcessName !== undefined) {
        try {
          broker.inProcess = await startNativeServer(core, {
            host: 'in-process',
            port: null,
            clock,
            messageBytesMax: options.limits?.messageBytesMax ?? BROKER_LIMIT_DEFAULTS.messageBytesMax,
            inProcessName: options.inProcessName,
          });
        } catch (error) {
          await core.close().catch(() => undefined);
          throw error;
        }
      }
      return broker;
    } catch (error) {
      await storage.close().catch(() => undefined);
      throw error;
    }
  }

  /** The vhost named `name` (default "/"). */
  vhost(name: string = DEFAULT_VHOST): VirtualHost {
    return this.core.vhost(name);
  }

  declareExchange(name: string, definition: ExchangeDefinition, options: { vhost?: string } = {}) {
    return this.vhost(options.vhost).declareExchange(name, definition);
  }

  deleteExchange(name: string, options: { vhost?: string; ifUnused?: boolean } = {}): Promise<boolean> {
    return this.vhost(options.vhost).deleteExchange(name, options);
  }

  /** Declares a queue with any of the policies of QueueConfig. */
  declareQueue(name: string, config: Partial<Omit<QueueConfig, 'name'>> = {}, options: { vhost?: string } = {}): Promise<Queue> {
    return this.vhost(options.vhost).declareQueue({ ...config, name });
  }

  deleteQueue(name: string, options: DeleteQueueOptions & { vhost?: string } = {}): Promise<number> {
    return this.vhost(options.vhost).deleteQueue(name, options);
  }

  purgeQueue(name: string, options: { vhost?: string } = {}): Promise<number> {
    return this.vhost(options.vhost).queue(name).purge();
  }

  /**
   * Binds a queue or stream (found by name; with `destinationKind: 'exchange'`,
   * an exchange) to an exchange.
   */
  bind(source: string, destination: string, routingKey = '', options: { vhost?: string; arguments?: HeaderTable; destinationKind?: Destination['kind'] } = {}): Promise<void> {
    const vhost = this.vhost(options.vhost);
    return vhost.bind(source, { kind: options.destinationKind ?? this.kindOf(vhost, destination), name: destination }, routingKey, options.arguments ?? {});
  }

  unbind(source: string, destination: string, routingKey = '', options: { vhost?: string; arguments?: HeaderTable; destinationKind?: Destination['kind'] } = {}): Promise<boolean> {
    const vhost = this.vhost(options.vhost);
    return vhost.unbind(source, { kind: options.destinationKind ?? this.kindOf(vhost, destination), name: destination }, routingKey, options.arguments ?? {});
  }

  private kindOf(vhost: VirtualHost, name: string): 'queue' | 'stream' {
    return vhost.findStream(name) ? 'stream' : 'queue';
  }

  // ------------------------------------------------------------------ streams

  /** Declares a stream (partitions, retention, in memory with `durable: false`). */
  declareStream(name: string, config: Partial<Omit<StreamConfig, 'name'>> = {}, options: { vhost?: string } = {}): Promise<Stream> {
    return this.vhost(options.vhost).declareStream({ ...config, name });
  }

  /** Deletes a stream with its data and committed offsets; resolves with the number of messages it held. */
  deleteStream(name: string, options: { vhost?: string } = {}): Promise<number> {
    return this.vhost(options.vhost).deleteStream(name);
  }

  /**
   * Appends messages to a stream directly (one batch per partition) and
   * resolves once they are durable. With `producer`, the append is
   * idempotent: a retry with the same sequence is stored once.
   */
  async appendToStream(
    name: string,
    inputs: PublishInput | readonly PublishInput[],
    options: { vhost?: string; partition?: number; producer?: ProducerStampInput } = {},
  ): Promise<StreamAppendResult[]> {
    if (this.core.alarms.blocked()) await this.core.alarms.whenClear();
    const nowMs = this.core.clock.nowMs();
    const list = Array.isArray(inputs) ? (inputs as readonly PublishInput[]) : [inputs as PublishInput];
    const messages: StoredMessage[] = list.map((input) => ({
      exchange: '',
      routingKey: input.routingKey ?? name,
      body: typeof input.body === 'string' ? encoder.encode(input.body) : input.body,
      headers: input.headers ?? {},
      properties: input.properties ?? {},
      persistent: input.persistent ?? true,
      arrivedAtMs: nowMs,
    }));
    const stream = this.vhost(options.vhost).stream(name);
    return stream.append(messages, { ...(options.partition !== undefined ? { partition: options.partition } : {}), ...(options.producer ? { producer: options.producer } : {}) });
  }

  /**
   * Opens a transaction: publishes, stream appends, acks of consumed
   * deliveries and consumer-group offset commits that take effect together
   * at `commit()` (durably, before it resolves) or not at all (`abort()`, or
   * after `timeoutMs`, default 60 s).
   */
  async transaction(options: { vhost?: string; timeoutMs?: number } = {}): Promise<BrokerTransaction> {
    const transaction = await this.vhost(options.vhost).beginTransaction(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {});
    return new BrokerTransaction(transaction);
  }

  /** The consumer group `group` of a stream (offset consumption with cooperative partition assignment and durable commits). */
  consumerGroup(stream: string, group: string, options: { vhost?: string } = {}): ConsumerGroup {
    return this.vhost(options.vhost).stream(stream).consumerGroup(group);
  }

  /**
   * The share group `group` of a stream: queue-style consumption (each
   * message to one member, acks, redelivery, delivery limit, dead-lettering)
   * beside offset readers. Opened on first use.
   */
  shareGroup(stream: string, group: string, options: ShareGroupOptions & { vhost?: string } = {}): Promise<ShareGroup> {
    const { vhost, ...groupOptions } = options;
    return this.vhost(vhost).shareGroup(stream, group, groupOptions);
  }

  /**
   * Reads up to `max` messages of one partition from `from` (an offset or
   * 'first' / 'last' / 'next' / { timestampMs }), waiting up to `waitMs` for
   * the first one. Nothing is removed: streams are replayed, not consumed.
   */
  async readStream(
    name: string,
    options: { vhost?: string; partition?: number; from?: OffsetSpec | number; max?: number; waitMs?: number } = {},
  ): Promise<StreamEntry[]> {
    const stream = this.vhost(options.vhost).stream(name);
    const partition = options.partition ?? 0;
    const from = options.from ?? 'first';
    const offset = typeof from === 'number' ? from : await stream.offsetFor(partition, from);
    const entries = await stream.read(partition, offset, options.max !== undefined ? { max: options.max } : {});
    if (entries.length > 0 || !(options.waitMs && options.waitMs > 0)) return entries;
    if (!(await stream.waitForMessages(partition, offset, options.waitMs))) return [];
    return stream.read(partition, offset, options.max !== undefined ? { max: options.max } : {});
  }

  /**
   * Publishes and resolves once confirmed (every queue has it, durably for
   * persistent messages). While a memory or disk alarm is on, waits for it to
   * clear first. Publishes confirmed together may share one promise (and one
   * frozen result): a transient publish allocates none.
   */
  publish(exchange: string, input: PublishInput): Promise<PublishResult> {
    if (this.core.alarms.blocked()) return this.publishWhenClear(exchange, input);
    try {
      return this.confirmation(this.publishNow(exchange, input));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  private async publishWhenClear(exchange: string, input: PublishInput): Promise<PublishResult> {
    await this.core.alarms.whenClear();
    return this.confirmation(this.publishNow(exchange, input));
  }

  private publishNow(exchange: string, input: PublishInput): PublishOutcome {
    return this.vhost(input.vhost).publish(exchange, {
      routingKey: input.routingKey ?? '',
      body: typeof input.body === 'string' ? encoder.encode(input.body) : input.body,
      headers: input.headers ?? noHeaders,
      properties: input.properties ?? noProperties,
      persistent: input.persistent ?? true,
    });
  }

  /**
   * The promise of a publish's result: resolves when `outcome.durable` does.
   * The vhost hands every publish confirmed by the same write the same
   * outcome object, so its promise is made once and shared.
   */
  private confirmation(outcome: PublishOutcome): Promise<PublishResult> {
    if (outcome === this.lastOutcome) return this.lastConfirmation!;
    const result: PublishResult = outcome.rejectedBy.length === 0 ? (outcome.routed ? routedResult : unroutedResult) : { routed: outcome.routed, rejectedBy: outcome.rejectedBy };
    const confirmation = outcome.durable.then(() => result);
    this.lastOutcome = outcome;
    this.lastConfirmation = confirmation;
    return confirmation;
  }

  /** See {@link confirmation}. */
  private lastOutcome: PublishOutcome | null = null;
  private lastConfirmation: Promise<PublishResult> | null = null;

  /** Attaches a push consumer; `onDelivery` is called for each message. */
  consume(queue: string, onDelivery: (delivery: Delivery) => void, options: ConsumeOptions = {}): ConsumerHandle {
    const target = this.vhost(options.vhost).queue(queue);
    const tag = options.tag ?? `ferry-consumer-${++consumerSequence}`;
    target.consume({ prefetch: 0, autoAck: false, ...options, tag, onDelivery });
    return { tag, cancel: (cancelOptions) => void target.cancel(tag, cancelOptions) };
  }

  /** Pulls up to `max` messages (waiting up to `waitMs`). */
  get(queue: string, options: PullOptions & { vhost?: string } = {}): Promise<Delivery[]> {
    return this.vhost(options.vhost).queue(queue).pull(options);
  }

  /**
   * Acknowledges deliveries (of one or more queues); resolves once durable. With `lazy` (for
   * a caller that does not wait for each ack), a store busy with many queues may log the ack
   * with later ones of its queue, up to `storage-ack-batch-ms-max` later, and resolves then.
   */
  ack(deliveries: Delivery | readonly Delivery[], options: { vhost?: string; lazy?: boolean } = {}): Promise<void> {
    try {
      const { queues, ids } = this.byQueue(deliveries, options.vhost);
      const ackOptions = options.lazy === true ? LAZY_ACK : undefined;
      if (queues.length === 1) return queues[0]!.ack(ids[0]!, ackOptions);
      // Deliveries of many queues (a consumer of a thousand queues acking what it got): one wait
      // for all, and a promise shared with the queue before (a resolved constant) counted once.
      const writes: Promise<void>[] = [];
      for (let index = 0; index < queues.length; index++) {
        const written = queues[index]!.ack(ids[index]!, ackOptions);
        if (written !== writes[writes.length - 1]) writes.push(written);
      }
      return whenAll(writes);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Returns deliveries to their queue (`requeue`, default true) or dead-letters them. */
  async nack(deliveries: Delivery | readonly Delivery[], options: { vhost?: string; requeue?: boolean } = {}): Promise<void> {
    const { queues, ids } = this.byQueue(deliveries, options.vhost);
    await Promise.all(queues.map((queue, index) => queue.nack(ids[index]!, options.requeue ?? true)));
  }

  /** The deliveries' ids grouped by queue, in order of first appearance (see VirtualHost.groupByQueue). */
  private byQueue(deliveries: Delivery | readonly Delivery[], vhostName: string | undefined): { readonly queues: Queue[]; readonly ids: number[][] } {
    const list = Array.isArray(deliveries) ? (deliveries as readonly Delivery[]) : [deliveries as Delivery];
    const vhost = this.vhost(vhostName);
    if (list.length > 0 && ofOneQueue(list)) {
      // The usual case, one queue: its ids without grouping.
      const ids = new Array<number>(list.length);
      for (let index = 0; index < list.length; index++) ids[index] = list[index]!.id;
      return { queues: [vhost.queue(list[0]!.queue)], ids: [ids] };
    }
    return vhost.groupByQueue(list);
  }

  /** Bytes of every log in the durable store (queue messages, delivery state, definitions); in memory with `memory`. */
  storageBytes(): number {
    let bytes = 0;
    for (const name of this.logStore.logNames()) bytes += this.logStore.getLog(name)?.sizeBytes() ?? 0;
    return bytes;
  }

  /**
   * Stops at once, as a kill -9 would: no flush, no checkpoint (tests and
   * simulation); in-process clients are cut off without a `close`.
   */
  abandon(): void {
    this.core.abandon();
    this.inProcess?.abandon();
    this.inProcess = null;
  }

  /** Stops the broker and closes storage cleanly (flush and checkpoint); in-process clients get `close` NATIVE_CONNECTION_FORCED first. */
  async close(): Promise<void> {
    const inProcess = this.inProcess;
    this.inProcess = null;
    await inProcess?.close();
    await this.core.close();
  }
}
