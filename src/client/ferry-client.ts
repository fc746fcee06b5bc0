import { EventEmitter } from 'node:events';
import { decodeError, decodeFrame, FRAME_BYTES_MAX_DEFAULT, type FrameName, type RawFrame, type RequestName, type RequestOf, type ResponseOf } from '../protocols/native/codec/index.js';
import { ChannelAcks } from './channel-acks.js';
import { ClientConnection, type ConnectionListener } from './client-connection.js';
import type { ChannelOwner, ClientContext, ClientResource } from './client-context.js';
import { resolveConnectOptions, type ConnectOptions, type ResolvedConnectOptions } from './connect-options.js';
import { FerryClientError, toClientError } from './ferry-client-error.js';
import { GroupConsumer, type ConsumerGroupOptions } from './group-consumer.js';
import type { ReceivedMessage, StreamEntry } from './incoming-message.js';
import { decodePullAnswer, decodeStreamReadAnswer } from './message-batch-decoder.js';
import { encodeMessageInput, type MessageInput, type MessageLike } from './message-input.js';
import { wireOffsetSpec, type OffsetSpec } from './offset-spec.js';
import { Publisher, type PublisherOptions, type SendResult } from './publisher.js';
import { QueueConsumer, type ConsumeOptions, type MessageHandler } from './queue-consumer.js';
import { Requester, type RequestOptions, type RequestTarget } from './requester.js';
import { StreamReader, type StreamReaderOptions } from './stream-reader.js';
import {
  optionsTable,
  type BindOptions,
  type ExchangeKind,
  type ExchangeOptions,
  type QueueDeclareResult,
  type QueueOptions,
  type StreamInfo,
  type StreamOptions,
} from './topology-options.js';
import { TopologyRegistry } from './topology-registry.js';
import { Transaction, type TransactionOptions } from './transaction.js';

/** Events of a {@link FerryClient}. */
export interface FerryClientEvents {
  /** The connection was lost; the client is reconnecting (`error` says why it was lost). */
  reconnecting: [error: FerryClientError];
  /** A new connection is open and everything was re-declared and resubscribed. */
  reconnected: [info: { readonly attempts: number }];
  /**
   * A failure nobody awaits: a re-declaration or resubscription refused after
   * a reconnect, an ack the server refused, a consumer handler that threw.
   * Without a listener these become process warnings.
   */
  error: [error: FerryClientError];
  /** The client closed: by {@link FerryClient.close} (`error` null) or after giving up reconnecting. */
  close: [error: FerryClientError | null];
  /**
   * A memory or disk alarm on the server holds publishes (they wait, unanswered, until it
   * clears); `reason` names the alarms. Consumers keep receiving.
   */
  blocked: [reason: string];
  /** Publishes flow again: the alarms cleared, or the connection that was blocked is gone. */
  unblocked: [];
}

/** Options of {@link FerryClient.get}. */
export interface GetOptions {
  /** Most messages to return (default 1). */
  readonly max?: number;
  /** Wait this long for a first message when the queue is empty (default 0: answer at once). */
  readonly waitMs?: number;
  /** How long the messages stay invisible to others before returning to the queue unless acked (default: the queue's). */
  readonly visibilityTimeoutMs?: number;
  /** Count them as acknowledged at once (default false). */
  readonly autoAck?: boolean;
  /** Pull from a stream through this share group (`queue` is then a stream). */
  readonly group?: string;
}

/** Options of {@link FerryClient.read}. */
export interface ReadOptions {
  /** Default 0. */
  readonly partition?: number;
  /** Default 'first'. */
  readonly from?: OffsetSpec;
  /** Most entries to return (default 100). */
  readonly max?: number;
  /** Wait this long for an entry when there is none yet (default 0). */
  readonly waitMs?: number;
}

/** The answer to {@link FerryClient.read}. */
export interface ReadResult {
  readonly entries: readonly StreamEntry[];
  /** Where to continue reading. */
  readonly nextOffset: number;
}

/** A reply handler of {@link FerryClient.respond}: returns the reply (or its body). */
export type RequestHandler = (request: ReceivedMessage) => MessageLike | Promise<MessageLike>;

interface SharedChannel {
  readonly connection: ClientConnection;
  channel: number;
  acks: ChannelAcks;
}

type ClientState = 'open' | 'reconnecting' | 'closing' | 'closed';

/** Errors after which reconnecting cannot help. */
const FATAL_CODES = new Set(['NATIVE_AUTHENTICATION_FAILED', 'ACCESS_REFUSED', 'VHOST_NOT_FOUND', 'NATIVE_UNSUPPORTED_VERSION', 'NATIVE_PREAMBLE_MISMATCH', 'INVALID_ARGUMENT']);
const CLOSE_DRAIN_MS_MAX = 5_000;

/**
 * A connection to Ferry with everything on it: topology, publishers, push
 * and pull consumers, stream readers, consumer groups, transactions and
 * request/reply. Get one with {@link connect}. Every call returns a promise
 * that rejects with a {@link FerryClientError} carrying a stable `code`.
 *
 * Channels: topology calls, `get`, `read` and publishers share one channel;
 * each push consumer, stream reader, group member, transaction and the
 * reply queue of `request` get a channel of their own (delivery tags,
 * credit and transactions are per channel on the server).
 *
 * Reconnect (on by default): when the connection is lost the client opens a
 * new one with backoff, declares again what it declared (exchanges, queues,
 * streams, bindings), resubscribes consumers, stream readers (from the next
 * offset not yet handed out) and groups, then re-sends unconfirmed publishes
 * (at least once). Calls made meanwhile wait; calls cut by the loss reject
 * with CONNECTION_LOST unless they are safe to repeat (declares, binds,
 * reads, pulls, which are repeated).
 */
export class FerryClient implements ClientContext {
  private readonly events = new EventEmitter();
  private state: ClientState = 'open';
  private current: ClientConnection | null;
  private recovering: ClientConnection | null = null;
  private shared: SharedChannel | null = null;
  private readonly owners = new Map<ClientConnection, Map<number, ChannelOwner>>();
  private readonly resources = new Set<ClientResource>();
  private readonly topology = new TopologyRegistry();
  private openWaiters: Array<{ resolve: (connection: ClientConnection) => void; reject: (error: FerryClientError) => void }> = [];
  private requester: Requester | null = null;
  private readonly defaultPublishers = new Map<string, Publisher>();
  private closing: Promise<void> | null = null;
  private closeError: FerryClientError | null = null;
  private lastFrameBytesMax = FRAME_BYTES_MAX_DEFAULT;
  private draining = false;
  private blockedBy: string | null = null;
  private readonly listener: ConnectionListener = {
    pushed: (connection, name, frame) => this.pushed(connection, name, frame),
    closed: (connection, error) => this.connectionClosed(connection, error),
  };

  private constructor(
    private readonly options: ResolvedConnectOptions,
    connection: ClientConnection | null,
  ) {
    this.current = connection;
  }

  /** @internal Use {@link connect}. */
  static async open(input: string | ConnectOptions): Promise<FerryClient> {
    const client = new FerryClient(resolveConnectOptions(input), null);
    client.current = await client.establish();
    return client;
  }

  // ── state and events ───────────────────────────────────────────────────

  /** True while connected (not reconnecting, not closed). */
  get isOpen(): boolean {
    return this.state === 'open';
  }

  /** Why the server holds publishes (a memory or disk alarm), or null when it does not. See the `blocked` event. */
  get blockedReason(): string | null {
    return this.blockedBy;
  }

  /** The user the server logged in. */
  get user(): string {
    return this.current?.user ?? '';
  }

  /** The server's name and version. */
  get server(): string {
    return this.current?.server ?? '';
  }

  /** Listens to `reconnecting`, `reconnected`, `error`, `close`, `blocked` or `unblocked`. */
  on<E extends keyof FerryClientEvents>(event: E, listener: (...args: FerryClientEvents[E]) => void): this {
    this.events.on(event, listener as (...args: unknown[]) => void);
    return this;
  }

  /** Listens to the next `event` only. */
  once<E extends keyof FerryClientEvents>(event: E, listener: (...args: FerryClientEvents[E]) => void): this {
    this.events.once(event, listener as (...args: unknown[]) => void);
    return this;
  }

  /** Stops listening. */
  off<E extends keyof FerryClientEvents>(event: E, listener: (...args: FerryClientEvents[E]) => void): this {
    this.events.off(event, listener as (...args: unknown[]) => void);
    return this;
  }

  // ── topology ───────────────────────────────────────────────────────────

  /**
   * Declares a queue ("" = a server-named one) or, with `passive`, checks
   * that it exists. Declaring an existing queue with other settings fails
   * with PRECONDITION_FAILED. Durable queues are stored durably before this
   * resolves. Re-declared after a reconnect.
   */
  async declareQueue(name: string, options: QueueOptions = {}): Promise<QueueDeclareResult> {
    const values = { name, options: optionsTable(options) };
    const answer = await this.call('queueDeclare', values, true);
    if (options.passive !== true) this.topology.queueDeclared({ ...values, name: answer.name });
    return { name: answer.name, messageCount: answer.messageCount, consumerCount: answer.consumerCount };
  }

  /** Deletes a queue and its messages; resolves with how many messages it held. QUEUE_NOT_FOUND when absent; PRECONDITION_FAILED when `ifUnused` / `ifEmpty` does not hold. */
  async deleteQueue(name: string, options: { readonly ifUnused?: boolean; readonly ifEmpty?: boolean } = {}): Promise<number> {
    const { messageCount } = await this.call('queueDelete', { name, ifUnused: options.ifUnused ?? false, ifEmpty: options.ifEmpty ?? false }, false);
    this.topology.queueDeleted(name);
    return messageCount;
  }

  /** Removes a queue's ready messages; resolves with how many. */
  async purgeQueue(name: string): Promise<number> {
    return (await this.call('queuePurge', { name }, false)).messageCount;
  }

  /** Declares an exchange (EXCHANGE_DECLARATION_MISMATCH when one exists with another kind). Re-declared after a reconnect. */
  async declareExchange(name: string, kind: ExchangeKind, options: ExchangeOptions = {}): Promise<void> {
    const values = { name, kind, options: optionsTable(options) };
    await this.call('exchangeDeclare', values, true);
    this.topology.exchangeDeclared(values);
  }

  /** Deletes an exchange; resolves false when there was none. */
  async deleteExchange(name: string, options: { readonly ifUnused?: boolean } = {}): Promise<boolean> {
    const { deleted } = await this.call('exchangeDelete', { name, ifUnused: options.ifUnused ?? false }, false);
    this.topology.exchangeDeleted(name);
    return deleted;
  }

  /** Binds `destination` (queue, stream or exchange) to exchange `source` with `routingKey`. Re-bound after a reconnect. */
  async bind(source: string, destination: string, routingKey = '', options: BindOptions = {}): Promise<void> {
    const values = { source, destination, destinationKind: options.destinationKind ?? '', routingKey, arguments: options.arguments ?? {} };
    await this.call('bind', values, true);
    this.topology.bound(values);
  }

  /** Removes a binding; resolves false when there was none. */
  async unbind(source: string, destination: string, routingKey = '', options: BindOptions = {}): Promise<boolean> {
    const values = { source, destination, destinationKind: options.destinationKind ?? '', routingKey, arguments: options.arguments ?? {} };
    const { removed } = await this.call('unbind', values, false);
    this.topology.unbound(values);
    return removed;
  }

  /** Declares a stream (or checks it with `passive`); resolves with its partition count. Re-declared after a reconnect. */
  async declareStream(name: string, options: StreamOptions = {}): Promise<{ readonly partitions: number }> {
    const values = { name, options: optionsTable(options) };
    const { partitions } = await this.call('streamDeclare', values, true);
    if (options.passive !== true) this.topology.streamDeclared(values);
    return { partitions };
  }

  /** Deletes a stream; resolves with how many entries it held. STREAM_NOT_FOUND when absent. */
  async deleteStream(name: string): Promise<number> {
    const { messageCount } = await this.call('streamDelete', { name }, false);
    this.topology.streamDeleted(name);
    return messageCount;
  }

  /** Start and end offsets of every partition of a stream. */
  async streamInfo(name: string): Promise<StreamInfo> {
    const { startOffsets, endOffsets } = await this.call('streamInfo', { name }, true);
    return { startOffsets, endOffsets };
  }

  // ── publishing ─────────────────────────────────────────────────────────

  /** A batching publisher (see {@link Publisher}); close it when done. */
  publisher(options: PublisherOptions = {}): Publisher {
    this.checkNotClosed();
    return new Publisher(this, options);
  }

  /**
   * Publishes one message through `exchange` ("" = default exchange, the
   * routing key names the queue) with a shared publisher; resolves once
   * confirmed (durable).
   */
  publish(exchange: string, message: MessageLike): Promise<SendResult> {
    return this.defaultPublisher(`exchange ${exchange}`, { exchange }).send(message);
  }

  /** Appends one message to a stream with a shared idempotent publisher; resolves with its offset once durable. */
  append(stream: string, message: MessageLike): Promise<SendResult> {
    return this.defaultPublisher(`stream ${stream}`, { stream }).send(message);
  }

  // ── consuming ──────────────────────────────────────────────────────────

  /**
   * Consumes a queue (or a stream through a share group, `options.group`).
   * Resolves once subscribed (QUEUE_NOT_FOUND and the like reject here).
   * Iterate the consumer, or pass `handler` (see {@link MessageHandler}).
   */
  consume(queue: string, options: ConsumeOptions = {}, handler?: MessageHandler): Promise<QueueConsumer> {
    this.checkNotClosed();
    return QueueConsumer.start(this, queue, options, handler);
  }

  /**
   * Pulls up to `max` messages (waiting up to `waitMs` for the first).
   * Unless `autoAck`, ack each one; unacked ones return to the queue after
   * the visibility timeout, or when the connection closes.
   */
  async get(queue: string, options: GetOptions = {}): Promise<ReceivedMessage[]> {
    const values = {
      source: queue,
      group: options.group ?? '',
      max: options.max ?? 1,
      waitMs: options.waitMs ?? 0,
      visibilityTimeoutMs: options.visibilityTimeoutMs ?? 0,
      autoAck: options.autoAck ?? false,
    };
    for (;;) {
      const connection = this.state === 'open' && this.current !== null ? this.current : await this.whenOpen();
      const shared = this.sharedOf(connection);
      try {
        const answer = await connection.callRaw('pull', shared.channel, values);
        return decodePullAnswer(answer, values.autoAck ? null : shared.acks);
      } catch (error) {
        // Deliveries of a lost connection went back to the queue: pulling again is safe.
        if (error instanceof FerryClientError && error.code === 'CONNECTION_LOST' && this.willReconnect) continue;
        throw toClientError(error);
      }
    }
  }

  /** Gives a pulled message `visibilityTimeoutMs` more before it returns to its queue. */
  changeVisibility(message: ReceivedMessage, visibilityTimeoutMs: number): Promise<void> {
    return message.changeVisibility(visibilityTimeoutMs);
  }

  /** Reads a stream partition as entries arrive (see {@link StreamReader}); resolves once subscribed. */
  streamReader(stream: string, options: StreamReaderOptions = {}): Promise<StreamReader> {
    this.checkNotClosed();
    return StreamReader.start(this, stream, options);
  }

  /** Reads up to `max` entries of a stream partition once. */
  async read(stream: string, options: ReadOptions = {}): Promise<ReadResult> {
    const values = { stream, partition: options.partition ?? 0, from: wireOffsetSpec(options.from ?? 'first'), max: options.max ?? 100, waitMs: options.waitMs ?? 0 };
    for (;;) {
      const connection = this.state === 'open' && this.current !== null ? this.current : await this.whenOpen();
      try {
        return decodeStreamReadAnswer(await connection.callRaw('streamRead', this.sharedOf(connection).channel, values));
      } catch (error) {
        if (error instanceof FerryClientError && error.code === 'CONNECTION_LOST' && this.willReconnect) continue;
        throw toClientError(error);
      }
    }
  }

  /** Joins consumer group `group` of `stream` (see {@link GroupConsumer}); resolves once joined. */
  consumerGroup(stream: string, group: string, options: ConsumerGroupOptions = {}): Promise<GroupConsumer> {
    this.checkNotClosed();
    return GroupConsumer.start(this, stream, group, options);
  }

  // ── transactions, request / reply ──────────────────────────────────────

  /** Begins a transaction on a channel of its own (see {@link Transaction}). */
  transaction(options: TransactionOptions = {}): Promise<Transaction> {
    this.checkNotClosed();
    return Transaction.begin(this, options);
  }

  /**
   * Sends a request and resolves with the reply. `target` is a queue name,
   * or `{ exchange, routingKey }`. Rejects with TIMEOUT after `timeoutMs`,
   * REQUEST_UNROUTABLE when the request reached no queue.
   */
  request(target: RequestTarget, message: MessageLike, options: RequestOptions = {}): Promise<ReceivedMessage> {
    this.checkNotClosed();
    this.requester ??= this.registerRequester();
    return this.requester.request(target, message, options);
  }

  /**
   * Serves requests from `queue`: for each, `handler`'s result is sent to
   * the request's `replyTo` with its `correlationId`, then the request is
   * acked (a handler that throws nacks it back to the queue). Cancel the
   * returned consumer to stop.
   */
  respond(queue: string, handler: RequestHandler, options: ConsumeOptions = {}): Promise<QueueConsumer> {
    return this.consume(queue, options, (request) => {
      const outcome = handler(request);
      // A synchronous handler's reply goes out in the same turn as the request arrived.
      if (outcome instanceof Promise) return outcome.then((reply) => this.reply(request, reply));
      this.reply(request, outcome);
    });
  }

  /** Sends `reply` to the request's `replyTo`, then acks the request (the ack leaves in the same write). */
  private reply(request: ReceivedMessage, reply: MessageLike): void {
    const properties = request.properties;
    const replyTo = properties.replyTo;
    if (replyTo === undefined || replyTo === '') return;
    const input: MessageInput = typeof reply === 'string' || reply instanceof Uint8Array ? { body: reply } : reply;
    const correlationId = properties.correlationId;
    const wire = encodeMessageInput(
      { ...input, persistent: input.persistent ?? false, properties: correlationId !== undefined ? { ...input.properties, correlationId } : input.properties },
      '',
      replyTo,
    );
    const connection = this.current;
    if (connection === null) return;
    // A reply to a requester that is gone is unroutable: nothing to report.
    connection.send('publish', this.sharedOf(connection).channel, { exchange: '', mandatory: false, messages: [wire] }, this.replyAnswers);
    request.ack();
  }

  // ── closing ────────────────────────────────────────────────────────────

  /**
   * Closes the client: waits (up to 5 s) for publishes in flight to be
   * confirmed and acks to be answered, stops every consumer, then closes the
   * connection. Later calls reject with CONNECTION_CLOSED. Calling it again
   * returns the same promise.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const wasReconnecting = this.state === 'reconnecting';
      this.state = 'closing';
      if (!wasReconnecting) {
        this.draining = true;
        let timer: NodeJS.Timeout | undefined;
        const drains = [...this.resources].map((resource) => resource.drain?.() ?? Promise.resolve());
        if (this.shared !== null) drains.push(this.shared.acks.settled());
        await Promise.race([Promise.allSettled(drains), new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_DRAIN_MS_MAX)))]);
        clearTimeout(timer);
        this.draining = false;
      }
      this.finish(null);
      await this.current?.close();
      await this.recovering?.close();
    })();
    return this.closing;
  }

  // ── ClientContext (for the client's parts) ─────────────────────────────

  /** @internal */
  get connection(): ClientConnection | null {
    // While close() drains, parts may still send what they had (but nothing new: isClosed is true).
    return this.state === 'open' || (this.state === 'closing' && this.draining) ? this.current : null;
  }

  /** @internal */
  get frameBytesMax(): number {
    return this.current?.frameBytesMax ?? this.lastFrameBytesMax;
  }

  /** @internal */
  get isClosed(): boolean {
    return this.state === 'closing' || this.state === 'closed';
  }

  /** @internal */
  get willReconnect(): boolean {
    return this.options.reconnect !== null && !this.isClosed;
  }

  /** @internal */
  whenOpen(): Promise<ClientConnection> {
    if (this.state === 'open' && this.current !== null) return Promise.resolve(this.current);
    if (this.isClosed) return Promise.reject(this.closedError());
    return new Promise((resolve, reject) => this.openWaiters.push({ resolve, reject }));
  }

  /** @internal */
  async call<N extends RequestName>(name: N, values: RequestOf<N>, retry: boolean): Promise<ResponseOf<N>> {
    for (;;) {
      const connection = this.state === 'open' && this.current !== null ? this.current : await this.whenOpen();
      try {
        return await connection.call(name, this.sharedOf(connection).channel, values);
      } catch (error) {
        if (retry && error instanceof FerryClientError && error.code === 'CONNECTION_LOST' && this.willReconnect) continue;
        throw toClientError(error);
      }
    }
  }

  /** @internal */
  sharedChannel(connection: ClientConnection): number {
    return this.sharedOf(connection).channel;
  }

  /** @internal */
  register(resource: ClientResource): void {
    this.resources.add(resource);
  }

  /** @internal */
  unregister(resource: ClientResource): void {
    this.resources.delete(resource);
  }

  /** @internal */
  setChannelOwner(connection: ClientConnection, channel: number, owner: ChannelOwner | null): void {
    let owners = this.owners.get(connection);
    if (owners === undefined) {
      if (owner === null || !connection.isOpen) return;
      owners = new Map();
      this.owners.set(connection, owners);
    }
    if (owner === null) owners.delete(channel);
    else owners.set(channel, owner);
  }

  /** @internal */
  reportError(error: FerryClientError): void {
    if (this.events.listenerCount('error') > 0) this.events.emit('error', error);
    else process.emitWarning(`Ferry client: ${error.message}`, { code: error.code });
  }

  // ── internals ──────────────────────────────────────────────────────────

  private readonly replyAnswers = {
    answered: (): void => undefined,
    failed: (error: FerryClientError): void => {
      if (error.code !== 'CONNECTION_LOST' && error.code !== 'CONNECTION_CLOSED') this.reportError(error);
    },
  };

  private defaultPublisher(key: string, options: PublisherOptions): Publisher {
    this.checkNotClosed();
    let publisher = this.defaultPublishers.get(key);
    if (publisher === undefined) {
      publisher = new Publisher(this, options);
      if (this.defaultPublishers.size >= 256) {
        const [oldestKey, oldest] = this.defaultPublishers.entries().next().value as [string, Publisher];
        this.defaultPublishers.delete(oldestKey);
        void oldest.close().catch(() => undefined);
      }
      this.defaultPublishers.set(key, publisher);
    }
    return publisher;
  }

  private registerRequester(): Requester {
    const requester = new Requester(this);
    this.register(requester);
    return requester;
  }

  private checkNotClosed(): void {
    if (this.isClosed) throw this.closedError();
  }

  private closedError(): FerryClientError {
    return this.closeError ?? new FerryClientError('CONNECTION_CLOSED', 'the client is closed');
  }

  private sharedOf(connection: ClientConnection): SharedChannel {
    const shared = this.shared;
    if (shared === null || shared.connection !== connection) {
      throw new FerryClientError('CONNECTION_LOST', 'the connection was replaced while the call was being made');
    }
    return shared;
  }

  /** Opens a connection, logs in, and opens its shared channel. */
  private async establish(): Promise<ClientConnection> {
    const connection = await ClientConnection.open(this.options, this.listener);
    const { channel, opened } = connection.openChannel();
    try {
      await opened;
    } catch (error) {
      connection.destroy();
      throw toClientError(error);
    }
    this.shared = { connection, channel, acks: new ChannelAcks(connection, channel, (error) => this.reportError(error)) };
    this.lastFrameBytesMax = connection.frameBytesMax;
    return connection;
  }

  private pushed(connection: ClientConnection, name: FrameName, frame: RawFrame): void {
    if (name === 'blocked' || name === 'unblocked') {
      if (connection === this.current) this.setBlocked(name === 'blocked' ? decodeFrame('blocked', frame.payload).reason : null);
      return;
    }
    const owner = this.owners.get(connection)?.get(frame.channel);
    if (name === 'channelClosed') {
      const { code, message } = decodeError(frame.payload);
      const error = new FerryClientError(code, `the server closed channel ${frame.channel}: ${message}`);
      connection.channelClosedByServer(frame.channel, error);
      this.owners.get(connection)?.delete(frame.channel);
      if (owner !== undefined) owner.channelClosed(error);
      else if (this.shared?.connection === connection && this.shared.channel === frame.channel) this.reopenShared(connection, error);
      return;
    }
    owner?.pushed(name, frame);
  }

  /** The server closed the shared channel (a request without an answer failed): report it and open another. */
  private reopenShared(connection: ClientConnection, error: FerryClientError): void {
    this.reportError(error);
    const shared = this.shared!;
    shared.acks.markStale();
    const { channel, opened } = connection.openChannel();
    shared.channel = channel;
    shared.acks = new ChannelAcks(connection, channel, (failure) => this.reportError(failure));
    opened.catch((failure: unknown) => this.reportError(toClientError(failure)));
  }

  /** Records the server's blocked state and tells listeners when it changes. */
  private setBlocked(reason: string | null): void {
    if (reason === this.blockedBy) return;
    const was = this.blockedBy;
    this.blockedBy = reason;
    if (reason !== null && was === null) this.events.emit('blocked', reason);
    else if (reason === null) this.events.emit('unblocked');
  }

  private connectionClosed(connection: ClientConnection, error: FerryClientError): void {
    this.owners.delete(connection);
    if (connection === this.recovering) this.recovering = null;
    if (connection !== this.current) return;
    this.current = null;
    // The next connection hears `blocked` again if the alarm is still on.
    this.setBlocked(null);
    this.shared?.acks.markStale();
    if (this.isClosed) return;
    for (const resource of this.resources) resource.connectionLost(error);
    if (this.options.reconnect === null || FATAL_CODES.has(error.code)) {
      this.finish(new FerryClientError('CONNECTION_CLOSED', `the connection was lost: ${error.message}`, { cause: error }));
      return;
    }
    if (this.state === 'open') {
      this.state = 'reconnecting';
      this.events.emit('reconnecting', error);
      void this.reconnect(error);
    }
  }

  private async reconnect(cause: FerryClientError): Promise<void> {
    const settings = this.options.reconnect!;
    const startedMs = Date.now();
    let lastError = cause;
    let delayMs = settings.delayMsInitial;
    for (let attempt = 1; this.state === 'reconnecting'; attempt++) {
      if (attempt > settings.attemptsMax || Date.now() - startedMs >= settings.durationMsMax) {
        this.finish(new FerryClientError('CONNECTION_CLOSED', `gave up reconnecting after ${attempt - 1} attempts in ${Date.now() - startedMs} ms: ${lastError.message}`, { cause: lastError }));
        return;
      }
      // Full jitter keeps many clients of one restarted server from reconnecting in step.
      await new Promise((resolve) => setTimeout(resolve, delayMs * (0.5 + Math.random() / 2)));
      delayMs = Math.min(settings.delayMsMax, Math.max(1, delayMs * 2));
      if (this.state !== 'reconnecting') return;
      let connection: ClientConnection;
      try {
        connection = await this.establish();
      } catch (error) {
        lastError = toClientError(error);
        if (FATAL_CODES.has(lastError.code)) {
          this.finish(new FerryClientError('CONNECTION_CLOSED', `reconnecting failed: ${lastError.message}`, { cause: lastError }));
          return;
        }
        continue;
      }
      if (this.state !== 'reconnecting') {
        connection.destroy();
        return;
      }
      this.current = connection;
      this.recovering = connection;
      try {
        await this.recover(connection);
      } catch (error) {
        lastError = toClientError(error);
        continue;
      }
      if (!connection.isOpen || this.current !== connection) continue;
      this.recovering = null;
      if (this.state !== 'reconnecting') return;
      this.state = 'open';
      const waiters = this.openWaiters;
      this.openWaiters = [];
      for (const waiter of waiters) waiter.resolve(connection);
      this.events.emit('reconnected', { attempts: attempt });
      return;
    }
  }

  /** Declares the topology again, then recovers each resource in order; a lost connection rejects. */
  private async recover(connection: ClientConnection): Promise<void> {
    const report = (error: FerryClientError): void => this.reportError(error);
    await this.topology.replay(connection, this.sharedOf(connection).channel, report);
    const ordered = [...this.resources].sort((left, right) => left.recoveryOrder - right.recoveryOrder);
    for (const resource of ordered) {
      if (!connection.isOpen) throw new FerryClientError('CONNECTION_LOST', 'the connection was lost during recovery');
      if (!this.resources.has(resource)) continue;
      try {
        await resource.recover(connection);
      } catch (error) {
        const failure = toClientError(error);
        if (failure.code === 'CONNECTION_LOST' || !connection.isOpen) throw failure;
        // This resource cannot come back (its queue is gone, …): it ends with the error.
        this.resources.delete(resource);
        resource.clientClosed(failure);
        report(failure);
      }
    }
  }

  /** The client is closed for good: everything pending fails with `error` (null: closed by the application). */
  private finish(error: FerryClientError | null): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.closeError = error ?? new FerryClientError('CONNECTION_CLOSED', 'the client is closed');
    const waiters = this.openWaiters;
    this.openWaiters = [];
    for (const waiter of waiters) waiter.reject(this.closeError);
    const resources = [...this.resources];
    this.resources.clear();
    for (const resource of resources) resource.clientClosed(error);
    if (error !== null && this.current !== null) this.current.destroy();
    this.events.emit('close', error);
  }
}
