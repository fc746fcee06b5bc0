import { randomInt } from 'node:crypto';
import { decodeResponse, FRAME_HEADER_BYTES, PublishStatus, type WireMessage } from '../protocols/native/codec/index.js';
import type { AnswerHandler, ClientConnection } from './client-connection.js';
import { RecoveryOrder, type ClientContext, type ClientResource } from './client-context.js';
import { FerryClientError } from './ferry-client-error.js';
import { encodeMessageInput, messageKey, type MessageLike } from './message-input.js';
import { partitionForKey } from '../lib/partitioner.js';

/** Options of {@link FerryClient.publisher}. Give `exchange` (or `queue`), or `stream`. */
export interface PublisherOptions {
  /** Publish through this exchange (default "": the default exchange, routing key = queue or stream name). */
  readonly exchange?: string;
  /** Shorthand: the default exchange with this queue's name as the routing key. */
  readonly queue?: string;
  /** Routing key of messages that give none. */
  readonly routingKey?: string;
  /** Append to this stream directly (the fastest path) instead of publishing through an exchange. */
  readonly stream?: string;
  /** Stream only: append every message to this partition (default: by key, unkeyed ones spread batch by batch). */
  readonly partition?: number;
  /** Most messages in one frame (default 16,384; a frame also stays under 4 MiB and the server's frame limit). */
  readonly batchSize?: number;
  /** How long a batch may wait for more messages; 0 (default) sends at the end of the event-loop turn. */
  readonly lingerMs?: number;
  /** Default true: `send` resolves once the server stored the message durably, and unconfirmed messages are re-sent after a reconnect. False: fire and forget. */
  readonly confirm?: boolean;
  /**
   * Default true. Stream appends carry a producer id, epoch and per-partition
   * sequence, so a batch re-sent after a reconnect is stored once. Queue
   * publishes get a message id (producer id + sequence) when they have none,
   * so a queue with a deduplication window stores a re-sent message once.
   */
  readonly idempotent?: boolean;
  /** Publish only: report messages that reach no queue as `unroutable` (default false). */
  readonly mandatory?: boolean;
  /** Messages sent and not yet confirmed, at most (default 65,536); more wait in the publisher. */
  readonly inFlightMessagesMax?: number;
}

/** The outcome of one confirmed message. */
export type SendResult =
  /** Published through an exchange: routed, unroutable (reached nothing) or rejected by a full queue. */
  | { readonly status: 'routed' | 'unroutable' | 'rejected' }
  /** Appended to a stream; `duplicate` when a re-sent batch had been stored already (the original offset). */
  | { readonly status: 'stored' | 'duplicate'; readonly partition: number; readonly offset: number }
  /** Sent without confirms. */
  | { readonly status: 'sent' };

const ROUTED = Object.freeze({ status: 'routed' as const });
const UNROUTABLE = Object.freeze({ status: 'unroutable' as const });
const REJECTED = Object.freeze({ status: 'rejected' as const });
const SENT = Object.freeze({ status: 'sent' as const });
/** Retries the broker recognises per producer and partition (its recent-batch memory). */
const IDEMPOTENT_IN_FLIGHT_BATCHES_MAX = 5;
const BATCH_BYTES_MAX = 4 * 1024 * 1024;
/**
 * Default `batchSize`. Batches only fill while messages are written faster than
 * they leave (linger 0 sends at the end of each turn), so a high bound costs no
 * latency; with at most 5 idempotent batches in flight per partition it sets how
 * much one fsync confirms (stream-publish, 100 B: 1.0 M msg/s at 4,096, 1.17 M at 16,384).
 */
const BATCH_MESSAGES_DEFAULT = 16_384;
/** Room for a publish / append frame's fields besides its messages. */
const FRAME_OVERHEAD_BYTES = FRAME_HEADER_BYTES + 64 + 2 * 65_535;

type Resolve = ((result: SendResult) => void) | undefined;
type Reject = ((error: FerryClientError) => void) | undefined;

/** Messages that travel in one publish / append frame, and their confirms. */
class OutgoingBatch implements AnswerHandler {
  readonly messages: WireMessage[] = [];
  readonly resolvers: Resolve[] = [];
  readonly rejecters: Reject[] = [];
  bytes = 0;
  /** Idempotent appends: assigned at the first send, kept for retries. */
  sequence = -1;
  epoch = 0;
  /** The connection it was last sent on; null while waiting to be (re-)sent. */
  sentOn: ClientConnection | null = null;

  constructor(
    private readonly publisher: Publisher,
    readonly partition: number,
  ) {}

  answered(payload: Uint8Array): void {
    this.publisher.batchAnswered(this, payload);
  }

  failed(error: FerryClientError): void {
    this.publisher.batchFailed(this, error);
  }
}

/**
 * Publishes or appends messages in batches: messages sent in one event-loop
 * turn (or one `lingerMs` window) leave in one frame, and each `send`
 * resolves once its message is confirmed. Get one from
 * {@link FerryClient.publisher}; many may run at once.
 *
 * Durability: a `send` resolves after the server stored the message per its
 * destination's durability (persistent messages in durable queues and
 * streams: after fsync); until then it may be lost in a crash. Messages not
 * yet confirmed when the connection is lost are sent again after the
 * reconnect (at least once; exactly once for idempotent stream appends and
 * for queues with a deduplication window). The server accepts or refuses a
 * batch as a whole: a refused batch (one message above the server's
 * message size limit, a missing stream) fails every send in it.
 */
export class Publisher implements ClientResource {
  readonly recoveryOrder = RecoveryOrder.PUBLISHER;
  /** The producer id of idempotent appends (random, 1 to 2^48 − 1). */
  readonly producerId: number;
  private readonly exchange: string;
  private readonly stream: string | undefined;
  private readonly routingKey: string;
  private readonly fixedPartition: number | undefined;
  private readonly batchSize: number;
  private readonly lingerMs: number;
  private readonly confirm: boolean;
  private readonly idempotent: boolean;
  private readonly mandatory: boolean;
  private readonly inFlightMessagesMax: number;
  private readonly producerPrefix: string;
  private messageSequence = 0;

  /** Open batches (filling up), by partition (-1 for exchange publishes). */
  private readonly open = new Map<number, OutgoingBatch>();
  /** Sealed batches waiting to be sent, in order. */
  private ready: OutgoingBatch[] = [];
  /** Sent and not yet answered (or cut by a lost connection and waiting to be re-sent), in send order. */
  private readonly inFlight = new Set<OutgoingBatch>();
  private inFlightMessages = 0;
  private readonly inFlightBatchesByPartition = new Map<number, number>();
  /** Stream messages waiting for the partition count. */
  private unplaced: Array<{ readonly message: MessageLike; readonly resolve: Resolve; readonly reject: Reject }> = [];
  private partitionCount: number | undefined;
  private partitionCountLoading = false;
  private spreadPartition = 0;
  private readonly nextSequence = new Map<number, number>();
  private readonly epochs = new Map<number, number>();

  private flushScheduled = false;
  private waitingForOpen = false;
  private lingerTimer: NodeJS.Timeout | undefined;
  private unsettled = 0;
  private flushWaiters: Array<() => void> = [];
  private writeFailure: FerryClientError | undefined;
  private closed = false;
  private readonly flushBound = (): void => this.flushTimerFired();

  constructor(
    private readonly context: ClientContext,
    options: PublisherOptions,
  ) {
    if (options.stream !== undefined && (options.exchange !== undefined || options.queue !== undefined)) {
      throw new FerryClientError('INVALID_ARGUMENT', 'a publisher appends to a stream or publishes through an exchange, not both');
    }
    this.stream = options.stream;
    this.exchange = options.exchange ?? '';
    this.routingKey = options.routingKey ?? options.queue ?? options.stream ?? '';
    this.fixedPartition = options.partition;
    if (this.fixedPartition !== undefined && (!Number.isInteger(this.fixedPartition) || this.fixedPartition < 0)) {
      throw new FerryClientError('INVALID_ARGUMENT', `partition must be a non-negative integer, got ${this.fixedPartition}`);
    }
    this.batchSize = positiveInteger('batchSize', options.batchSize ?? BATCH_MESSAGES_DEFAULT);
    this.lingerMs = options.lingerMs ?? 0;
    if (!(this.lingerMs >= 0)) throw new FerryClientError('INVALID_ARGUMENT', `lingerMs must be a non-negative number, got ${this.lingerMs}`);
    this.confirm = options.confirm ?? true;
    this.idempotent = (options.idempotent ?? true) && this.confirm;
    this.mandatory = options.mandatory ?? false;
    this.inFlightMessagesMax = positiveInteger('inFlightMessagesMax', options.inFlightMessagesMax ?? 65_536);
    this.producerId = randomInt(1, 2 ** 48);
    this.producerPrefix = `${this.producerId.toString(36)}-`;
    context.register(this);
  }

  /**
   * Sends one message; resolves with its outcome once confirmed (see the
   * class's durability note). Rejects with the server's code when the batch
   * is refused (QUEUE_NOT_FOUND, STREAM_NOT_FOUND, MESSAGE_TOO_LARGE, …) and
   * CONNECTION_CLOSED when the client closed before it was confirmed.
   */
  send(message: MessageLike): Promise<SendResult> {
    return new Promise<SendResult>((resolve, reject) => this.enqueue(message, resolve, reject));
  }

  /**
   * Sends one message without a promise of its own (the fastest way to
   * publish many): {@link flush} resolves once every message written so far
   * is confirmed, or rejects with the first failure since the last flush.
   */
  write(message: MessageLike): void {
    this.enqueue(message, undefined, undefined);
  }

  /** Sends what is waiting now and resolves once every message sent or written so far is settled (rejects with the first `write` failure). */
  async flush(): Promise<void> {
    this.flushNow();
    if (this.unsettled > 0) await new Promise<void>((resolve) => this.flushWaiters.push(resolve));
    const failure = this.writeFailure;
    this.writeFailure = undefined;
    if (failure !== undefined) throw failure;
  }

  /** Waits for what was sent (see {@link flush}), then stops: later sends reject with CONNECTION_CLOSED. */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.flush();
    } finally {
      this.closed = true;
      this.context.unregister(this);
    }
  }

  private enqueue(message: MessageLike, resolve: Resolve, reject: Reject): void {
    if (this.closed || this.context.isClosed) {
      this.fail(resolve, reject, new FerryClientError('CONNECTION_CLOSED', this.closed ? 'the publisher is closed' : 'the client is closed'));
      return;
    }
    this.unsettled++;
    try {
      if (this.stream !== undefined && this.fixedPartition === undefined && this.partitionCount === undefined) {
        // Validate now (a bad message fails at once); place it once the partition count is known.
        encodeMessageInput(message, '', this.routingKey);
        this.unplaced.push({ message, resolve, reject });
        this.loadPartitionCount();
        return;
      }
      this.place(message, resolve, reject);
    } catch (error) {
      this.settleFailure(resolve, reject, error instanceof FerryClientError ? error : new FerryClientError('INVALID_ARGUMENT', error instanceof Error ? error.message : String(error)));
      return;
    }
    this.scheduleFlush();
  }

  /** Encodes a message into the open batch of its partition; seals the batch when full. */
  private place(message: MessageLike, resolve: Resolve, reject: Reject): void {
    let partition = -1;
    let wire: WireMessage;
    if (this.stream !== undefined) {
      wire = encodeMessageInput(message, '', this.routingKey);
      partition = this.fixedPartition ?? this.partitionOf(message);
    } else {
      const messageId = this.idempotent ? this.producerPrefix + (this.messageSequence++).toString(36) : undefined;
      wire = encodeMessageInput(message, this.exchange, this.routingKey, messageId);
    }
    const bytes = 10 + wire.routingKey.byteLength + wire.envelope.byteLength + wire.body.byteLength;
    const frameBytesMax = this.context.frameBytesMax;
    if (bytes + FRAME_OVERHEAD_BYTES > frameBytesMax) {
      throw new FerryClientError('MESSAGE_TOO_LARGE', `a message of ${bytes} bytes does not fit in the server's frame limit of ${frameBytesMax} bytes`);
    }
    let batch = this.open.get(partition);
    if (batch !== undefined && (batch.bytes + bytes > Math.min(BATCH_BYTES_MAX, frameBytesMax - FRAME_OVERHEAD_BYTES))) {
      this.seal(batch);
      batch = undefined;
    }
    if (batch === undefined) {
      batch = new OutgoingBatch(this, partition);
      this.open.set(partition, batch);
    }
    batch.messages.push(wire);
    batch.resolvers.push(resolve);
    batch.rejecters.push(reject);
    batch.bytes += bytes;
    if (batch.messages.length >= this.batchSize) this.seal(batch);
  }

  private partitionOf(message: MessageLike): number {
    const count = this.partitionCount!;
    if (count <= 1) return 0;
    const key = messageKey(message);
    if (key !== undefined) return partitionForKey(key, count);
    // Unkeyed messages fill one partition's batch; sealing it moves on to the next (see seal).
    return this.spreadPartition;
  }

  private seal(batch: OutgoingBatch): void {
    if (this.open.get(batch.partition) === batch) this.open.delete(batch.partition);
    if (batch.messages.length > 0) this.ready.push(batch);
    // Sticky spreading: unkeyed stream messages go to one partition per batch, round robin.
    if (batch.partition === this.spreadPartition && this.partitionCount !== undefined && this.partitionCount > 1 && this.fixedPartition === undefined) {
      this.spreadPartition = (this.spreadPartition + 1) % this.partitionCount;
    }
  }

  private loadPartitionCount(): void {
    if (this.partitionCountLoading) return;
    this.partitionCountLoading = true;
    this.context.call('streamInfo', { name: this.stream! }, true).then(
      (info) => {
        this.partitionCountLoading = false;
        this.partitionCount = Math.max(1, info.endOffsets.length);
        const waiting = this.unplaced;
        this.unplaced = [];
        for (const { message, resolve, reject } of waiting) {
          try {
            this.place(message, resolve, reject);
          } catch (error) {
            this.settleFailure(resolve, reject, error as FerryClientError);
          }
        }
        this.scheduleFlush();
      },
      (error: unknown) => {
        this.partitionCountLoading = false;
        const failure = error instanceof FerryClientError ? error : new FerryClientError('CONNECTION_CLOSED', String(error));
        const waiting = this.unplaced;
        this.unplaced = [];
        for (const { resolve, reject } of waiting) this.settleFailure(resolve, reject, failure);
      },
    );
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    if (this.lingerMs > 0) this.lingerTimer = setTimeout(this.flushBound, this.lingerMs);
    // The end of the turn: setImmediate, so messages sent from promise callbacks of this turn join too.
    else setImmediate(this.flushBound);
  }

  private flushTimerFired(): void {
    this.flushScheduled = false;
    this.flushNow();
  }

  private flushNow(): void {
    clearTimeout(this.lingerTimer);
    // Unkeyed stream messages spread batch by batch: the turn's batch is sealed so the next turn's go to the next partition.
    const spread = this.open.get(this.spreadPartition);
    if (spread !== undefined && this.stream !== undefined && this.fixedPartition === undefined && (this.partitionCount ?? 1) > 1) this.seal(spread);
    this.pump();
  }

  /**
   * Sends ready batches as far as the in-flight limits allow, keeping each
   * partition's order, then seals and sends the open batches that can go now.
   * An open batch whose partition is at its limit stays open and keeps filling
   * (up to `batchSize`) until a confirm makes room: it could not leave sooner,
   * and a fuller batch carries more messages per round trip and per fsync.
   */
  private pump(connection: ClientConnection | null = this.context.connection): void {
    if (this.ready.length === 0 && this.open.size === 0) return;
    if (connection === null || !connection.isOpen) {
      // Reconnecting: send once the client is open again.
      if (!this.waitingForOpen && !this.closed) {
        this.waitingForOpen = true;
        this.context.whenOpen().then(
          () => {
            this.waitingForOpen = false;
            this.pump();
          },
          () => {
            this.waitingForOpen = false;
          },
        );
      }
      return;
    }
    this.sendReady(connection);
    if (this.sealSendable()) this.sendReady(connection);
  }

  /** Sends the ready batches the limits allow; a partition's later batches wait behind one that cannot go. */
  private sendReady(connection: ClientConnection): void {
    if (this.ready.length === 0) return;
    const blocked = new Set<number>();
    const waiting: OutgoingBatch[] = [];
    for (const batch of this.ready) {
      if (blocked.has(batch.partition) || !this.maySend(batch)) {
        blocked.add(batch.partition);
        waiting.push(batch);
        continue;
      }
      this.sendBatch(connection, batch);
    }
    this.ready = waiting;
  }

  /** Seals the open batches that could be sent now (none of their partition waits in `ready`); true when any was. */
  private sealSendable(): boolean {
    if (this.open.size === 0) return false;
    let sealed = false;
    for (const batch of [...this.open.values()]) {
      if (!this.maySend(batch) || this.ready.some((waiting) => waiting.partition === batch.partition)) continue;
      this.seal(batch);
      sealed = true;
    }
    return sealed;
  }

  private maySend(batch: OutgoingBatch): boolean {
    if (this.inFlightMessages > 0 && this.inFlightMessages + batch.messages.length > this.inFlightMessagesMax) return false;
    if (this.idempotent && this.stream !== undefined && (this.inFlightBatchesByPartition.get(batch.partition) ?? 0) >= IDEMPOTENT_IN_FLIGHT_BATCHES_MAX) return false;
    return true;
  }

  private sendBatch(connection: ClientConnection, batch: OutgoingBatch): void {
    if (this.idempotent && this.stream !== undefined && batch.sequence < 0) {
      batch.sequence = this.nextSequence.get(batch.partition) ?? 0;
      batch.epoch = this.epochs.get(batch.partition) ?? 0;
      this.nextSequence.set(batch.partition, batch.sequence + batch.messages.length);
    }
    if (!this.inFlight.has(batch)) {
      this.inFlight.add(batch);
      this.inFlightMessages += batch.messages.length;
      this.inFlightBatchesByPartition.set(batch.partition, (this.inFlightBatchesByPartition.get(batch.partition) ?? 0) + 1);
    }
    batch.sentOn = connection;
    const channel = this.context.sharedChannel(connection);
    if (!this.confirm) {
      if (this.stream !== undefined) {
        connection.notify('append', channel, { stream: this.stream, partition: batch.partition, producerId: 0, epoch: 0, sequence: 0, messages: batch.messages });
      } else {
        connection.notify('publish', channel, { exchange: this.exchange, mandatory: this.mandatory, messages: batch.messages });
      }
      this.settleBatch(batch, () => SENT);
      return;
    }
    if (this.stream !== undefined) {
      const idempotent = this.idempotent;
      connection.send(
        'append',
        channel,
        {
          stream: this.stream,
          partition: batch.partition,
          producerId: idempotent ? this.producerId : 0,
          epoch: idempotent ? batch.epoch : 0,
          sequence: idempotent ? batch.sequence : 0,
          messages: batch.messages,
        },
        batch,
      );
    } else {
      connection.send('publish', channel, { exchange: this.exchange, mandatory: this.mandatory, messages: batch.messages }, batch);
    }
  }

  /** @internal The server confirmed a batch. */
  batchAnswered(batch: OutgoingBatch, payload: Uint8Array): void {
    if (this.stream !== undefined) {
      const { results } = decodeResponse('append', payload);
      const result = results.find((candidate) => candidate.partition === batch.partition) ?? results[0];
      if (result === undefined) throw new FerryClientError('NATIVE_MALFORMED_FRAME', 'an append answer carries no result');
      const status = result.duplicate ? ('duplicate' as const) : ('stored' as const);
      const { partition, baseOffset } = result;
      this.settleBatch(batch, (index) => ({ status, partition, offset: baseOffset + index }));
    } else {
      const { statuses } = decodeResponse('publish', payload);
      this.settleBatch(batch, (index) => {
        const status = statuses[index];
        return status === PublishStatus.UNROUTABLE ? UNROUTABLE : status === PublishStatus.REJECTED ? REJECTED : ROUTED;
      });
    }
    this.pump();
  }

  /** @internal A batch was refused, or its connection was lost before the answer. */
  batchFailed(batch: OutgoingBatch, error: FerryClientError): void {
    if (error.code === 'CONNECTION_LOST' && this.context.willReconnect && !this.closed) {
      // Kept in flight: recover() sends it again, with the same sequence.
      batch.sentOn = null;
      return;
    }
    if (this.idempotent && this.stream !== undefined && batch.epoch === (this.epochs.get(batch.partition) ?? 0)) {
      // The broker did not store it, so the sequence has a gap: start a new epoch at 0.
      this.epochs.set(batch.partition, batch.epoch + 1);
      this.nextSequence.set(batch.partition, 0);
    }
    for (let index = 0; index < batch.messages.length; index++) this.settleFailure(batch.resolvers[index], batch.rejecters[index], error);
    this.removeInFlight(batch);
    this.wakeFlushWaiters();
    this.pump();
  }

  private settleBatch(batch: OutgoingBatch, resultOf: (index: number) => SendResult): void {
    const { resolvers } = batch;
    for (let index = 0; index < resolvers.length; index++) {
      const resolve = resolvers[index];
      if (resolve !== undefined) resolve(resultOf(index));
    }
    this.unsettled -= resolvers.length;
    this.removeInFlight(batch);
    this.wakeFlushWaiters();
  }

  private removeInFlight(batch: OutgoingBatch): void {
    if (!this.inFlight.delete(batch)) return;
    this.inFlightMessages -= batch.messages.length;
    this.inFlightBatchesByPartition.set(batch.partition, (this.inFlightBatchesByPartition.get(batch.partition) ?? 1) - 1);
  }

  private settleFailure(resolve: Resolve, reject: Reject, error: FerryClientError): void {
    this.unsettled--;
    this.fail(resolve, reject, error);
    this.wakeFlushWaiters();
  }

  private fail(resolve: Resolve, reject: Reject, error: FerryClientError): void {
    if (reject !== undefined) reject(error);
    else if (resolve === undefined) this.writeFailure ??= error;
  }

  private wakeFlushWaiters(): void {
    if (this.unsettled > 0 || this.flushWaiters.length === 0) return;
    const waiters = this.flushWaiters;
    this.flushWaiters = [];
    for (const waiter of waiters) waiter();
  }

  /** @internal */
  async recover(connection: ClientConnection): Promise<void> {
    // Unconfirmed batches first, in their original order and with their original sequences.
    for (const batch of this.inFlight) if (batch.sentOn !== connection) this.sendBatch(connection, batch);
    this.pump(connection);
  }

  /** @internal */
  async drain(): Promise<void> {
    await this.flush().catch(() => undefined);
  }

  /** @internal */
  connectionLost(): void {
    // Batches in flight fail with CONNECTION_LOST through their answer handlers and wait for recover().
  }

  /** @internal */
  clientClosed(error: FerryClientError | null): void {
    this.closed = true;
    if (error === null) error = new FerryClientError('CONNECTION_CLOSED', 'the client closed before the message was confirmed');
    clearTimeout(this.lingerTimer);
    const batches = [...this.inFlight, ...this.ready, ...this.open.values()];
    this.inFlight.clear();
    this.ready = [];
    this.open.clear();
    this.inFlightMessages = 0;
    for (const batch of batches) {
      for (let index = 0; index < batch.messages.length; index++) this.settleFailure(batch.resolvers[index], batch.rejecters[index], error);
    }
    const waiting = this.unplaced;
    this.unplaced = [];
    for (const { resolve, reject } of waiting) this.settleFailure(resolve, reject, error);
    this.wakeFlushWaiters();
  }
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new FerryClientError('INVALID_ARGUMENT', `${name} must be a positive integer, got ${value}`);
  return value;
}
