import { assert } from '../../lib/assert.js';
import { FerryError } from '../../lib/ferry-error.js';
import { SequenceMap } from '../../lib/sequence-map.js';
import { recordKeyBytes } from '../../lib/utf8.js';
import type { Clock, TimerHandle } from '../../platform/clock.js';
import { decodeMessage, encodeMessage } from '../message/message-codec.js';
import { storedMessage, type StoredMessage } from '../message/message.js';
import type { AckOptions, AppendOptions, DeadLetterReason, Log, ProducerStamp, QueueState, RecordInput, StoredRecord } from '../ports.js';
import type { HeaderTable, HeaderValue } from '../routing/header-value.js';
import type { ConsumerOptions, Delivery } from './delivery.js';
import { MinHeap } from './min-heap.js';
import type { PublishTurn } from './publish-turn.js';
import { holdsStampedBatch } from '../transaction/transaction-stamp.js';
import { ScheduleHeap } from './schedule-heap.js';
import type { QueueConfig } from './queue-config.js';

/** What a queue needs from its vhost. */
export interface QueueHost {
  readonly clock: Clock;
  /** The publishing turn the queues of this host share (see PublishTurn). */
  readonly turn: PublishTurn;
  /** Routes a dead-lettered message through `exchange` (broker-originated, internal exchanges allowed). */
  /** Publishes a dead letter through `exchange` (internal ones too), routed by `extraRoutingKeys` as well when given. */
  deadLetter(exchange: string, message: StoredMessage, extraRoutingKeys?: readonly string[]): void;
  /** The queue has had its last consumer leave (auto-delete) or stayed unused past `expiresMs`. */
  unused(queue: Queue, why: 'auto-delete' | 'expired'): void;
}

/** One priority level of a queue: a log, its delivery state and what is held in memory. */
interface Level {
  readonly priority: number;
  readonly log: Log;
  readonly state: QueueState;
  /** Offsets below it have been read (into `buffer`) or are settled, scheduled or in flight. */
  cursor: number;
  /** Ready messages read from the log, in offset order, all below `cursor`. */
  buffer: Candidate[];
  bufferHead: number;
  /**
   * Messages enqueued at offsets `tailStart`, `tailStart + 1`, ... while older ones were
   * unread (so not into `buffer`), kept within the buffer's memory bounds: the refill takes
   * them from here instead of reading them back from the log (see refillFromTail).
   */
  tail: StoredMessage[];
  tailStart: number;
  /** Ready messages that came back (nack, visibility timeout, due delay), lowest offset first. */
  readonly returned: MinHeap<Candidate>;
  /** Delayed messages that fell due, in due order; offered after `returned`, before `buffer`. */
  due: Candidate[];
  /**
   * A quorum queue's messages its consumers rejected with requeue, at the tail as RabbitMQ
   * puts them: each after every message published before it came back (offsets below its
   * `tailPosition`), before those published later; in the order they came back.
   */
  requeued: Candidate[];
  /** Transient messages below this offset were written before the last restart: they are gone. */
  readonly restartEndOffset: number;
  /** Body bytes of unread ready messages that are counted (see `counted`). */
  unreadBytes: number;
  /** True when open() read the restored backlog, so its sizes are counted and its transient messages settled. */
  scanned: boolean;
  /**
   * Offsets of transient messages of a durable queue written in full (see
   * bufferHasRoom), perhaps not yet settled: settled at a clean close, with the
   * transient messages then held in memory.
   */
  readonly transientOffsets: Set<number>;
  /** `transientOffsets` is swept of settled offsets when it reaches this size. */
  transientSweepSize: number;
  /**
   * Records offered in this turn, appended together as one batch at its end
   * (their offsets follow the log's end offset). Nothing refers to them in the
   * delivery state before they are appended.
   */
  pending: RecordInput[];
  /** True when `pending` holds a record other than OFFSET_ONLY_RECORD. */
  pendingHasMessages: boolean;
  /** True when a publish of `pending` waits for its batch to be written (through the turn's promise, see PublishTurn). */
  pendingWaited: boolean;
  /** Body bytes of the messages in `pending` (see PENDING_BATCH_BYTES_MAX). */
  pendingBytes: number;
  /**
   * True when the level's last batch held one record: the first message of a turn is then
   * appended at once, while its record is still in the CPU cache, instead of at the end of the
   * turn. A publisher spreading messages over a thousand queues gives each one message a turn,
   * and the end of the turn found each record evicted by the thousand publishes after it. A
   * level that gets many messages a turn appends them together at its end (as the batch that
   * follows a first message appended at once teaches it).
   */
  appendAtOnce: boolean;
  /**
   * True for queues whose log is in memory (transient or exclusive): messages
   * stay as objects in the buffer (unbounded: they are in memory anyway) and
   * the log only holds empty records that keep offsets; delayed messages wait in `held`.
   */
  readonly inMemory: boolean;
  readonly held: SequenceMap<StoredMessage>;
  refilling: Promise<void> | null;
  /**
   * True when the log belongs to someone else (a stream read by a share
   * group): the queue never appends to it, learns of new records through
   * {@link Queue.notifyAppended}, and its transient messages are not dropped.
   */
  readonly external: boolean;
  /** For an external log: the end offset the queue has counted up to. */
  knownEnd: number;
  /**
   * Offsets delivered with auto-ack in the current dispatch, settled in one
   * state write when it ends (see {@link Queue.settleAutoAcked}), not one per delivery.
   */
  autoAcked: number[];
}

/** A ready message held in memory. */
interface Candidate {
  readonly level: Level;
  readonly offset: number;
  readonly message: StoredMessage;
  deliveryCount: number;
  /**
   * Its place when a quorum queue put it at the tail (the level's next offset when it came back;
   * AT_OFFSET when it is at its own offset), and the order it came back in among those put at
   * the same position (see Level.requeued).
   */
  tailPosition: number;
  tailSequence: number;
}

/** Candidate.tailPosition of a message at its own offset's place. */
const AT_OFFSET = -1;

/** True when `candidate` comes before `other` in its level: by place (its offset, or just before its tail position), then by when it came back. */
function comesBefore(candidate: Candidate, other: Candidate): boolean {
  const place = candidate.tailPosition === AT_OFFSET ? candidate.offset : candidate.tailPosition - 0.5;
  const otherPlace = other.tailPosition === AT_OFFSET ? other.offset : other.tailPosition - 0.5;
  return place < otherPlace || (place === otherPlace && candidate.tailSequence < other.tailSequence);
}

interface InFlight {
  readonly delivery: Delivery;
  readonly candidate: Candidate;
  readonly consumer: Consumer | null;
  /**
   * Copied from the message when delivered, for its ack (which else reads the message and its
   * properties, two more objects out of cache): its FIFO group, and whether its ack is logged
   * (a persistent message, or one of an external log; a durable queue's transient ones are not).
   */
  readonly group: string | undefined;
  readonly logged: boolean;
  deadlineMs: number;
  /** The last takeInFlight call that took it, so an id repeated in one call is taken once. */
  settleMark: number;
}

interface Consumer {
  // The hot fields first, copied from `options` (another object, another cache line, on every delivery).
  inFlight: number;
  flowing: boolean;
  /** It takes deliveries while `inFlight` is at most this: prefetch - 1 while filling its window, lower once full (see refillBatch). */
  refillAt: number;
  readonly prefetch: number;
  readonly autoAck: boolean;
  readonly onDelivery: (delivery: Delivery) => void;
  readonly tag: string;
  readonly options: ConsumerOptions;
  readonly sequence: number;
}

/** A message the queue took; `durable` resolves once it is written per the durability contract. */
export interface AcceptedOutcome {
  readonly kind: 'accepted';
  readonly durable: Promise<void>;
}

/**
 * The outcome of offering a message to a queue. Outcomes are frozen and may
 * be shared between publishes (every transient publish gets the same one).
 */
export type EnqueueOutcome = AcceptedOutcome | { readonly kind: 'duplicate' } | { readonly kind: 'rejected'; readonly reason: 'max-length' };

/** A consumer as {@link Queue.consumerDetails} reports it. */
export interface ConsumerDetails {
  readonly tag: string;
  readonly prefetch: number;
  readonly autoAck: boolean;
  readonly priority: number;
  readonly exclusive: boolean;
  /** Deliveries to it not yet settled. */
  readonly inFlight: number;
  /** False while its connection paused it. */
  readonly flowing: boolean;
  /** False for the waiting consumers of a single-active-consumer queue. */
  readonly active: boolean;
}

/** A ready message as {@link Queue.peek} returns it. */
export interface PeekedMessage {
  readonly message: StoredMessage;
  readonly priority: number;
  /** Deliveries so far (returned ones count). */
  readonly deliveryCount: number;
}

/** Options of {@link Queue.pull}. */
export interface PullOptions {
  readonly max?: number;
  /** Wait up to this long for a first message (long polling). */
  readonly waitMs?: number;
  /**
   * Pulled messages come back when not settled within this long (default: the
   * queue's `visibilityTimeoutMs`); Infinity keeps them until settled, as AMQP basic.get does.
   */
  readonly visibilityTimeoutMs?: number;
  readonly autoAck?: boolean;
}

const BUFFER_MESSAGES_MAX = 512;
/** Most messages a durable queue's read-ahead buffer holds beyond BUFFER_MESSAGES_MAX for consumers with credit (see consumerCredit). */
const BUFFER_CREDIT_MESSAGES_MAX = 4096;
/**
 * Bounds of the persistent messages a durable queue keeps in memory (besides
 * writing them) whatever its consumers' credit: a backlog within them is
 * delivered without being read back from the log.
 */
const PERSISTENT_BUFFER_MESSAGES_MAX = 8192;
const PERSISTENT_BUFFER_BYTES_MAX = 4 * 1024 * 1024;
/**
 * Bounds of the ready messages a durable queue holds in memory while transient
 * messages arrive (see bufferHasRoom): within them a transient message is never
 * written in full, as RabbitMQ writes transient messages only to free memory.
 */
const TRANSIENT_BUFFER_BYTES_MAX = 16 * 1024 * 1024;
const TRANSIENT_BUFFER_MESSAGES_MAX = 65_536;
const TRANSIENT_SWEEP_SIZE_MIN = 4096;
/**
 * True when `message` may join `count` messages of `bytes` body bytes held in memory: within
 * PERSISTENT_BUFFER_* for a persistent message, TRANSIENT_BUFFER_* for a transient one.
 */
function withinMemoryBounds(message: StoredMessage, count: number, bytes: number): boolean {
  const total = bytes + message.body.byteLength;
  return message.persistent
    ? count < PERSISTENT_BUFFER_MESSAGES_MAX && total <= PERSISTENT_BUFFER_BYTES_MAX
    : count < TRANSIENT_BUFFER_MESSAGES_MAX && total <= TRANSIENT_BUFFER_BYTES_MAX;
}

/** Prefetch windows of at least this many deliveries are refilled in batches (see refillBatch). */
const REFILL_BATCH_WINDOW_MIN = 128;

/**
 * How many of a full consumer's deliveries must be settled before it gets
 * more: 1 for small windows; a quarter of a large one, which then still holds
 * three quarters of a window of work. Topping up a deep window one delivery
 * per ack costs a delivery (and a socket write) per ack for no gain in latency:
 * the new message would wait behind the window at the consumer anyway.
 */
function refillBatch(prefetch: number): number {
  return prefetch >= REFILL_BATCH_WINDOW_MIN ? Math.floor(prefetch / 4) : 1;
}

/** True when `consumer` may take a delivery now: flowing, with credit left in its window. */
function eligible(consumer: Consumer): boolean {
  return consumer.flowing && (consumer.prefetch === 0 || consumer.inFlight <= consumer.refillAt);
}

/** Reasons as RabbitMQ writes them in x-death, the format dead-letter consumers expect. */
const DEATH_REASONS: Readonly<Record<DeadLetterReason, string>> = {
  rejected: 'rejected',
  expired: 'expired',
  'max-length': 'maxlen',
  'delivery-limit': 'delivery_limit',
};
/** How a batch that nobody waits for is appended (transient messages only). */
const LAZY_APPEND: AppendOptions = Object.freeze({ lazy: true });
/** Options of an ack nobody waits for (AckOptions.lazy); shared by the callers that make such acks. */
export const LAZY_ACK: AckOptions = Object.freeze({ lazy: true });

/** What an in-memory queue's log stores per message, and a durable queue's per transient message held in memory: nothing but the offset. */
const OFFSET_ONLY_RECORD: RecordInput = Object.freeze({ value: new Uint8Array(0) });

/**
 * A level's pending records are appended before they pass this many bytes of bodies: a turn
 * that publishes more to a queue is written as several batches, each well within the store's
 * batch limit (Log.batchBytesMax; a batch over it would be refused whole).
 */
const PENDING_BATCH_BYTES_MAX = 1024 * 1024;

/** Bytes a batch takes beyond its records' fields, and each record and header beyond theirs: generous, so an estimate never falls short. */
const BATCH_OVERHEAD_BYTES = 256;
const RECORD_FIELD_OVERHEAD_BYTES = 32;

/** At least the bytes of a batch holding only `record`. */
function batchBytesOf(record: RecordInput): number {
  let bytes = BATCH_OVERHEAD_BYTES + RECORD_FIELD_OVERHEAD_BYTES + record.value.byteLength + recordKeyBytes(record);
  for (const header of record.headers ?? []) bytes += RECORD_FIELD_OVERHEAD_BYTES + 3 * header.name.length + header.value.byteLength;
  return bytes;
}
const REFILL_BYTES_MAX = 256 * 1024;

/**
 * The message a record of a queue's log holds, or null for an offset-only
 * record ({@link OFFSET_ONLY_RECORD}, no envelope): in a durable queue, a
 * transient message that was held in memory only, gone after a restart.
 */
function messageOf(record: StoredRecord): StoredMessage | null {
  return record.headers.length === 0 ? null : decodeMessage(record);
}

/**
 * For state writes whose failure the queue cannot act on (the state store
 * stops and reports it to the next caller): one function, not a closure per write.
 */
function ignoreFailure(): void {}

/** Offsets grouped by priority level in order of first appearance; the first level's without a Map (most calls touch one). */
class OffsetsByLevel {
  private first: Level | null = null;
  private readonly firstOffsets: number[] = [];
  private others: Map<Level, number[]> | null = null;

  add(level: Level, offset: number): void {
    if (this.first === null || this.first === level) {
      this.first = level;
      this.firstOffsets.push(offset);
      return;
    }
    this.others ??= new Map();
    const offsets = this.others.get(level);
    if (offsets) offsets.push(offset);
    else this.others.set(level, [offset]);
  }

  map<T>(fn: (level: Level, offsets: number[]) => T): T[] {
    if (this.first === null) return [];
    const out = [fn(this.first, this.firstOffsets)];
    if (this.others !== null) for (const [level, offsets] of this.others) out.push(fn(level, offsets));
    return out;
  }
}

/** True when `offsets` are consecutive and ascending (one range): what a dispatch usually delivers. */
function isRun(offsets: readonly number[]): boolean {
  const first = offsets[0]!;
  for (let index = 1; index < offsets.length; index++) if (offsets[index] !== first + index) return false;
  return true;
}
const NEVER = Number.POSITIVE_INFINITY;
const RESOLVED: Promise<void> = Promise.resolve();

/** The last accepted outcome made: the publishes that wait for the same promise (a turn's) share it. */
let lastAccepted: AcceptedOutcome | null = null;

/** The outcome of a publish that waits for `durable`: one object per promise, shared by its publishes. */
function acceptedOutcome(durable: Promise<void>): AcceptedOutcome {
  if (lastAccepted === null || lastAccepted.durable !== durable) lastAccepted = Object.freeze({ kind: 'accepted' as const, durable });
  return lastAccepted;
}
/** The outcome of every publish that waits for nothing (transient, or to a non-durable queue). */
const ACCEPTED: AcceptedOutcome = Object.freeze({ kind: 'accepted', durable: RESOLVED });
const DUPLICATE: EnqueueOutcome = Object.freeze({ kind: 'duplicate' });
const REJECTED_MAX_LENGTH: EnqueueOutcome = Object.freeze({ kind: 'rejected', reason: 'max-length' });

/**
 * A queue: messages in a log (one per priority level), delivery state in a
 * QueueState, and in memory only what is in flight, came back, or is about to
 * be delivered (a bounded read-ahead buffer), so memory does not grow with
 * the backlog.
 *
 * Order: within a priority level, messages are offered in offset order;
 * returned messages go before unread ones. Higher levels go first.
 * Durability: `enqueue` appends synchronously (the offset is fixed at once);
 * its `durable` promise resolves per the store's durability mode for
 * persistent messages. Acks resolve when the settlement is durable.
 */
export class Queue {
  // What every publish, delivery and ack reads comes first: fields are laid out in declaration order,
  // so these share the object's first cache lines. With a thousand queues each taking a message a
  // turn, a queue's fields are out of cache at each visit, and the lines it touches are its cost
  // (the many-queue flow on the memory store: 102-124k msgs/s before this order, 134-148k after).
  private deleted = false;
  private readyCount = 0;
  private readyBytes = 0;
  /** True while the queue is a member of the publishing turn (see scheduleFlush). */
  private flushScheduled = false;
  private zeroTtlPending = false;
  /** See {@link consumerCredit}; -1 when not known. */
  private creditKnown = -1;
  /** True once a message with its own expiration was published here (a get then checks the new head). */
  private expirationsSeen = false;
  /** True while some level holds auto-acked offsets not yet written to its state. */
  private autoAckedPending = false;
  private dispatching = false;
  private dispatchAgain = false;
  private nextDeliveryId = 1;
  private roundRobin = 0;
  // The counters every message moves (see `counters`; a separate object would be another line).
  private published = 0;
  private delivered = 0;
  private acked = 0;
  // Copies of the config's policies the hot paths read (the config object is another cache line).
  private readonly maxLength: number | undefined;
  private readonly maxLengthBytes: number | undefined;
  private readonly messageTtlMs: number | undefined;
  private readonly singleActiveConsumer: boolean;
  private readonly deduplicationWindowMs: number | undefined;
  readonly name: string;
  readonly config: QueueConfig;
  private readonly host: QueueHost;
  private readonly levels: Level[];
  private readonly consumers: Consumer[] = [];
  private consumerSequence = 0;
  /** Deliveries awaiting settlement, by delivery id (ids only grow: a window array, not a hash table). */
  private readonly inFlight = new SequenceMap<InFlight>();
  /** Long-polling pullers waiting for a message to arrive. */
  private pullWaiters: Array<() => void> = [];
  private readonly scheduled = new ScheduleHeap();
  private scheduleTimer: { handle: TimerHandle; dueMs: number } | null = null;
  private readonly visibility = new MinHeap<{ deadlineMs: number; id: number }>((entry) => entry.deadlineMs);
  private visibilityTimer: { handle: TimerHandle; dueMs: number } | null = null;
  private expiryTimer: { handle: TimerHandle; dueMs: number } | null = null;
  private idleTimer: TimerHandle | null = null;
  private readonly groupsInFlight = new Map<string, number>();
  private readonly groupsWaiting = new Map<string, Candidate[]>();
  private readonly dedup = new Map<string, number>();
  private hadConsumer = false;
  private deadLettered = 0;
  private expired = 0;
  private dropped = 0;

  /** Scratch of VirtualHost.groupByQueue: the grouping that saw this queue last, and the queue's index in it. */
  groupMark = 0;
  groupIndex = 0;

  /** Publishes, deliveries, acks and losses since creation, for rates (a snapshot). */
  get counters(): { readonly published: number; readonly delivered: number; readonly acked: number; readonly deadLettered: number; readonly expired: number; readonly dropped: number } {
    return { published: this.published, delivered: this.delivered, acked: this.acked, deadLettered: this.deadLettered, expired: this.expired, dropped: this.dropped };
  }

  private constructor(config: QueueConfig, host: QueueHost, levels: Level[]) {
    this.name = config.name;
    this.config = config;
    this.maxLength = config.maxLength;
    this.maxLengthBytes = config.maxLengthBytes;
    this.messageTtlMs = config.messageTtlMs;
    this.singleActiveConsumer = config.singleActiveConsumer;
    this.deduplicationWindowMs = config.deduplicationWindowMs;
    this.host = host;
    this.levels = levels;
  }

  /**
   * Opens a queue over its logs (one per priority level, highest last) and
   * restores what was ready and scheduled. `states[i]` belongs to `logs[i]`.
   */
  static async open(config: QueueConfig, host: QueueHost, logs: Log[], states: QueueState[], options: { readonly externalLog?: boolean } = {}): Promise<Queue> {
    assert(logs.length === states.length && logs.length >= 1, 'one state per log');
    // Literal order is field order: what a publish, a delivery and an ack touch comes first.
    const levels: Level[] = logs.map((log, priority) => ({
      log,
      state: states[priority]!,
      pending: [],
      pendingHasMessages: false,
      pendingWaited: false,
      pendingBytes: 0,
      appendAtOnce: false,
      inMemory: !config.durable || config.exclusiveOwner !== undefined,
      cursor: states[priority]!.lowWatermark(),
      refilling: null,
      buffer: [],
      bufferHead: 0,
      returned: new MinHeap<Candidate>((candidate) => candidate.offset),
      due: [],
      requeued: [],
      autoAcked: [],
      external: options.externalLog === true,
      priority,
      tail: [],
      tailStart: 0,
      restartEndOffset: log.endOffset(),
      unreadBytes: 0,
      scanned: false,
      transientOffsets: new Set<number>(),
      transientSweepSize: TRANSIENT_SWEEP_SIZE_MIN,
      held: new SequenceMap<StoredMessage>(),
      knownEnd: log.endOffset(),
    }));
    assert(options.externalLog !== true || logs.length === 1, 'a queue over an external log has one level');
    const queue = new Queue(config, host, levels);
    for (const level of levels) {
      const end = level.log.endOffset();
      let scheduledInRange = 0;
      for (const [offset, dueMs] of level.state.scheduledEntries()) {
        queue.scheduled.push(dueMs, level.priority, offset);
        if (offset >= level.cursor && offset < end) scheduledInRange++;
      }
      if (config.durable && (config.maxLength !== undefined || config.maxLengthBytes !== undefined)) {
        // Length limits need exact counts: read the restored backlog (bounded by those limits).
        queue.readyCount += await queue.scanRestored(level);
      } else {
        let unsettled = 0;
        for (let offset = level.state.nextUnacked(level.cursor); offset < end; offset = level.state.nextUnacked(offset + 1)) unsettled++;
        queue.readyCount += unsettled - scheduledInRange;
      }
    }
    await queue.restoreDeduplication();
    // A restored backlog with a TTL must expire without waiting for a reader: look at its head.
    if (config.messageTtlMs !== undefined) queue.expireHead();
    queue.armScheduleTimer();
    queue.armIdleTimer();
    return queue;
  }

  /**
   * Reads the restored backlog of a level: settles transient messages (they do
   * not survive a restart) and counts the ready ones and their bytes.
   */
  private async scanRestored(level: Level): Promise<number> {
    let ready = 0;
    let offset = level.state.nextUnacked(level.cursor);
    const end = level.log.endOffset();
    const transient: number[] = [];
    while (offset < end) {
      const records = await level.log.read(offset, { recordsMax: 1024 });
      if (records.length === 0) break;
      for (const record of records) {
        const settled = level.state.isAcked(record.offset) || level.state.isDeadLettered(record.offset);
        if (settled || level.state.scheduledAt(record.offset) !== undefined) continue;
        const message = messageOf(record);
        if (message === null || !message.persistent) {
          transient.push(record.offset);
          continue;
        }
        ready++;
        level.unreadBytes += message.body.byteLength;
      }
      offset = records[records.length - 1]!.offset + 1;
    }
    if (transient.length > 0) await level.state.ack(transient);
    level.scanned = true;
    return ready;
  }

  /** True when an unread message's bytes are in its level's `unreadBytes`. */
  private counted(level: Level, offset: number): boolean {
    if (level.external) return false;
    return offset >= level.restartEndOffset || level.scanned;
  }

  /**
   * Rebuilds the deduplication window after a restart from the messages that
   * arrived within it (a bounded read of the log's tail), so a retry after a
   * crash is still recognised.
   */
  private async restoreDeduplication(): Promise<void> {
    const windowMs = this.config.deduplicationWindowMs;
    if (windowMs === undefined) return;
    const nowMs = this.host.clock.nowMs();
    for (const level of this.levels) {
      let offset = await level.log.offsetForTimestamp(nowMs - windowMs);
      for (;;) {
        const records = await level.log.read(offset, { recordsMax: 1024 });
        if (records.length === 0) break;
        for (const record of records) {
          const message = messageOf(record);
          if (message === null) continue;
          const messageId = message.properties.messageId;
          if (messageId !== undefined) this.dedup.set(messageId, Math.max(this.dedup.get(messageId) ?? 0, message.arrivedAtMs + windowMs));
        }
        offset = records[records.length - 1]!.offset + 1;
      }
    }
    // Keep the map in expiry order, as eviction walks it from the front.
    const sorted = [...this.dedup].sort((left, right) => left[1] - right[1]);
    this.dedup.clear();
    for (const [id, until] of sorted) this.dedup.set(id, until);
  }

  // ------------------------------------------------------------------ publishing

  /**
   * Offers a message. Synchronous: when accepted, the message has its place
   * in the queue at once; `durable` resolves when it is written per the
   * store's durability (at once for transient messages).
   */
  enqueue(message: StoredMessage, record?: RecordInput): EnqueueOutcome {
    this.assertLive();
    assert(!this.levels[0]!.external, 'a queue over an external log takes no publishes');
    const messageId = message.properties.messageId;
    const deduplicate = this.deduplicationWindowMs !== undefined && messageId !== undefined;
    const delayMs = message.properties.delayMs ?? 0;
    // Only deduplication and delays need the time.
    const nowMs = deduplicate || delayMs > 0 ? this.host.clock.nowMs() : 0;
    if (deduplicate) {
      this.evictDeduplication(nowMs);
      const until = this.dedup.get(messageId);
      if (until !== undefined && until > nowMs) return DUPLICATE;
    }
    const level = this.levelFor(message);
    if (!level.inMemory && message.body.byteLength > PENDING_BATCH_BYTES_MAX) {
      // A large message is written as a batch of its own: refused here, before anything changes,
      // when that batch would be over the store's limit (a refused append would leave the queue
      // holding offsets the log never got). A record over the limit with a small body (megabytes
      // of headers) is not looked for.
      record ??= encodeMessage(message);
      if (batchBytesOf(record) > level.log.batchBytesMax) {
        throw new FerryError('MESSAGE_TOO_LARGE', `message of ${message.body.byteLength} bytes does not fit a storage batch of queue ${this.name} (${level.log.batchBytesMax} bytes at most)`);
      }
    }
    if (delayMs <= 0 && this.isFull(message.body.byteLength)) {
      if (this.config.overflow === 'drop-head') {
        if (!this.makeRoom(message.body.byteLength)) return REJECTED_MAX_LENGTH;
      } else {
        if (this.config.overflow === 'reject-publish-dlx') this.deadLetterMessage(message, 'max-length', 0);
        return REJECTED_MAX_LENGTH;
      }
    }
    if (deduplicate) {
      // Recorded only once accepted: a refused publish may be retried. Re-inserted at the end,
      // so the map stays in expiry order for eviction.
      this.dedup.delete(messageId);
      this.dedup.set(messageId, nowMs + this.deduplicationWindowMs!);
    }
    if (message.properties.expirationMs !== undefined) this.expirationsSeen = true;
    if (level.pending.length > 0 && level.pendingBytes + RECORD_FIELD_OVERHEAD_BYTES + message.body.byteLength > PENDING_BATCH_BYTES_MAX) this.flushPending(level);
    const offset = level.log.endOffset() + level.pending.length;
    // Fast path: nothing unread before it and room in memory, so it goes straight to the read-ahead buffer.
    const buffered = delayMs <= 0 && level.cursor === offset && level.refilling === null && this.bufferHasRoom(level, message);
    // A level whose last batch held one record appends the first message of a turn now, while it
    // is in cache (see Level.appendAtOnce).
    const atOnce = !this.flushScheduled && level.appendAtOnce && delayMs <= 0 && this.flushStamp === undefined;
    const waited = message.persistent && !level.inMemory;
    // A buffered transient message is never read back before a restart (the cursor is past it), and
    // after one it is gone: its record only keeps the offset, like those of in-memory queues.
    let appendNow: RecordInput | null = null;
    if (level.inMemory || (buffered && !message.persistent)) {
      level.pending.push(OFFSET_ONLY_RECORD);
      level.pendingBytes += RECORD_FIELD_OVERHEAD_BYTES;
    } else if (atOnce && level.pending.length === 0) {
      // Not through `pending`: a fresh array stored in the level each message would be garbage
      // and a write barrier a message on a broker of many queues.
      appendNow = record ?? encodeMessage(message);
    } else {
      level.pending.push(record ?? encodeMessage(message));
      level.pendingHasMessages = true;
      level.pendingBytes += RECORD_FIELD_OVERHEAD_BYTES + message.body.byteLength;
      if (waited) level.pendingWaited = true;
    }
    // Only persistent messages of a durable queue on disk wait for their batch to be written,
    // through the turn's one promise (the batch is appended at the end of the turn).
    this.scheduleFlush();
    const durable = waited ? this.host.turn.durable() : RESOLVED;
    // After the turn's promise is taken: a failed append must reject it (see flushPending).
    if (appendNow !== null) this.appendRecords(level, [appendNow], waited);
    else if (atOnce) this.flushPending(level);
    this.published++;
    // A transient message written in full may stay unread (not in memory) until a clean close,
    // which must settle it; buffered ones are found in memory then (see close).
    if (!message.persistent && this.config.durable && !buffered) this.trackTransient(level, offset);
    const outcome = durable === RESOLVED ? ACCEPTED : acceptedOutcome(durable);
    if (delayMs > 0) {
      const dueMs = nowMs + delayMs;
      this.flushPending(level); // The schedule entry names the offset: the record must exist first.
      void level.state.schedule(offset, dueMs).catch(() => undefined);
      if (level.inMemory) level.held.set(offset, message);
      this.scheduled.push(dueMs, level.priority, offset);
      if (level.cursor === offset) level.cursor = offset + 1;
      this.armScheduleTimer();
      return outcome;
    }
    this.readyCount++;
    if (buffered) {
      level.buffer.push({ level, offset, message, deliveryCount: 0, tailPosition: AT_OFFSET, tailSequence: 0 });
      level.cursor = offset + 1;
      this.readyBytes += message.body.byteLength;
    } else {
      level.unreadBytes += message.body.byteLength;
      this.keepUnread(level, offset, message);
    }
    if (this.effectiveTtlMs(message) === 0 && !this.zeroTtlPending) {
      this.zeroTtlPending = true;
      this.zeroTtlSinceMs = message.arrivedAtMs;
    }
    return outcome;
  }

  /**
   * Arrival time of the first TTL-0 message offered since the last end-of-turn dispatch: it and
   * those after it may still be delivered there, however late the turn ends (see isExpired).
   */
  private zeroTtlSinceMs = 0;

  /**
   * True when a ready message may join its level's read-ahead buffer: always
   * in an in-memory level; a persistent message while the buffer holds fewer
   * than BUFFER_MESSAGES_MAX plus what the consumers have credit for (see
   * consumerCredit; the rest is read back from the log); a transient
   * one of a durable queue while the queue's ready messages in memory stay
   * within TRANSIENT_BUFFER_BYTES_MAX and TRANSIENT_BUFFER_MESSAGES_MAX (beyond
   * them it is written in full and read back, as a persistent one).
   */
  private bufferHasRoom(level: Level, message: StoredMessage): boolean {
    if (level.inMemory) return true;
    const bufferedCount = level.buffer.length - level.bufferHead;
    if (message.persistent && (bufferedCount < BUFFER_MESSAGES_MAX || bufferedCount < BUFFER_MESSAGES_MAX + this.consumerCredit())) return true;
    // Otherwise a short backlog of small messages stays in memory too: reading it back from the log costs more than it saves.
    return withinMemoryBounds(message, bufferedCount, this.readyBytes);
  }

  /**
   * Keeps a message that missed the read-ahead buffer only because older ones are unread,
   * while the buffer's memory bounds (counting what is kept so) allow, for refillFromTail.
   * Only one run of consecutive offsets is kept: a message that does not fit ends it, and
   * the messages after it are read back from the log until the run is read.
   */
  private keepUnread(level: Level, offset: number, message: StoredMessage): void {
    const tail = level.tail;
    if (level.tailStart + tail.length !== offset) {
      if (tail.length > 0) return;
      level.tailStart = offset;
    }
    if (!withinMemoryBounds(message, level.buffer.length - level.bufferHead + tail.length, this.readyBytes + this.tailBytes)) return;
    tail.push(message);
    this.tailBytes += message.body.byteLength;
  }

  /** Forgets the kept messages below `level.cursor` (read, dropped or settled otherwise). */
  private trimTail(level: Level): void {
    const drop = Math.min(Math.max(level.cursor - level.tailStart, 0), level.tail.length);
    if (drop === 0) return;
    for (let index = 0; index < drop; index++) this.tailBytes -= level.tail[index]!.body.byteLength;
    if (drop === level.tail.length) level.tail = [];
    else level.tail.splice(0, drop);
    level.tailStart += drop;
  }

  /** Bytes of the bodies of the messages kept by keepUnread, all levels. */
  private tailBytes = 0;

  /**
   * How many more deliveries the consumers can take now, at most
   * BUFFER_CREDIT_MESSAGES_MAX. Messages they have credit for are in memory
   * (in flight) as soon as the next dispatch, so buffering them costs no more
   * memory than delivering them, and saves writing them to the log only to
   * read them back: a turn that publishes more than BUFFER_MESSAGES_MAX
   * messages to a consumer with a deep window would otherwise read its tail
   * back. Computed once between dispatches (each dispatch forgets it).
   */
  private consumerCredit(): number {
    if (this.creditKnown >= 0) return this.creditKnown;
    let credit = 0;
    const count = this.singleActiveConsumer ? Math.min(1, this.consumers.length) : this.consumers.length;
    for (let index = 0; index < count && credit < BUFFER_CREDIT_MESSAGES_MAX; index++) {
      const consumer = this.consumers[index]!;
      if (!eligible(consumer)) continue;
      credit += consumer.prefetch === 0 ? BUFFER_CREDIT_MESSAGES_MAX : consumer.prefetch - consumer.inFlight;
    }
    this.creditKnown = Math.min(credit, BUFFER_CREDIT_MESSAGES_MAX);
    return this.creditKnown;
  }

  /**
   * Remembers a transient message of a durable queue written in full, to settle at a clean
   * close. Settled offsets are dropped whenever the set has doubled since the
   * last sweep, so it holds about the unsettled ones, not every one published.
   */
  private trackTransient(level: Level, offset: number): void {
    const offsets = level.transientOffsets;
    offsets.add(offset);
    if (offsets.size < level.transientSweepSize) return;
    for (const tracked of offsets) if (level.state.isAcked(tracked) || level.state.isDeadLettered(tracked)) offsets.delete(tracked);
    level.transientSweepSize = Math.max(TRANSIENT_SWEEP_SIZE_MIN, 2 * offsets.size);
  }

  /**
   * Joins the publishing turn: at its end, {@link endOfTurn} appends each level's
   * pending records as one batch, then delivers. Publishing many messages in one turn costs one append.
   */
  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    this.host.turn.join(this);
  }

  /** See {@link scheduleFlush} and PublishTurn. */
  endOfTurn(): void {
    this.flushScheduled = false;
    if (this.deleted) return;
    this.flushAllPending();
    this.dispatch();
    if (this.zeroTtlPending) {
      // TTL 0: delivered at once, or expired at once (RabbitMQ semantics).
      this.zeroTtlPending = false;
      this.expireHead();
    } else {
      this.armExpiryTimer();
    }
  }

  /** Appends a level's pending records (one batch); synchronous, so their offsets are in the log at once. */
  private flushPending(level: Level): void {
    if (level.pending.length === 0) return;
    const records = level.pending;
    level.appendAtOnce = records.length === 1;
    const waited = level.pendingWaited;
    const offsetsOnly = !level.pendingHasMessages;
    level.pending = [];
    level.pendingHasMessages = false;
    level.pendingWaited = false;
    level.pendingBytes = 0;
    if (offsetsOnly && !waited && this.flushStamp === undefined) {
      // Only offsets, which nobody waits for: the log holds them as a count until it writes something else.
      try {
        level.log.appendEmpty(records.length);
      } catch {
        // The store stopped (or the log is gone): as for any append, the next durable write reports it.
      }
      return;
    }
    this.appendRecords(level, records, waited);
  }

  /** Appends `records` of a turn (those of `pending`, or one that never joined it: see enqueue). */
  private appendRecords(level: Level, records: readonly RecordInput[], waited: boolean): void {
    // Nobody waits for a batch of transient messages alone: it rides with the store's next group
    // (a transaction's stamped batch does not: recovery looks for it).
    const options = this.flushStamp !== undefined ? { producer: this.flushStamp } : waited ? undefined : LAZY_APPEND;
    try {
      level.log.appendUnawaited(records, options);
    } catch (error) {
      // The turn's promise covers these publishes: it rejects. A batch nobody waits for: the next durable write reports the failure.
      if (waited) this.host.turn.fail(error);
    }
  }

  /** While set, appended batches carry this stamp (a committed transaction's messages, see {@link enqueueStamped}). */
  private flushStamp: ProducerStamp | undefined;

  /**
   * Offers the messages of a committed transaction, with every policy of
   * {@link enqueue}, written as batches stamped with `stamp` (one per priority
   * level; two when a delayed message splits it), so recovery can tell whether
   * they were written (see {@link findStampedBatch}). `durable` resolves once
   * every accepted one is written.
   */
  enqueueStamped(messages: readonly StoredMessage[], stamp: ProducerStamp): { readonly outcomes: EnqueueOutcome[]; readonly durable: Promise<void> } {
    this.flushAllPending();
    this.flushStamp = stamp;
    try {
      const outcomes = messages.map((message) => this.enqueue(message));
      this.flushAllPending();
      const writes = outcomes.flatMap((outcome) => (outcome.kind === 'accepted' ? [outcome.durable] : []));
      return { outcomes, durable: Promise.all(writes).then(() => undefined) };
    } finally {
      this.flushStamp = undefined;
    }
  }

  /** True when level `priority` holds a batch stamped `stamp` at or after `fromOffset` (transaction recovery). */
  findStampedBatch(priority: number, fromOffset: number, stamp: ProducerStamp): Promise<boolean> {
    const level = this.levels[priority];
    if (!level || level.inMemory) return Promise.resolve(false);
    return holdsStampedBatch(level.log, fromOffset, stamp);
  }

  /** The priority level and offset of delivery `id` in flight; UNKNOWN_DELIVERY when it is not. */
  positionOf(id: number): { readonly priority: number; readonly offset: number } {
    const entry = this.inFlight.get(id);
    if (!entry) throw new FerryError('UNKNOWN_DELIVERY', `delivery ${id} is not in flight on queue ${this.name}`);
    return { priority: entry.candidate.level.priority, offset: entry.candidate.offset };
  }

  /**
   * Settles messages by position at recovery (a committed transaction's acks
   * replayed after a restart): they were ready again after the restart and
   * are acked now. Messages delivered or settled meanwhile are left alone.
   */
  settleRecovered(priority: number, offsets: readonly number[]): Promise<void> {
    const level = this.levels[priority];
    if (!level) return Promise.resolve();
    const settle: number[] = [];
    for (const offset of offsets) {
      if (offset >= level.log.endOffset() || level.state.isAcked(offset) || level.state.isDeadLettered(offset)) continue;
      let inFlight = false;
      for (const entry of this.inFlight.values()) if (entry.candidate.level === level && entry.candidate.offset === offset) inFlight = true;
      if (inFlight) continue;
      const buffered = level.buffer.findIndex((candidate, index) => index >= level.bufferHead && candidate.offset === offset);
      if (buffered >= 0) {
        this.readyBytes -= level.buffer[buffered]!.message.body.byteLength;
        level.buffer.splice(buffered, 1);
        this.readyCount--;
      } else if (offset >= level.cursor && level.state.scheduledAt(offset) === undefined) {
        this.readyCount--;
      } else if (offset >= level.cursor) {
        continue; // Scheduled: a transaction cannot have consumed it.
      } else {
        continue; // Read and then returned or in flight: left to its consumer.
      }
      settle.push(offset);
    }
    return settle.length > 0 ? level.state.ack(settle) : Promise.resolve();
  }

  private flushAllPending(): void {
    for (const level of this.levels) this.flushPending(level);
    this.settleAutoAcked();
  }

  /** The priority level (index into {@link logs}) a message goes to. */
  levelIndexFor(message: StoredMessage): number {
    return this.levelFor(message).priority;
  }

  private levelFor(message: StoredMessage): Level {
    if (this.levels.length === 1) return this.levels[0]!;
    const priority = Math.min(Math.max(Math.trunc(message.properties.priority ?? 0), 0), this.levels.length - 1);
    return this.levels[priority]!;
  }

  private isFull(incomingBytes: number): boolean {
    const maxLength = this.maxLength;
    const maxLengthBytes = this.maxLengthBytes;
    return (maxLength !== undefined && this.readyCount + 1 > maxLength) || (maxLengthBytes !== undefined && this.messageBytes() + incomingBytes > maxLengthBytes);
  }

  /** Drops ready messages from the head (dead-lettering them) until the new one fits. */
  private makeRoom(incomingBytes: number): boolean {
    this.flushAllPending();
    const { maxLength, maxLengthBytes } = this.config;
    if (maxLength === 0 || (maxLengthBytes !== undefined && incomingBytes > maxLengthBytes)) return false;
    while (this.isFull(incomingBytes)) {
      const head = this.takeHeadSync();
      if (!head) {
        // The head is unread: settle it without reading it now, and dead-letter it once read.
        if (!this.dropUnreadHead()) return false;
        continue;
      }
      this.dropped++;
      this.settleDropped(head, 'max-length');
    }
    return true;
  }

  /**
   * Removes the oldest ready message held in memory (lowest priority first, as
   * RabbitMQ drops): returned, due, read ahead, or parked behind a busy FIFO group.
   */
  private takeHeadSync(): Candidate | undefined {
    for (const level of this.levels) {
      let best: Candidate | undefined;
      let bestKey = 0;
      let from: 'returned' | 'due' | 'buffer' | 'parked' | 'requeued' | undefined;
      // By place in the queue: a requeued message just before the first published after its return.
      const consider = (candidate: Candidate | undefined, source: typeof from, key = candidate?.offset ?? 0) => {
        if (candidate && (!best || key < bestKey)) {
          best = candidate;
          bestKey = key;
          from = source;
        }
      };
      const buffered = level.bufferHead < level.buffer.length ? level.buffer[level.bufferHead] : undefined;
      consider(level.returned.peek(), 'returned');
      // Only once nothing published before its return is unread: unread messages are older.
      if (this.requeuedNext(level, buffered) !== undefined) consider(level.requeued[0]!, 'requeued', level.requeued[0]!.tailPosition - 0.5);
      consider(level.due[0], 'due');
      consider(buffered, 'buffer');
      for (const waiting of this.groupsWaiting.values()) for (const candidate of waiting) if (candidate.level === level) consider(candidate, 'parked');
      if (best) {
        if (from === 'returned') level.returned.pop();
        else if (from === 'requeued') level.requeued.shift();
        else if (from === 'due') level.due.shift();
        else if (from === 'buffer') {
          level.bufferHead++;
          this.compactBuffer(level);
        } else {
          const group = best.message.properties.groupId!;
          const waiting = this.groupsWaiting.get(group)!;
          waiting.splice(waiting.indexOf(best), 1);
          if (waiting.length === 0) this.groupsWaiting.delete(group);
        }
        return this.takeCounted(best);
      }
      if (level.cursor < level.log.endOffset()) return undefined;
    }
    return undefined;
  }

  private takeCounted(candidate: Candidate): Candidate {
    this.readyCount--;
    this.readyBytes -= candidate.message.body.byteLength;
    return candidate;
  }

  /** Settles the first unread ready offset of the lowest level with unread data; false when none. */
  private dropUnreadHead(): boolean {
    for (const level of this.levels) {
      const end = level.log.endOffset();
      while (level.cursor < end) {
        const offset = level.cursor++;
        if (level.state.isAcked(offset) || level.state.isDeadLettered(offset) || level.state.scheduledAt(offset) !== undefined) continue;
        this.readyCount--;
        this.dropped++;
        const dlx = this.config.deadLetterExchange;
        if (dlx === undefined) {
          void level.state.deadLetter(offset, 'max-length').catch(() => undefined);
        } else {
          void this.readOne(level, offset).then((message) => {
            if (message && this.counted(level, offset)) level.unreadBytes -= message.body.byteLength;
            if (message) this.deadLetterMessage(message, 'max-length', 0);
            return level.state.deadLetter(offset, 'max-length');
          }).catch(() => undefined);
        }
        return true;
      }
    }
    return false;
  }

  private evictDeduplication(nowMs: number): void {
    for (const [id, until] of this.dedup) {
      if (until > nowMs) break;
      this.dedup.delete(id);
    }
  }

  // ------------------------------------------------------------------ consumers

  /**
   * Throws what `consume` would refuse these options with (CONSUMER_EXCLUSIVE,
   * CONSUMER_TAG_IN_USE), without attaching anything: for a front end that must
   * answer before the first delivery can be sent.
   */
  checkConsumable(options: Pick<ConsumerOptions, 'tag' | 'exclusive'>): void {
    this.assertLive();
    if (this.consumers.some((consumer) => consumer.options.exclusive) || (options.exclusive && this.consumers.length > 0)) {
      throw new FerryError('CONSUMER_EXCLUSIVE', `queue '${this.name}' in exclusive use`);
    }
    if (this.consumers.some((consumer) => consumer.options.tag === options.tag)) {
      throw new FerryError('CONSUMER_TAG_IN_USE', `consumer tag ${options.tag} is in use on queue ${this.name}`);
    }
  }

  /** Attaches a push consumer. EXCLUSIVE_CONSUMER when an exclusive one holds the queue. */
  consume(options: ConsumerOptions): void {
    this.checkConsumable(options);
    const consumer: Consumer = {
      inFlight: 0,
      flowing: options.flowing ?? true,
      refillAt: options.prefetch - 1,
      prefetch: options.prefetch,
      autoAck: options.autoAck,
      onDelivery: options.onDelivery,
      tag: options.tag,
      options,
      sequence: this.consumerSequence++,
    };
    this.consumers.push(consumer);
    this.hadConsumer = true;
    this.idleTimer?.cancel();
    this.idleTimer = null;
    if (this.config.singleActiveConsumer) options.onActiveChanged?.(this.consumers[0] === consumer);
    this.dispatch();
  }

  /**
   * Detaches a consumer. Its unsettled deliveries stay in flight (they can
   * still be acked) unless `requeueUnsettled`, which returns them now.
   */
  cancel(tag: string, options: { requeueUnsettled?: boolean } = {}): boolean {
    const index = this.consumers.findIndex((consumer) => consumer.options.tag === tag);
    if (index < 0) return false;
    const [consumer] = this.consumers.splice(index, 1);
    if (options.requeueUnsettled) {
      const ids = [...this.inFlight.values()].filter((entry) => entry.consumer === consumer).map((entry) => entry.delivery.id);
      if (ids.length > 0) void this.nack(ids, true, { returned: true }).catch(() => undefined);
    }
    if (this.config.singleActiveConsumer && index === 0 && this.consumers.length > 0) this.consumers[0]!.options.onActiveChanged?.(true);
    if (this.consumers.length === 0) {
      if (this.config.autoDelete && this.hadConsumer) this.host.unused(this, 'auto-delete');
      this.armIdleTimer();
    }
    this.dispatch();
    return true;
  }

  /** Pauses or resumes deliveries to one consumer (its connection's buffers are full). */
  setFlowing(tag: string, flowing: boolean): void {
    const consumer = this.consumers.find((candidate) => candidate.options.tag === tag);
    if (!consumer || consumer.flowing === flowing) return;
    consumer.flowing = flowing;
    if (flowing) this.dispatch();
  }

  private pickConsumer(): Consumer | undefined {
    if (this.singleActiveConsumer) {
      const active = this.consumers[0];
      return active && eligible(active) ? active : undefined;
    }
    const count = this.consumers.length;
    if (count === 1) {
      // The common case, without the round-robin arithmetic.
      const only = this.consumers[0]!;
      return eligible(only) ? only : undefined;
    }
    let best: Consumer | undefined;
    for (let step = 0; step < count; step++) {
      const consumer = this.consumers[(this.roundRobin + step) % count]!;
      if (!eligible(consumer)) continue;
      if (!best || (consumer.options.priority ?? 0) > (best.options.priority ?? 0)) best = consumer;
    }
    return best;
  }

  /** Moves the round-robin start past `consumer`, once it has been given a message. */
  private servedConsumer(consumer: Consumer): void {
    const index = this.consumers.indexOf(consumer);
    if (index >= 0) this.roundRobin = (index + 1) % this.consumers.length;
  }

  // ------------------------------------------------------------------ dispatch

  /**
   * Hands ready messages to pullers and consumers with credit. Synchronous
   * for what is in memory; starts a log read when more is unread.
   */
  private dispatch(): void {
    this.creditKnown = -1;
    if (this.deleted) return;
    // Deliveries, acks and schedule entries name offsets: pending records are appended first.
    // Records are pending only while the queue is in a publishing turn (enqueue joins one, and
    // endOfTurn flushes before it dispatches): a dispatch after an ack does not look at the
    // levels' pending arrays, out of cache on a broker of many queues.
    if (this.flushScheduled) this.flushAllPending();
    else this.settleAutoAcked();
    if (this.readyCount > 0) this.wakePullers();
    if (this.dispatching) {
      this.dispatchAgain = true;
      return;
    }
    this.dispatching = true;
    try {
      do {
        this.dispatchAgain = false;
        this.dispatchOnce();
      } while (this.dispatchAgain);
    } finally {
      this.dispatching = false;
      this.creditKnown = -1;
      this.settleAutoAcked();
    }
  }

  /**
   * Writes the offsets delivered with auto-ack since the last call to their
   * levels' states, one ack per level: a dispatch that delivers a thousand
   * messages costs one state write, not a thousand. Called before anything
   * reads or writes the state of delivered offsets (the end of each dispatch
   * and pull, and flushAllPending).
   */
  private settleAutoAcked(): void {
    if (!this.autoAckedPending) return;
    this.autoAckedPending = false;
    for (const level of this.levels) {
      const offsets = level.autoAcked;
      if (offsets.length === 0) continue;
      level.autoAcked = [];
      const first = offsets[0]!;
      // Not lazy, although nobody waits for it: logged with the next commit, as a rule the one
      // that makes the message itself durable, so that a crash does not deliver it again.
      const written = isRun(offsets) ? level.state.ackRange(first, first + offsets.length) : level.state.ack(offsets);
      void written.catch(ignoreFailure);
    }
  }

  private dispatchOnce(): void {
    // readyCount counts every ready message, in memory or unread (parked FIFO ones too): at 0
    // there is nothing to find, and an ack or a turn that delivered its last message stops here
    // without looking through the consumers and every level.
    if (this.readyCount === 0) return;
    const nowMs = this.host.clock.nowMs();
    do {
      const consumer = this.pickConsumer();
      if (!consumer) return;
      const candidate = this.takeDeliverable(nowMs);
      if (!candidate) return;
      this.deliver(candidate, consumer, undefined, consumer.autoAck);
      this.servedConsumer(consumer);
    } while (this.readyCount > 0);
  }

  /** The next message that may be delivered now: expired ones are settled, busy FIFO groups parked. */
  private takeDeliverable(nowMs: number): Candidate | undefined {
    for (;;) {
      const candidate = this.takeNext();
      if (!candidate) return undefined;
      if (this.isExpired(candidate.message, nowMs, true)) {
        this.expired++;
        this.settleDropped(candidate, 'expired');
        continue;
      }
      const group = candidate.message.properties.groupId;
      if (group !== undefined && (this.groupsInFlight.get(group) ?? 0) > 0) {
        // One message of a group in flight at a time: park it (still ready) until the group is free.
        // Kept in queue order, so a returned message goes back ahead of later ones (and one a
        // quorum queue put at its tail, behind those published before it came back).
        const waiting = this.groupsWaiting.get(group) ?? [];
        let at = waiting.length;
        while (at > 0 && comesBefore(candidate, waiting[at - 1]!)) at--;
        waiting.splice(at, 0, candidate);
        this.groupsWaiting.set(group, waiting);
        this.readyCount++;
        this.readyBytes += candidate.message.body.byteLength;
        continue;
      }
      return candidate;
    }
  }

  /** The next ready message in memory, or undefined (starting a read when the log has more). */
  private takeNext(): Candidate | undefined {
    for (let index = this.levels.length - 1; index >= 0; index--) {
      const level = this.levels[index]!;
      const returned = level.returned.peek();
      const buffered = level.bufferHead < level.buffer.length ? level.buffer[level.bufferHead] : undefined;
      const requeued = this.requeuedNext(level, buffered);
      // A returned message goes back to its place: before what was read after it (and before a
      // message requeued at the tail after it was published).
      if (returned && (!buffered || returned.offset < buffered.offset) && (requeued === undefined || returned.offset < requeued.tailPosition)) {
        level.returned.pop();
        return this.takeCounted(returned);
      }
      if (level.due.length > 0) return this.takeCounted(level.due.shift()!);
      if (requeued !== undefined) return this.takeCounted(level.requeued.shift()!);
      if (buffered) {
        level.bufferHead++;
        this.compactBuffer(level);
        return this.takeCounted(buffered);
      }
      if (level.cursor < level.log.endOffset()) {
        // Kept in memory: look at this level again.
        if (this.refillFromTail(level)) {
          index++;
          continue;
        }
        // A higher level has unread messages: wait for them rather than serve a lower level.
        this.refill(level);
        return undefined;
      }
    }
    return undefined;
  }

  /**
   * The first requeued message of a level when it comes before `buffered` (the first message
   * read ahead): when everything published before it came back has been taken.
   */
  private requeuedNext(level: Level, buffered: Candidate | undefined): Candidate | undefined {
    const first = level.requeued[0];
    if (first === undefined) return undefined;
    const next = buffered ? first.tailPosition <= buffered.offset : level.cursor >= Math.min(first.tailPosition, level.log.endOffset());
    return next ? first : undefined;
  }

  private compactBuffer(level: Level): void {
    if (level.bufferHead === level.buffer.length) {
      level.buffer = [];
      level.bufferHead = 0;
    } else if (level.bufferHead > 256 && level.bufferHead * 2 >= level.buffer.length) {
      // Only once the taken head is at least half the array: each copy moves no more than was
      // taken since the last, not the whole (thousands deep) buffer every 256 takes.
      level.buffer = level.buffer.slice(level.bufferHead);
      level.bufferHead = 0;
    }
  }

  /**
   * Takes the message at the cursor (the record read back, or the message itself when it
   * was kept in memory) into the buffer, unless it is settled or scheduled; moves the cursor past it.
   */
  private readIn(level: Level, offset: number, source: StoredRecord | StoredMessage): void {
    level.cursor = offset + 1;
    if (level.state.isAcked(offset) || level.state.isDeadLettered(offset) || level.state.scheduledAt(offset) !== undefined) return;
    const message = 'offset' in source ? messageOf(source) : source;
    // The cursor is past every transient message held in memory since the restart.
    assert(message !== null || offset < level.restartEndOffset, 'an offset-only record is read back only after a restart');
    if (message === null || (!message.persistent && offset < level.restartEndOffset && this.config.durable && !level.external)) {
      // A transient message from before the restart: it does not survive one.
      this.readyCount--;
      void level.state.ack([offset], LAZY_ACK).catch(() => undefined);
      return;
    }
    level.buffer.push({ level, offset, message, deliveryCount: level.state.deliveryCount(offset), tailPosition: AT_OFFSET, tailSequence: 0 });
    if (this.counted(level, offset)) level.unreadBytes -= message.body.byteLength;
    this.readyBytes += message.body.byteLength;
  }

  /**
   * Takes the next unread messages of a level from those keepUnread kept, in memory and at
   * once (no log read, no decoding), up to BUFFER_MESSAGES_MAX; false when the one at the
   * cursor is not kept (or not yet in the log: pending records are appended first).
   */
  private refillFromTail(level: Level): boolean {
    this.trimTail(level);
    if (level.refilling !== null || level.tail.length === 0 || level.cursor !== level.tailStart) return false;
    const end = Math.min(level.tailStart + level.tail.length, level.log.endOffset(), level.cursor + BUFFER_MESSAGES_MAX);
    if (level.cursor >= end) return false;
    for (let offset = level.cursor; offset < end; offset++) this.readIn(level, offset, level.tail[offset - level.tailStart]!);
    this.trimTail(level);
    return true;
  }

  /** Reads the next unread messages of a level into its buffer, then dispatches. */
  private refill(level: Level): Promise<void> {
    if (level.refilling) return level.refilling;
    const from = level.cursor;
    // Up to the messages kept in memory, if any: those are taken from there.
    const kept = level.tail.length > 0 && level.tailStart > from ? level.tailStart - from : BUFFER_MESSAGES_MAX;
    level.refilling = level.log
      .read(from, { recordsMax: Math.min(BUFFER_MESSAGES_MAX, kept), bytesMax: REFILL_BYTES_MAX })
      .then((records) => {
        if (this.deleted || level.cursor !== from) return;
        for (const record of records) this.readIn(level, record.offset, record);
        this.trimTail(level);
        if (records.length === 0 && level.cursor < level.log.startOffset()) level.cursor = level.log.startOffset();
        // The owner's retention removed unread records: they are no longer ready.
        if (level.external && (records.length > 0 ? records[0]!.offset > from : level.cursor > from)) this.recountExternal(level);
      })
      .finally(() => {
        level.refilling = null;
        this.dispatch();
        this.armExpiryTimer();
      });
    return level.refilling;
  }

  /**
   * For a queue over an external log (a stream's share group): counts the
   * records its owner appended since the last call as ready, and delivers
   * them. Call it after each durable append to the log.
   */
  notifyAppended(): void {
    if (this.deleted) return;
    let added = false;
    for (const level of this.levels) {
      if (!level.external) continue;
      const end = level.log.endOffset();
      if (end <= level.knownEnd) continue;
      this.readyCount += end - level.knownEnd;
      level.knownEnd = end;
      added = true;
    }
    if (added) this.dispatch();
  }

  /** Recounts the ready messages of an external level after its owner's retention moved its start. */
  private recountExternal(level: Level): void {
    let ready = level.returned.size + level.due.length + level.requeued.length + (level.buffer.length - level.bufferHead);
    for (const waiting of this.groupsWaiting.values()) for (const candidate of waiting) if (candidate.level === level) ready++;
    const end = level.log.endOffset();
    for (let offset = level.state.nextUnacked(level.cursor); offset < end; offset = level.state.nextUnacked(offset + 1)) {
      if (level.state.scheduledAt(offset) === undefined) ready++;
    }
    this.readyCount = ready;
  }

  private deliver(candidate: Candidate, consumer: Consumer | null, visibilityTimeoutMs: number | undefined, autoAck: boolean): Delivery {
    candidate.deliveryCount++;
    const id = this.nextDeliveryId++;
    const delivery: Delivery = {
      id,
      queue: this.name,
      offset: candidate.offset,
      message: candidate.message,
      redelivered: candidate.deliveryCount > 1,
      deliveryCount: candidate.deliveryCount,
      consumerTag: consumer?.tag,
    };
    this.delivered++;
    // Logged (batched per group commit; a first delivery acked by then not at all) so that after a restart the message is marked redelivered
    // and the delivery limit still counts it. An in-memory level has no restart to count for,
    // and a transient message does not survive one: their candidates carry their counts.
    if (!autoAck && !candidate.level.inMemory && candidate.message.persistent) candidate.level.state.noteDelivery(candidate.offset);
    if (autoAck) {
      this.acked++;
      // Settled in memory here, logged by settleAutoAcked at the end of the dispatch or pull.
      candidate.level.autoAcked.push(candidate.offset);
      this.autoAckedPending = true;
    } else {
      const deadlineMs = visibilityTimeoutMs === undefined || visibilityTimeoutMs === NEVER ? NEVER : this.host.clock.monotonicMs() + visibilityTimeoutMs;
      const message = candidate.message;
      this.inFlight.set(id, { delivery, candidate, consumer, group: message.properties.groupId, logged: message.persistent || candidate.level.external, deadlineMs, settleMark: 0 });
      if (consumer) {
        const prefetch = consumer.prefetch;
        consumer.inFlight++;
        // Full: the window is refilled once a batch of it is settled, then up to full again.
        consumer.refillAt = consumer.inFlight >= prefetch ? prefetch - refillBatch(prefetch) : prefetch - 1;
      }
      const group = candidate.message.properties.groupId;
      if (group !== undefined) this.groupsInFlight.set(group, (this.groupsInFlight.get(group) ?? 0) + 1);
      if (deadlineMs !== NEVER) {
        this.visibility.push({ deadlineMs, id });
        this.armVisibilityTimer();
      }
    }
    if (consumer) consumer.onDelivery(delivery);
    return delivery;
  }

  // ------------------------------------------------------------------ pull

  /**
   * Takes up to `max` ready messages (default 1). With `waitMs`, waits up to
   * that long for a first one (long polling). Returns [] when none came.
   */
  async pull(options: PullOptions = {}): Promise<Delivery[]> {
    this.assertLive();
    const max = Math.max(1, options.max ?? 1);
    const autoAck = options.autoAck ?? false;
    const deadlineMs = this.host.clock.monotonicMs() + (options.waitMs ?? 0);
    this.touch();
    this.flushAllPending();
    const out: Delivery[] = [];
    for (;;) {
      const nowMs = this.host.clock.nowMs();
      while (out.length < max && !this.deleted) {
        const candidate = this.takeDeliverable(nowMs);
        if (!candidate) break;
        out.push(this.deliver(candidate, null, options.visibilityTimeoutMs ?? this.config.visibilityTimeoutMs, autoAck));
      }
      this.settleAutoAcked();
      // What the take uncovered may be past its TTL: gone before the caller counts what is left, as in RabbitMQ.
      if (out.length > 0 && !this.deleted && (this.messageTtlMs !== undefined || this.expirationsSeen)) this.expireHead();
      if (out.length >= max || this.deleted) return out;
      const pendingReads = this.levels.filter((level) => level.refilling !== null || level.cursor < level.log.endOffset());
      if (pendingReads.length > 0) {
        // Unread messages are on disk: read them, then take again.
        await Promise.all(pendingReads.map((level) => this.refill(level)));
        continue;
      }
      const waitMs = deadlineMs - this.host.clock.monotonicMs();
      if (out.length > 0 || waitMs <= 0) return out;
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          timer.cancel();
          resolve();
        };
        const timer = this.host.clock.setTimer(waitMs, () => {
          // Timed out: leave no waiter behind.
          this.pullWaiters = this.pullWaiters.filter((waiter) => waiter !== wake);
          resolve();
        });
        this.pullWaiters.push(wake);
      });
    }
  }

  /** Wakes long-polling pullers after messages became ready. */
  private wakePullers(): void {
    if (this.pullWaiters.length === 0) return;
    const waiters = this.pullWaiters;
    this.pullWaiters = [];
    for (const wake of waiters) wake();
  }

  // ------------------------------------------------------------------ settlement

  /**
   * Acknowledges deliveries; resolves when the acks are durable (`lazy`: see AckOptions).
   * UNKNOWN_DELIVERY when an id is not in flight.
   */
  ack(ids: readonly number[], options?: AckOptions): Promise<void> {
    // One delivery (a consumer of many queues acks one of each): no arrays.
    if (ids.length === 1) return this.ackOne(this.takeOneInFlight(ids[0]!), options);
    const entries = this.takeInFlight(ids);
    if (entries.length === 1) return this.ackOne(entries[0]!, options);
    // One state call per level, whatever the number of deliveries. A transient message of a
    // durable queue is gone after a restart anyway (the queue settles its offset then): its ack
    // is not logged.
    const logged = new OffsetsByLevel();
    const unlogged = new OffsetsByLevel();
    for (const entry of entries) {
      this.acked++;
      const { level, offset } = entry.candidate;
      (entry.logged ? logged : unlogged).add(level, offset);
      this.released(entry);
    }
    this.dispatch();
    try {
      unlogged.map((level, offsets) => level.state.ackUnlogged(offsets));
    } catch (error) {
      return Promise.reject(error);
    }
    const writes = logged.map((level, offsets) => level.state.ack(offsets, options));
    if (writes.length === 0) return RESOLVED;
    return writes.length === 1 ? writes[0]! : Promise.all(writes).then(() => undefined);
  }

  /** {@link ack} of one delivery, as the general case does it, without grouping by level. */
  private ackOne(entry: InFlight, options: AckOptions | undefined): Promise<void> {
    this.acked++;
    const { level, offset } = entry.candidate;
    this.released(entry);
    this.dispatch();
    if (entry.logged) return level.state.ackRange(offset, offset + 1, options);
    try {
      level.state.ackUnlogged([offset]);
    } catch (error) {
      return Promise.reject(error);
    }
    return RESOLVED;
  }

  /**
   * Returns deliveries: requeued or dead-lettered (`rejected`). A requeued message past
   * the delivery limit is dead-lettered (`delivery-limit`). A requeued message goes back to
   * its original place, except that a quorum queue puts the ones its consumer rejected or
   * nacked at its tail, as RabbitMQ's do; `returned` says they come back without such a
   * decision (a cancelled consumer, a closed channel, a recover, a visibility timeout), which
   * every queue puts back in place.
   */
  nack(ids: readonly number[], requeue: boolean, options: { readonly returned?: boolean } = {}): Promise<void> {
    const entries = this.takeInFlight(ids);
    const writes: Promise<void>[] = [];
    const toTail = requeue && this.config.queueType === 'quorum' && options.returned !== true;
    for (const entry of entries) {
      this.released(entry);
      writes.push(this.returnOrDeadLetter(entry.candidate, requeue, toTail));
    }
    this.dispatch();
    // A returned message may already be past its TTL: the head check must see it.
    this.armExpiryTimer();
    return Promise.all(writes).then(() => undefined);
  }

  private returnOrDeadLetter(candidate: Candidate, requeue: boolean, toTail: boolean): Promise<void> {
    const limit = this.config.deliveryLimit;
    if (requeue && (limit === undefined || candidate.deliveryCount < limit)) {
      if (toTail) {
        candidate.tailPosition = candidate.level.log.endOffset() + candidate.level.pending.length;
        candidate.tailSequence = ++this.tailSequence;
      }
      this.returnToPlace(candidate);
      this.readyCount++;
      this.readyBytes += candidate.message.body.byteLength;
      return Promise.resolve();
    }
    const reason: DeadLetterReason = requeue ? 'delivery-limit' : 'rejected';
    this.deadLettered++;
    this.deadLetterMessage(candidate.message, reason, candidate.deliveryCount);
    return candidate.level.state.deadLetter(candidate.offset, reason);
  }

  /** Extends (or shortens) how long a pulled message stays invisible. */
  changeVisibility(id: number, visibilityTimeoutMs: number): void {
    const entry = this.inFlight.get(id);
    if (!entry) throw new FerryError('UNKNOWN_DELIVERY', `delivery ${id} is not in flight on queue ${this.name}`);
    entry.deadlineMs = this.host.clock.monotonicMs() + visibilityTimeoutMs;
    this.visibility.push({ deadlineMs: entry.deadlineMs, id });
    this.armVisibilityTimer();
  }

  private takeOneInFlight(id: number): InFlight {
    const entry = this.inFlight.get(id);
    if (!entry) throw new FerryError('UNKNOWN_DELIVERY', `delivery ${id} is not in flight on queue ${this.name}`);
    this.inFlight.delete(id);
    return entry;
  }

  private takeInFlight(ids: readonly number[]): InFlight[] {
    if (ids.length === 1) return [this.takeOneInFlight(ids[0]!)];
    const entries: InFlight[] = [];
    const mark = ++this.settleSequence;
    for (const id of ids) {
      const entry = this.inFlight.get(id);
      if (!entry) throw new FerryError('UNKNOWN_DELIVERY', `delivery ${id} is not in flight on queue ${this.name}`);
      // A repeated id settles once.
      if (entry.settleMark === mark) continue;
      entry.settleMark = mark;
      entries.push(entry);
    }
    for (const entry of entries) this.inFlight.delete(entry.delivery.id);
    return entries;
  }

  /** Numbers the calls of takeInFlight, which mark the entries they take (see InFlight.settleMark). */
  private settleSequence = 0;

  /** Bookkeeping when a delivery leaves flight: consumer credit and FIFO groups. */
  private released(entry: InFlight): void {
    if (entry.consumer) entry.consumer.inFlight--;
    const group = entry.group;
    if (group === undefined) return;
    const count = (this.groupsInFlight.get(group) ?? 1) - 1;
    if (count > 0) {
      this.groupsInFlight.set(group, count);
      return;
    }
    this.groupsInFlight.delete(group);
    const waiting = this.groupsWaiting.get(group);
    if (waiting && waiting.length > 0) {
      const next = waiting.shift()!;
      if (waiting.length === 0) this.groupsWaiting.delete(group);
      // Parked messages are counted ready already.
      this.returnToPlace(next);
    }
  }

  /** Numbers the messages a quorum queue puts at its tail (Candidate.tailSequence). */
  private tailSequence = 0;

  /** Puts a ready message back at its place: its offset's, or the tail position a quorum queue gave it (see Level.requeued). */
  private returnToPlace(candidate: Candidate): void {
    if (candidate.tailPosition === AT_OFFSET) {
      candidate.level.returned.push(candidate);
      return;
    }
    const requeued = candidate.level.requeued;
    let at = requeued.length;
    while (at > 0 && comesBefore(candidate, requeued[at - 1]!)) at--;
    requeued.splice(at, 0, candidate);
  }

  /** Settles a ready message that leaves without delivery (expired, dropped for length). */
  private settleDropped(candidate: Candidate, reason: DeadLetterReason): void {
    this.deadLetterMessage(candidate.message, reason, candidate.deliveryCount);
    void candidate.level.state.deadLetter(candidate.offset, reason).catch(ignoreFailure);
  }

  /** Publishes a copy to the dead-letter exchange, with RabbitMQ's x-death history. */
  private deadLetterMessage(message: StoredMessage, reason: DeadLetterReason, deliveryCount: number): void {
    const exchange = this.config.deadLetterExchange;
    if (exchange === undefined) return;
    // A message that already died in this queue, with no rejection anywhere in its history,
    // is in a dead-letter cycle: it is dropped, as RabbitMQ does.
    const history = Array.isArray(message.headers['x-death']) ? (message.headers['x-death'] as HeaderTable[]) : [];
    if (reason !== 'rejected' && history.some((entry) => entry['queue'] === this.name) && !history.some((entry) => entry['reason'] === 'rejected')) return;
    const nowMs = this.host.clock.nowMs();
    const { expirationMs: _expiration, ...properties } = message.properties;
    // The keys it was published with (RabbitMQ's CC header adds some) are what x-death records;
    // it is dead-lettered by them and its BCC keys, or by the dead-letter routing key alone,
    // without its CC and BCC then.
    const carbonCopies = ccKeys(message.headers);
    const overridden = this.config.deadLetterRoutingKey !== undefined;
    const routingKey = this.config.deadLetterRoutingKey ?? message.routingKey;
    const headers = withDeathRecord(message, this.name, DEATH_REASONS[reason], nowMs, deliveryCount, [message.routingKey, ...carbonCopies]);
    if (overridden && carbonCopies.length > 0) delete headers['CC'];
    const blind = message.bccRoutingKeys;
    const extraKeys = overridden ? [] : blind === undefined ? carbonCopies : [...carbonCopies, ...blind];
    // Built by storedMessage, field by field (a spread followed by more keys gives each copy a
    // map of its own in V8, and the publish path reading them goes megamorphic). Not the
    // publisher's envelope (it encodes the message as published, without x-death), nor its
    // empty-headers flag: the headers hold x-death now.
    const copy = storedMessage(
      {
        routingKey,
        properties,
        headers,
        body: message.body,
        persistent: message.persistent,
        persistenceImplicit: message.persistenceImplicit,
        amqpHeaderTable: message.amqpHeaderTable,
        bccRoutingKeys: overridden ? undefined : blind,
      },
      message.exchange,
      nowMs,
      undefined,
    );
    this.host.deadLetter(exchange, copy, extraKeys.length > 0 ? extraKeys : undefined);
  }

  // ------------------------------------------------------------------ timers

  /**
   * True when the message's time to live has passed. A consumer may still take
   * a message in the very millisecond its TTL ends (`atDeliveryTime`), so a TTL
   * of 0 means "deliver now or never", as in RabbitMQ.
   */
  private effectiveTtlMs(message: StoredMessage): number {
    return Math.min(this.messageTtlMs ?? NEVER, message.properties.expirationMs ?? NEVER);
  }

  private isExpired(message: StoredMessage, nowMs: number, atDeliveryTime = false): boolean {
    const ttl = this.effectiveTtlMs(message);
    if (ttl === NEVER) return false;
    const expiresAtMs = message.arrivedAtMs + ttl;
    if (!atDeliveryTime) return expiresAtMs <= nowMs;
    // TTL 0 means delivered at once or never: "at once" is the dispatch that ends the publishing
    // turn, which a busy process may reach a few milliseconds after the message arrived.
    if (ttl === 0 && this.zeroTtlPending && message.arrivedAtMs >= this.zeroTtlSinceMs) return false;
    return expiresAtMs < nowMs;
  }

  private expiresAt(message: StoredMessage): number {
    return message.arrivedAtMs + this.effectiveTtlMs(message);
  }

  /** Expires messages at the head of each level (RabbitMQ expires only at the head). */
  private expireHead(): void {
    if (this.expiring) return; // Re-entered through a dead letter routed back here: the running pass continues.
    this.expiring = true;
    try {
      this.expireHeadOnce();
    } finally {
      this.expiring = false;
    }
    this.armExpiryTimer();
  }

  private expiring = false;

  private expireHeadOnce(): void {
    const nowMs = this.host.clock.nowMs();
    for (const level of this.levels) {
      for (;;) {
        const returned = level.returned.peek();
        const buffered = level.bufferHead < level.buffer.length ? level.buffer[level.bufferHead] : undefined;
        const requeued = this.requeuedNext(level, buffered);
        const head = returned ?? level.due[0] ?? requeued ?? buffered;
        if (!head) {
          if (level.cursor < level.log.endOffset()) this.refill(level);
          break;
        }
        if (!this.isExpired(head.message, nowMs)) break;
        if (head === returned) level.returned.pop();
        else if (head === level.due[0]) level.due.shift();
        else if (head === requeued) level.requeued.shift();
        else {
          level.bufferHead++;
          this.compactBuffer(level);
        }
        this.takeCounted(head);
        this.expired++;
        this.settleDropped(head, 'expired');
      }
    }
  }

  private armExpiryTimer(): void {
    if (this.messageTtlMs === undefined && this.readyCount === 0) return;
    let dueMs = NEVER;
    for (const level of this.levels) {
      const returned = level.returned.peek();
      const buffered = level.bufferHead < level.buffer.length ? level.buffer[level.bufferHead] : undefined;
      for (const head of [returned, level.due[0], this.requeuedNext(level, buffered), buffered]) if (head) dueMs = Math.min(dueMs, this.expiresAt(head.message));
    }
    if (dueMs === NEVER) return;
    if (this.expiryTimer && this.expiryTimer.dueMs <= dueMs) return;
    this.expiryTimer?.handle.cancel();
    const handle = this.host.clock.setTimer(dueMs - this.host.clock.nowMs(), () => {
      this.expiryTimer = null;
      this.expireHead();
    });
    this.expiryTimer = { handle, dueMs };
  }

  private armScheduleTimer(): void {
    const nextDueMs = this.scheduled.peekDueMs();
    if (nextDueMs === undefined) return;
    if (this.scheduleTimer && this.scheduleTimer.dueMs <= nextDueMs) return;
    this.scheduleTimer?.handle.cancel();
    const handle = this.host.clock.setTimer(nextDueMs - this.host.clock.nowMs(), () => {
      this.scheduleTimer = null;
      this.releaseDue();
    });
    this.scheduleTimer = { handle, dueMs: nextDueMs };
  }

  /** Moves delayed messages that fell due into the ready set. */
  private releaseDue(): void {
    if (this.deleted) return;
    const nowMs = this.host.clock.nowMs();
    const due: { level: Level; offset: number }[] = [];
    while (this.scheduled.size > 0 && this.scheduled.peekDueMs()! <= nowMs) {
      const entry = this.scheduled.pop()!;
      due.push({ level: this.levels[entry.level]!, offset: entry.offset });
    }
    void this.releaseInOrder(due);
    this.armScheduleTimer();
  }

  /**
   * Makes due messages ready, in due order. One the read-ahead has not reached
   * yet simply becomes ready where it stands in the log (the read will take it).
   */
  private async releaseInOrder(due: ReadonlyArray<{ level: Level; offset: number }>): Promise<void> {
    for (const { level, offset } of due) {
      const held = level.held.get(offset);
      if (held) level.held.delete(offset);
      const message = held ?? (await this.readOne(level, offset).catch(() => undefined));
      if (this.deleted || !message || level.state.isAcked(offset) || level.state.isDeadLettered(offset)) continue;
      void level.state.unschedule(offset).catch(() => undefined);
      this.readyCount++;
      if (offset >= level.cursor) {
        if (this.counted(level, offset)) level.unreadBytes += message.body.byteLength;
      } else {
        level.due.push({ level, offset, message, deliveryCount: level.state.deliveryCount(offset), tailPosition: AT_OFFSET, tailSequence: 0 });
        this.readyBytes += message.body.byteLength;
      }
    }
    this.dispatch();
  }

  private armVisibilityTimer(): void {
    const next = this.visibility.peek();
    if (!next) return;
    if (this.visibilityTimer && this.visibilityTimer.dueMs <= next.deadlineMs) return;
    this.visibilityTimer?.handle.cancel();
    const handle = this.host.clock.setTimer(next.deadlineMs - this.host.clock.monotonicMs(), () => {
      this.visibilityTimer = null;
      this.returnInvisible();
    });
    this.visibilityTimer = { handle, dueMs: next.deadlineMs };
  }

  /** Returns pulled messages whose visibility timeout passed. */
  private returnInvisible(): void {
    const nowMs = this.host.clock.monotonicMs();
    const expired: number[] = [];
    while (this.visibility.size > 0 && this.visibility.peek()!.deadlineMs <= nowMs) {
      const { id, deadlineMs } = this.visibility.pop()!;
      const entry = this.inFlight.get(id);
      // Stale heap entries (settled, or deadline moved) are skipped.
      if (entry && entry.deadlineMs === deadlineMs) expired.push(id);
    }
    if (expired.length > 0) void this.nack(expired, true, { returned: true }).catch(() => undefined);
    this.armVisibilityTimer();
  }

  private armIdleTimer(): void {
    const expiresMs = this.config.expiresMs;
    if (expiresMs === undefined || this.consumers.length > 0 || this.deleted) return;
    this.idleTimer?.cancel();
    this.idleTimer = this.host.clock.setTimer(expiresMs, () => {
      this.idleTimer = null;
      if (this.consumers.length === 0 && !this.deleted) this.host.unused(this, 'expired');
    });
  }

  /** Restarts the idle clock of an expiring queue (redeclare, get). */
  touch(): void {
    if (this.consumers.length === 0) this.armIdleTimer();
  }

  private async readOne(level: Level, offset: number): Promise<StoredMessage | undefined> {
    const [record] = await level.log.read(offset, { recordsMax: 1 });
    return record && record.offset === offset ? (messageOf(record) ?? undefined) : undefined;
  }

  // ------------------------------------------------------------------ admin

  /** Ready messages (not in flight, not delayed). */
  messageCount(): number {
    return this.readyCount;
  }

  /**
   * Bytes of ready message bodies. Exact, except that after a restart the
   * restored backlog of a queue without length limits is counted only once read.
   */
  messageBytes(): number {
    let bytes = this.readyBytes;
    for (const level of this.levels) bytes += level.unreadBytes;
    return bytes;
  }

  /** Delivered and not yet settled. */
  unsettledCount(): number {
    return this.inFlight.size;
  }

  /** Delayed messages not yet due. */
  scheduledCount(): number {
    return this.scheduled.size;
  }

  consumerCount(): number {
    return this.consumers.length;
  }

  /** Consumer tags, with the active one first on a single-active-consumer queue. */
  consumerTags(): string[] {
    return this.consumers.map((consumer) => consumer.options.tag);
  }

  /** The attached consumers' settings and state (monitoring), the active one first on a single-active-consumer queue. */
  consumerDetails(): ConsumerDetails[] {
    return this.consumers.map((consumer, index) => ({
      tag: consumer.options.tag,
      prefetch: consumer.options.prefetch,
      autoAck: consumer.options.autoAck,
      priority: consumer.options.priority ?? 0,
      exclusive: consumer.options.exclusive ?? false,
      inFlight: consumer.inFlight,
      flowing: consumer.flowing,
      active: !this.config.singleActiveConsumer || index === 0,
    }));
  }

  /**
   * Bytes of message bodies held in memory: ready messages read ahead or
   * returned, deliveries in flight and delayed messages of in-memory queues.
   * Walks the deliveries in flight: for monitoring, not for hot paths.
   */
  memoryBytes(): number {
    let bytes = this.readyBytes;
    for (const entry of this.inFlight.values()) bytes += entry.candidate.message.body.byteLength;
    for (const level of this.levels) for (const message of level.held.values()) bytes += message.body.byteLength;
    return bytes;
  }

  /**
   * Up to `max` ready messages, highest priority first and within a priority
   * in about the order they would be delivered, left where they are: nothing
   * is delivered, counted or written (management "peek"). Reads unread
   * messages from the log without moving the read cursor.
   */
  async peek(max: number): Promise<PeekedMessage[]> {
    this.assertLive();
    this.flushAllPending();
    const out: PeekedMessage[] = [];
    for (let index = this.levels.length - 1; index >= 0 && out.length < max; index--) {
      const level = this.levels[index]!;
      const held = [...level.returned.values(), ...level.buffer.slice(level.bufferHead)];
      for (const waiting of this.groupsWaiting.values()) for (const candidate of waiting) if (candidate.level === level) held.push(candidate);
      held.sort((left, right) => left.offset - right.offset);
      // Requeued messages go in before the first message (held or unread) published after their return.
      let requeuedAt = 0;
      const peekRequeued = (before: number): void => {
        while (requeuedAt < level.requeued.length && level.requeued[requeuedAt]!.tailPosition <= before && out.length < max) {
          const candidate = level.requeued[requeuedAt++]!;
          out.push({ message: candidate.message, priority: level.priority, deliveryCount: candidate.deliveryCount });
        }
      };
      for (const candidate of level.due) {
        if (out.length >= max) break;
        out.push({ message: candidate.message, priority: level.priority, deliveryCount: candidate.deliveryCount });
      }
      for (const candidate of held) {
        peekRequeued(candidate.offset);
        if (out.length >= max) break;
        out.push({ message: candidate.message, priority: level.priority, deliveryCount: candidate.deliveryCount });
      }
      // In-memory levels hold every ready message in memory; their log records are empty.
      if (level.inMemory) {
        peekRequeued(NEVER);
        continue;
      }
      let from = level.cursor;
      const end = level.log.endOffset();
      while (out.length < max && from < end) {
        const records = await level.log.read(from, { recordsMax: BUFFER_MESSAGES_MAX, bytesMax: REFILL_BYTES_MAX });
        if (records.length === 0) break;
        for (const record of records) {
          const offset = record.offset;
          from = offset + 1;
          if (out.length >= max) break;
          if (level.state.isAcked(offset) || level.state.isDeadLettered(offset) || level.state.scheduledAt(offset) !== undefined) continue;
          const message = messageOf(record);
          if (message === null || (!message.persistent && offset < level.restartEndOffset && this.config.durable && !level.external)) continue;
          peekRequeued(offset);
          if (out.length >= max) break;
          out.push({ message, priority: level.priority, deliveryCount: level.state.deliveryCount(offset) });
        }
      }
      peekRequeued(NEVER);
    }
    return out;
  }

  /** Settles every ready message; returns how many. In-flight ones stay. */
  async purge(): Promise<number> {
    this.flushAllPending();
    const count = this.readyCount;
    const writes: Promise<void>[] = [];
    for (const level of this.levels) {
      const offsets: number[] = [];
      for (const candidate of level.returned.values()) offsets.push(candidate.offset);
      for (let i = level.bufferHead; i < level.buffer.length; i++) offsets.push(level.buffer[i]!.offset);
      for (const candidate of level.due) offsets.push(candidate.offset);
      for (const candidate of level.requeued) offsets.push(candidate.offset);
      level.returned.clear();
      level.due = [];
      level.requeued = [];
      level.buffer = [];
      level.bufferHead = 0;
      level.unreadBytes = 0;
      const end = level.log.endOffset();
      if (level.cursor < end) {
        for (let offset = level.cursor; offset < end; offset++) {
          if (level.state.scheduledAt(offset) === undefined) offsets.push(offset);
        }
        level.cursor = end;
      }
      this.trimTail(level);
      if (offsets.length > 0) writes.push(level.state.ack(offsets));
    }
    for (const waiting of this.groupsWaiting.values()) for (const candidate of waiting) writes.push(candidate.level.state.ack([candidate.offset]));
    this.groupsWaiting.clear();
    this.readyCount = 0;
    this.readyBytes = 0;
    await Promise.all(writes);
    return count;
  }

  /**
   * Closes the queue for a clean broker shutdown: transient messages still
   * held are settled (they must not come back after the restart), then the
   * delivery state is flushed.
   */
  async close(): Promise<void> {
    this.flushAllPending();
    const inMemory: Candidate[] = [...this.inFlight.values()].map((entry) => entry.candidate);
    for (const level of this.levels) inMemory.push(...level.returned.values(), ...level.due, ...level.requeued, ...level.buffer.slice(level.bufferHead));
    for (const waiting of this.groupsWaiting.values()) inMemory.push(...waiting);
    for (const candidate of inMemory) if (!candidate.message.persistent && this.config.durable) candidate.level.transientOffsets.add(candidate.offset);
    for (const level of this.levels) {
      const offsets = [...level.transientOffsets].filter((offset) => !level.state.isAcked(offset) && !level.state.isDeadLettered(offset));
      level.transientOffsets.clear();
      if (offsets.length > 0) await level.state.ack(offsets).catch(() => undefined);
      await level.state.flush().catch(() => undefined);
    }
    this.markDeleted('broker shutting down', { shutdown: true });
  }

  /** Marks the queue deleted: consumers are told, pullers get nothing, timers stop. */
  markDeleted(reason: string, options: { shutdown?: boolean } = {}): void {
    if (this.deleted) return;
    this.deleted = true;
    for (const level of this.levels) {
      // Records never appended: on shutdown their publishes fail (nothing was written);
      // for a deleted queue they are confirmed, as the queue's messages are gone anyway.
      const waited = level.pendingWaited;
      level.pending = [];
      level.pendingHasMessages = false;
      level.pendingWaited = false;
      level.pendingBytes = 0;
      if (waited && options.shutdown) this.host.turn.fail(new FerryError('BROKER_CLOSED', `queue ${this.name} stopped before the message was written`));
    }
    for (const timer of [this.scheduleTimer?.handle, this.visibilityTimer?.handle, this.expiryTimer?.handle, this.idleTimer]) timer?.cancel();
    for (const consumer of this.consumers.splice(0)) consumer.options.onCancelled?.(reason);
    this.wakePullers();
  }

  /** True once deleted. */
  isDeleted(): boolean {
    return this.deleted;
  }

  /** The logs of this queue, lowest priority first. */
  logs(): Log[] {
    return this.levels.map((level) => level.log);
  }

  /** The states of this queue, lowest priority first. */
  states(): QueueState[] {
    return this.levels.map((level) => level.state);
  }

  private assertLive(): void {
    if (this.deleted) throw new FerryError('QUEUE_NOT_FOUND', `queue ${this.name} was deleted`);
  }
}

/** The routing keys of a message's CC header (RabbitMQ's sender-selected distribution); none without one. */
function ccKeys(headers: HeaderTable): string[] {
  const cc = headers['CC'];
  return Array.isArray(cc) ? (cc as readonly HeaderValue[]).filter((key): key is string => typeof key === 'string') : [];
}

/**
 * RabbitMQ's dead-letter history: `x-death` is a list of tables, one per
 * (queue, reason), newest first, each with a count; the first death is also
 * recorded in `x-first-death-*` headers.
 */
function withDeathRecord(message: StoredMessage, queue: string, reason: string, nowMs: number, _deliveryCount: number, routingKeys: readonly string[]): Record<string, HeaderValue> {
  const headers: Record<string, HeaderValue> = { ...message.headers };
  const previous = Array.isArray(headers['x-death']) ? (headers['x-death'] as HeaderTable[]) : [];
  const existing = previous.find((entry) => entry['queue'] === queue && entry['reason'] === reason);
  const rest = previous.filter((entry) => entry !== existing);
  const fresh: HeaderTable = {
    count: (typeof existing?.['count'] === 'number' ? existing['count'] : 0) + 1,
    reason,
    queue,
    time: Math.floor(nowMs / 1000),
    exchange: message.exchange,
    'routing-keys': [...routingKeys],
    ...(message.properties.expirationMs !== undefined ? { 'original-expiration': String(message.properties.expirationMs) } : {}),
  };
  // Key order as RabbitMQ's: a first death's entry as above, an entry added to an existing history sorted.
  const entry = previous.length === 0 ? fresh : Object.fromEntries(Object.entries(fresh).sort(([left], [right]) => (left < right ? -1 : 1)));
  headers['x-death'] = [entry, ...rest];
  if (headers['x-first-death-reason'] === undefined) {
    headers['x-first-death-exchange'] = message.exchange;
    headers['x-first-death-queue'] = queue;
    headers['x-first-death-reason'] = reason;
  }
  return headers;
}
