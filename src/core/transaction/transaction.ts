import { FerryError } from '../../lib/ferry-error.js';
import { transientUtf8 } from '../../lib/utf8.js';
import type { Clock, TimerHandle } from '../../platform/clock.js';
import { storedMessage, type StoredMessage } from '../message/message.js';
import { decodeMessage, messageRecordFieldBytes, writeMessageRecords } from '../message/message-codec.js';
import type { Log } from '../ports.js';
import type { Queue } from '../queue/queue.js';
import type { Destination } from '../routing/destination.js';
import type { Stream } from '../stream/stream.js';
import { transactionStamp } from './transaction-stamp.js';

/** A message as a transaction takes it (the exchange and arrival time are set at commit). */
export type TransactionMessage = Omit<StoredMessage, 'exchange' | 'arrivedAtMs'>;

/** Options of {@link TransactionCoordinator.begin}. */
export interface TransactionOptions {
  /** An open transaction older than this is aborted (default 60 s). */
  readonly timeoutMs?: number;
}

/** What a committed transaction did. */
export interface TransactionOutcome {
  /** Publishes that reached no queue or stream. */
  readonly unroutable: number;
  /** Queues that refused a message (overflow reject-publish). */
  readonly rejectedBy: readonly string[];
}

/** What the coordinator needs from its vhost. */
export interface TransactionHost {
  readonly clock: Clock;
  /** Destinations of a publish (queues and streams), routed as a plain publish would be. */
  /** Where `message` goes through `exchange`, routed by `extraRoutingKeys` too when given. */
  route(exchange: string, message: TransactionMessage, extraRoutingKeys?: readonly string[]): readonly Destination[];
  findQueue(name: string): Queue | undefined;
  findStream(name: string): Stream | undefined;
  /** Largest message body accepted. */
  readonly messageBytesMax: number;
}

/** Limits of transactions. */
export interface TransactionLimits {
  /** Operations (messages, acks, offset commits) in one transaction. */
  readonly operationsMax: number;
  /** Open transactions of one vhost. */
  readonly openMax: number;
}

export const TRANSACTION_LIMIT_DEFAULTS: TransactionLimits = { operationsMax: 100_000, openMax: 10_000 };
const TIMEOUT_MS_DEFAULT = 60_000;
/** The log's start moves past applied intents once it holds this many entries. */
const RECLAIM_ENTRIES_MIN = 4_096;

type Operation =
  | { readonly kind: 'publish'; readonly exchange: string; readonly message: TransactionMessage; readonly extraRoutingKeys?: readonly string[] }
  | { readonly kind: 'append'; readonly stream: string; readonly partition: number | undefined; readonly message: TransactionMessage }
  | { readonly kind: 'ack'; readonly queue: string; readonly deliveryId: number }
  | { readonly kind: 'offset'; readonly stream: string; readonly group: string; readonly member: string; readonly partition: number; readonly offset: number; readonly generation: number | undefined };

/**
 * One entry of a transaction's intent, as stored in the transaction log
 * (record header "tx", JSON). `from` is where the destination ended when the
 * intent was written: the transaction's own batch, if written, lies after it.
 */
type IntentEntry =
  | { readonly op: 'enqueue'; readonly queue: string; readonly priority: number; readonly from: number }
  | { readonly op: 'append'; readonly stream: string; readonly partition: number; readonly from: number }
  | { readonly op: 'ack'; readonly queue: string; readonly priority: number; readonly offsets: readonly number[] }
  | { readonly op: 'offset'; readonly stream: string; readonly group: string; readonly partition: number; readonly offset: number }
  | { readonly op: 'commit'; readonly id: number }
  | { readonly op: 'applied'; readonly id: number };

const TX_HEADER = 'tx';
const EMPTY = new Uint8Array(0);
const decoder = new TextDecoder();

/** An intent entry as its record header holds it. */
function intentBytes(entry: IntentEntry): Uint8Array {
  return transientUtf8(JSON.stringify(entry));
}

/**
 * A transaction: publishes, stream appends, acks of consumed messages and
 * consumer-group offset commits that take effect together or not at all.
 * Nothing is visible to anyone before {@link commit}; {@link abort} (or the
 * timeout) discards everything, leaving consumed messages unacked.
 */
export class Transaction {
  private readonly operations: Operation[] = [];
  private state: 'open' | 'committing' | 'committed' | 'aborted' = 'open';
  private abortReason = '';
  private readonly timer: TimerHandle;

  constructor(
    readonly id: number,
    private readonly coordinator: TransactionCoordinator,
    private readonly limits: TransactionLimits,
    timeoutMs: number,
    clock: Clock,
  ) {
    this.timer = clock.setTimer(timeoutMs, () => this.abort(`timed out after ${timeoutMs} ms`));
  }

  /** Publishes through `exchange` at commit, routed by `extraRoutingKeys` too when given (RabbitMQ's CC and BCC). */
  publish(exchange: string, message: TransactionMessage, extraRoutingKeys?: readonly string[]): void {
    this.add(extraRoutingKeys === undefined ? { kind: 'publish', exchange, message } : { kind: 'publish', exchange, message, extraRoutingKeys });
  }

  /** Appends to stream `stream` at commit (to `partition`, or by key / round-robin). */
  appendToStream(stream: string, message: TransactionMessage, partition?: number): void {
    this.add({ kind: 'append', stream, partition, message });
  }

  /** Acknowledges delivery `deliveryId` of queue `queue` at commit; until then it stays in flight. */
  ack(queue: string, deliveryId: number): void {
    this.add({ kind: 'ack', queue, deliveryId });
  }

  /**
   * Commits `offset` for `member` of consumer group `group` at commit (the
   * member must own the partition then). With `generation` (the group's
   * generation when the member read what it commits), a commit after any
   * rebalance is refused with ILLEGAL_GENERATION, as Kafka fences
   * transactional offset commits: the partition may have been processed by
   * another member meanwhile.
   */
  commitOffset(stream: string, group: string, member: string, partition: number, offset: number, generation?: number): void {
    this.add({ kind: 'offset', stream, group, member, partition, offset, generation });
  }

  /** Operations added so far. */
  size(): number {
    return this.operations.length;
  }

  isOpen(): boolean {
    return this.state === 'open';
  }

  /**
   * Makes every operation take effect: resolves once all of them are
   * durable (per the store's durability mode). The commit point is the
   * transaction log entry that records them all; a crash after it is
   * completed by recovery, a crash before it leaves no trace.
   * Fails with TRANSACTION_ABORTED after an abort or timeout, with
   * UNKNOWN_DELIVERY, QUEUE_NOT_FOUND, STREAM_NOT_FOUND or a consumer-group
   * code when an operation is invalid (nothing is then applied).
   */
  async commit(): Promise<TransactionOutcome> {
    if (this.state === 'aborted') throw new FerryError('TRANSACTION_ABORTED', `transaction ${this.id} was aborted: ${this.abortReason}`);
    if (this.state !== 'open') throw new FerryError('TRANSACTION_ABORTED', `transaction ${this.id} is already ${this.state}`);
    this.state = 'committing';
    this.timer.cancel();
    try {
      const outcome = await this.coordinator.commit(this.id, this.operations);
      this.state = 'committed';
      return outcome;
    } catch (error) {
      this.state = 'aborted';
      this.abortReason = error instanceof Error ? error.message : String(error);
      throw error;
    } finally {
      this.coordinator.forget(this.id);
    }
  }

  /** Discards every operation; consumed messages stay unacked. Ignored once committing. */
  abort(reason = 'aborted by the client'): void {
    if (this.state !== 'open') return;
    this.state = 'aborted';
    this.abortReason = reason;
    this.timer.cancel();
    this.operations.length = 0;
    this.coordinator.forget(this.id);
  }

  private add(operation: Operation): void {
    if (this.state !== 'open') throw new FerryError('TRANSACTION_ABORTED', `transaction ${this.id} is ${this.state}${this.abortReason ? `: ${this.abortReason}` : ''}`);
    if (this.operations.length >= this.limits.operationsMax) {
      throw new FerryError('TRANSACTION_LIMIT_REACHED', `transaction ${this.id} has ${this.limits.operationsMax} operations, its limit`);
    }
    if ((operation.kind === 'publish' || operation.kind === 'append') && operation.message.body.byteLength > this.coordinator.messageBytesMax()) {
      throw new FerryError('MESSAGE_TOO_LARGE', `message of ${operation.message.body.byteLength} bytes exceeds message-bytes-max ${this.coordinator.messageBytesMax()}`);
    }
    this.operations.push(operation);
  }
}

/** A destination's share of a transaction, resolved at commit. */
interface QueueWrite {
  readonly queue: Queue;
  readonly priority: number;
  readonly messages: StoredMessage[];
}

/**
 * Runs the transactions of one vhost over its transaction log
 * (`tx/<vhost>`), a redo log:
 *
 * 1. commit resolves every operation (routes, delivery positions, group
 *    ownership) and writes one batch to the transaction log: every message
 *    with its destination, every ack by position, every offset, then a
 *    commit entry. That batch is the commit point: a batch is written whole
 *    or not at all.
 * 2. it then applies them: each destination gets the transaction's messages
 *    as one batch stamped with the transaction id; acks and offsets are
 *    applied; an `applied` entry follows.
 * 3. recovery (at vhost start, before any consumer) re-applies every intent
 *    without an `applied` entry, skipping destinations that already hold the
 *    stamped batch after the offset the intent recorded. Acks and offset
 *    commits are idempotent.
 */
export class TransactionCoordinator {
  private nextId = 1;
  private readonly open = new Map<number, Transaction>();
  /** Intents being applied, by the log offset they start at; the log's start may not pass the oldest. */
  private readonly applying = new Map<number, number>();
  /** Applied transactions whose `applied` entry is not written yet. */
  private readonly appliedPending: number[] = [];

  constructor(
    private readonly host: TransactionHost,
    private readonly log: Log,
    private readonly limits: TransactionLimits = TRANSACTION_LIMIT_DEFAULTS,
  ) {}

  messageBytesMax(): number {
    return this.host.messageBytesMax;
  }

  /** Opens a transaction. TRANSACTION_LIMIT_REACHED when too many are open. */
  begin(options: TransactionOptions = {}): Transaction {
    if (this.open.size >= this.limits.openMax) throw new FerryError('TRANSACTION_LIMIT_REACHED', `${this.limits.openMax} transactions are open, the limit`);
    const id = this.nextId;
    this.nextId = (this.nextId % 0xffff_fffe) + 1;
    const transaction = new Transaction(id, this, this.limits, options.timeoutMs ?? TIMEOUT_MS_DEFAULT, this.host.clock);
    this.open.set(id, transaction);
    return transaction;
  }

  /** Open transactions (monitoring). */
  openCount(): number {
    return this.open.size;
  }

  /** @internal Called by a transaction that ended. */
  forget(id: number): void {
    this.open.delete(id);
  }

  /** @internal Resolves and writes the intent, then applies it. */
  async commit(id: number, operations: readonly Operation[]): Promise<TransactionOutcome> {
    const nowMs = this.host.clock.nowMs();
    const queueWrites = new Map<string, QueueWrite>();
    const streamWrites = new Map<string, { stream: Stream; partition: number; messages: StoredMessage[] }>();
    const acks = new Map<Queue, number[]>();
    const ackPositions = new Map<string, { queue: Queue; priority: number; offsets: number[] }>();
    const offsets: Array<{ stream: Stream; group: string; member: string; partition: number; offset: number }> = [];
    let unroutable = 0;
    const queueWrite = (queue: Queue, message: StoredMessage): void => {
      const priority = queue.levelIndexFor(message);
      const key = `${queue.name}\u0000${priority}`;
      let write = queueWrites.get(key);
      if (!write) queueWrites.set(key, (write = { queue, priority, messages: [] }));
      write.messages.push(message);
    };
    const streamWrite = (stream: Stream, partition: number, message: StoredMessage): void => {
      const key = `${stream.name}\u0000${partition}`;
      let write = streamWrites.get(key);
      if (!write) streamWrites.set(key, (write = { stream, partition, messages: [] }));
      write.messages.push(message);
    };
    // 1. Resolve: nothing is written until every operation checks out.
    for (const operation of operations) {
      switch (operation.kind) {
        case 'publish': {
          const stored = storedMessage(operation.message, operation.exchange, nowMs);
          const destinations = this.host.route(operation.exchange, operation.message, operation.extraRoutingKeys);
          if (destinations.length === 0) unroutable++;
          for (const destination of destinations) {
            if (destination.kind === 'stream') {
              const stream = this.host.findStream(destination.name);
              if (stream) streamWrite(stream, stream.partitionFor(stored), stored);
            } else {
              const queue = this.host.findQueue(destination.name);
              if (queue) queueWrite(queue, stored);
            }
          }
          break;
        }
        case 'append': {
          const stream = this.requireStream(operation.stream);
          const stored = storedMessage(operation.message, '', nowMs);
          const partition = operation.partition ?? stream.partitionFor(stored);
          if (!Number.isInteger(partition) || partition < 0 || partition >= stream.partitionCount()) {
            throw new FerryError('PARTITION_NOT_FOUND', `stream ${stream.name} has partitions 0 to ${stream.partitionCount() - 1}, not ${partition}`);
          }
          streamWrite(stream, partition, stored);
          break;
        }
        case 'ack': {
          const queue = this.host.findQueue(operation.queue);
          if (!queue) throw new FerryError('QUEUE_NOT_FOUND', `no queue ${operation.queue}`);
          const position = queue.positionOf(operation.deliveryId);
          let ids = acks.get(queue);
          if (!ids) acks.set(queue, (ids = []));
          if (ids.includes(operation.deliveryId)) break;
          ids.push(operation.deliveryId);
          const key = `${queue.name}\u0000${position.priority}`;
          let entry = ackPositions.get(key);
          if (!entry) ackPositions.set(key, (entry = { queue, priority: position.priority, offsets: [] }));
          entry.offsets.push(position.offset);
          break;
        }
        case 'offset': {
          const stream = this.requireStream(operation.stream);
          const group = stream.consumerGroup(operation.group);
          if (operation.generation !== undefined && operation.generation !== group.generation()) {
            throw new FerryError('ILLEGAL_GENERATION', `group ${operation.group} is at generation ${group.generation()}, not ${operation.generation}: re-read after the rebalance`);
          }
          const owned = group.assignment(operation.member);
          if (!owned.includes(operation.partition) && !group.pendingRevocations(operation.member).includes(operation.partition)) {
            throw new FerryError('NOT_PARTITION_OWNER', `member ${operation.member} of group ${operation.group} does not own partition ${operation.partition} of ${stream.name}`);
          }
          offsets.push({ stream, group: operation.group, member: operation.member, partition: operation.partition, offset: operation.offset });
          break;
        }
      }
    }
    // 2. The intent: one batch, written whole or not at all. An enqueue or append entry rides on
    // its destination's first message (the record's second header); the messages after it carry
    // no entry of their own. Written straight into the batch, with no object per record.
    const destinations: Array<{ readonly entry: Uint8Array; readonly messages: readonly StoredMessage[] }> = [];
    for (const write of queueWrites.values()) {
      const log = write.queue.logs()[write.priority]!;
      // Offsets the log holds as a count are journaled before the intent: after a crash that
      // keeps the intent, the log still reaches `from`, and recovery finds the batch at or after it.
      log.writeEmptyPending();
      const from = log.endOffset();
      destinations.push({ entry: intentBytes({ op: 'enqueue', queue: write.queue.name, priority: write.priority, from }), messages: write.messages });
    }
    for (const write of streamWrites.values()) {
      const from = write.stream.logs()[write.partition]!.endOffset();
      destinations.push({ entry: intentBytes({ op: 'append', stream: write.stream.name, partition: write.partition, from }), messages: write.messages });
    }
    const entries: Uint8Array[] = [];
    for (const entry of ackPositions.values()) entries.push(intentBytes({ op: 'ack', queue: entry.queue.name, priority: entry.priority, offsets: entry.offsets }));
    for (const entry of offsets) entries.push(intentBytes({ op: 'offset', stream: entry.stream.name, group: entry.group, partition: entry.partition, offset: entry.offset }));
    entries.push(intentBytes({ op: 'commit', id }));
    let recordCount = entries.length;
    let fieldBytes = 0;
    for (const entry of entries) fieldBytes += TX_HEADER.length + entry.byteLength;
    for (const destination of destinations) {
      recordCount += destination.messages.length;
      fieldBytes += TX_HEADER.length + destination.entry.byteLength + messageRecordFieldBytes(destination.messages);
    }
    const batch = this.log.newBatch(recordCount, recordCount + destinations.length, fieldBytes);
    for (const destination of destinations) writeMessageRecords(batch, destination.messages, { name: TX_HEADER, value: destination.entry });
    for (const entry of entries) {
      batch.recordStart(nowMs, EMPTY, 0, -1, 1);
      batch.recordHeader(TX_HEADER, entry, 0, entry.byteLength);
      batch.recordEnd(EMPTY, 0, 0);
    }
    // Registered before the append: the log's start must not pass an intent until it is applied.
    this.applying.set(id, this.log.endOffset());
    const intentWritten = this.log.appendBatch(batch);
    // Queues hand messages to consumers before they are durable, so queue writes wait for the
    // intent: a consumer must never see a message of a transaction a crash then erases. Stream
    // readers see only durable records, and the journal keeps a prefix of what was written in
    // order, so stream writes and offsets may share the intent's group commit: if any of them
    // survives a crash, the intent before it does too.
    if (queueWrites.size > 0) {
      try {
        await intentWritten;
      } catch (error) {
        this.applying.delete(id);
        throw error;
      }
    }
    // 3. Apply. Every write is stamped, so recovery can tell what is done.
    const stamp = transactionStamp(id);
    const writes: Promise<unknown>[] = [intentWritten];
    const rejectedBy: string[] = [];
    try {
      for (const write of queueWrites.values()) {
        const { outcomes, durable } = write.queue.enqueueStamped(write.messages, stamp);
        if (outcomes.some((outcome) => outcome.kind === 'rejected')) rejectedBy.push(write.queue.name);
        writes.push(durable);
      }
      for (const write of streamWrites.values()) writes.push(write.stream.appendStamped(write.partition, write.messages, stamp));
      for (const [queue, ids] of acks) writes.push(queue.ack(ids));
      for (const entry of offsets) writes.push(entry.stream.consumerGroup(entry.group).commit(entry.member, entry.partition, entry.offset));
      await Promise.all(writes);
    } finally {
      this.applying.delete(id);
    }
    // Not awaited: a lost `applied` entry only makes recovery look for the stamped writes again.
    this.markApplied(id);
    return { unroutable, rejectedBy };
  }

  /**
   * Completes every committed transaction whose application a crash cut
   * short. Run at vhost start, after queues and streams are open and before
   * any consumer attaches.
   */
  async recover(): Promise<number> {
    const intents = new Map<number, IntentEntry[]>();
    const messages = new Map<number, StoredMessage[]>();
    const applied = new Set<number>();
    for (let offset = this.log.startOffset(); offset < this.log.endOffset(); ) {
      const batches = await this.log.readBatches(offset, { bytesMax: 4 * 1024 * 1024 });
      if (batches.length === 0) break;
      for (const batch of batches) {
        offset = batch.records[batch.records.length - 1]!.offset + 1;
        const entries: IntentEntry[] = [];
        const bodies: StoredMessage[] = [];
        for (const record of batch.records) {
          const header = record.headers.find((candidate) => candidate.name === TX_HEADER);
          let entry: IntentEntry;
          if (header) {
            entry = JSON.parse(decoder.decode(header.value)) as IntentEntry;
          } else {
            // A message after the first of its destination: it belongs to the entry before it.
            const previous = entries[entries.length - 1];
            if (previous === undefined || (previous.op !== 'enqueue' && previous.op !== 'append')) {
              throw new FerryError('CORRUPT_DATA', `transaction log ${this.log.name}: record ${record.offset} has no entry`);
            }
            entry = previous;
          }
          entries.push(entry);
          bodies.push(entry.op === 'enqueue' || entry.op === 'append' ? decodeMessage(record) : (undefined as unknown as StoredMessage));
        }
        const last = entries[entries.length - 1]!;
        if (last.op === 'commit') {
          intents.set(last.id, entries);
          messages.set(last.id, bodies);
        } else {
          for (const entry of entries) if (entry.op === 'applied') applied.add(entry.id);
        }
      }
    }
    let completed = 0;
    for (const [id, entries] of intents) {
      this.nextId = Math.max(this.nextId, id + 1);
      if (applied.has(id)) continue;
      await this.reapply(id, entries, messages.get(id)!);
      completed++;
    }
    // Everything in the log is applied now: it can start afresh.
    if (this.log.endOffset() > this.log.startOffset()) await this.log.truncatePrefix(this.log.endOffset());
    return completed;
  }

  private async reapply(id: number, entries: readonly IntentEntry[], bodies: readonly StoredMessage[]): Promise<void> {
    const stamp = transactionStamp(id);
    const queueWrites = new Map<string, { queue: Queue; priority: number; from: number; messages: StoredMessage[] }>();
    const streamWrites = new Map<string, { stream: Stream; partition: number; from: number; messages: StoredMessage[] }>();
    const writes: Promise<unknown>[] = [];
    entries.forEach((entry, index) => {
      switch (entry.op) {
        case 'enqueue': {
          const queue = this.host.findQueue(entry.queue);
          if (!queue) return; // Deleted (or transient, gone with the restart).
          const key = `${entry.queue}\u0000${entry.priority}`;
          let write = queueWrites.get(key);
          if (!write) queueWrites.set(key, (write = { queue, priority: entry.priority, from: entry.from, messages: [] }));
          write.messages.push(bodies[index]!);
          return;
        }
        case 'append': {
          const stream = this.host.findStream(entry.stream);
          if (!stream) return;
          const key = `${entry.stream}\u0000${entry.partition}`;
          let write = streamWrites.get(key);
          if (!write) streamWrites.set(key, (write = { stream, partition: entry.partition, from: entry.from, messages: [] }));
          write.messages.push(bodies[index]!);
          return;
        }
        case 'ack': {
          const queue = this.host.findQueue(entry.queue);
          if (queue) writes.push(queue.settleRecovered(entry.priority, entry.offsets));
          return;
        }
        case 'offset': {
          const stream = this.host.findStream(entry.stream);
          // A later direct commit may have moved the offset on before the crash: never move it back.
          const current = stream?.state.committed(entry.group, entry.partition);
          if (stream && (current === undefined || current < entry.offset)) writes.push(stream.state.commit(entry.group, entry.partition, entry.offset));
          return;
        }
        default:
          return;
      }
    });
    for (const write of queueWrites.values()) {
      if (await write.queue.findStampedBatch(write.priority, write.from, stamp)) continue;
      writes.push(write.queue.enqueueStamped(write.messages, stamp).durable);
    }
    for (const write of streamWrites.values()) {
      if (await write.stream.findStampedBatch(write.partition, write.from, stamp)) continue;
      writes.push(write.stream.appendStamped(write.partition, write.messages, stamp));
    }
    await Promise.all(writes);
  }

  /**
   * Records that transaction `id` is applied: the `applied` entries of one
   * turn share a batch. From time to time the log's start moves past
   * everything applied, so it stays small.
   */
  private markApplied(id: number): void {
    this.appliedPending.push(id);
    if (this.appliedPending.length > 1) return;
    queueMicrotask(() => {
      const ids = this.appliedPending.splice(0);
      const records = ids.map((applied) => ({ value: EMPTY, headers: [{ name: TX_HEADER, value: intentBytes({ op: 'applied', id: applied }) }] }));
      this.log.append(records).then(
        () => this.reclaim(),
        () => undefined, // The store stopped: recovery will redo the check.
      );
    });
  }

  /** Moves the log's start past every applied intent once enough has accumulated. */
  private reclaim(): void {
    if (this.log.endOffset() - this.log.startOffset() < RECLAIM_ENTRIES_MIN) return;
    let keepFrom = this.log.endOffset();
    for (const offset of this.applying.values()) keepFrom = Math.min(keepFrom, offset);
    if (keepFrom > this.log.startOffset()) void this.log.truncatePrefix(keepFrom).catch(() => undefined);
  }

  private requireStream(name: string): Stream {
    const stream = this.host.findStream(name);
    if (!stream) throw new FerryError('STREAM_NOT_FOUND', `no stream ${name}`);
    return stream;
  }
}
