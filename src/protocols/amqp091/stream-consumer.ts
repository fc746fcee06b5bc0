import { assert } from '../../lib/assert.js';
import { FerryError } from '../../lib/ferry-error.js';
import type { OffsetSpec, Stream, StreamEntry } from '../../core/stream/stream.js';
import type { FieldValue } from './codec/field-table.js';
import { maxAgeMs } from './queue-arguments.js';

/** A RabbitMQ stream queue is one log: Ferry streams declared over AMQP have one partition. */
const PARTITION = 0;
/**
 * How long a caught-up reader waits for new messages before it looks again.
 * A reader cancelled while waiting leaves its waiter behind at most this long.
 */
const TAIL_WAIT_MS = 30_000;

/** What a {@link StreamConsumer} needs from its channel. */
export interface StreamConsumerOptions {
  readonly stream: Stream;
  /** The first offset to deliver (see {@link Stream.offsetFor}). */
  readonly offset: number;
  /** Deliveries sent and not yet settled never exceed this (basic.qos prefetch-count, at least 1). */
  readonly prefetch: number;
  /** False while the channel cannot take deliveries (channel.flow, a full socket buffer). */
  readonly flowing: boolean;
  /** Sends one delivery; it counts against the prefetch until {@link StreamConsumer.settle}. */
  readonly deliver: (entry: StreamEntry) => void;
  /** The reader stopped by itself: the stream was deleted (or could not be read). Not called after {@link StreamConsumer.stop}. */
  readonly onEnd: (error: unknown) => void;
}

/**
 * One basic.consume on a RabbitMQ stream queue: a reader that delivers the
 * stream's messages in offset order from a start offset, then tails the
 * stream for new ones. Reading removes nothing; an ack (or nack, or reject)
 * only returns credit, so at most `prefetch` deliveries are unsettled at any
 * time — as RabbitMQ's stream queues treat every settlement as credit.
 *
 * Use: construct, send basic.consume-ok, then {@link start}; call
 * {@link settle} for each settled delivery, {@link setFlowing} when the
 * channel pauses or resumes, {@link stop} on basic.cancel or channel close
 * (no delivery follows it).
 */
export class StreamConsumer {
  private nextOffset: number;
  private unsettled = 0;
  private flowing: boolean;
  private started = false;
  private stopped = false;
  /** Wakes the reader after a settlement, a flow change or stop. */
  private wake: (() => void) | null = null;
  /** The pending deletion watch while the reader is blocked (at most one). */
  private watchingDeletion = false;

  constructor(
    readonly tag: string,
    private readonly options: StreamConsumerOptions,
  ) {
    assert(Number.isInteger(options.prefetch) && options.prefetch >= 1, 'a stream consumer needs a prefetch of at least 1');
    this.nextOffset = options.offset;
    this.flowing = options.flowing;
  }

  /** The stream read. */
  get stream(): Stream {
    return this.options.stream;
  }

  /** Starts reading (after basic.consume-ok went out). */
  start(): void {
    assert(!this.started, 'a stream consumer starts once');
    this.started = true;
    void this.run();
  }

  /** One of this consumer's deliveries was settled: its credit returns. */
  settle(): void {
    assert(this.unsettled > 0, 'a stream consumer settles only what it delivered');
    this.unsettled--;
    this.poke();
  }

  /** Pauses or resumes deliveries (the reader keeps its position). */
  setFlowing(flowing: boolean): void {
    if (flowing === this.flowing) return;
    this.flowing = flowing;
    this.poke();
  }

  /** Stops reading for good; no delivery is sent after this returns. */
  stop(): void {
    this.stopped = true;
    this.poke();
  }

  private poke(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  private nextChange(): Promise<void> {
    return new Promise((resolve) => (this.wake = resolve));
  }

  private async run(): Promise<void> {
    const stream = this.options.stream;
    try {
      while (!this.stopped) {
        if (stream.isDeleted()) throw new FerryError('STREAM_NOT_FOUND', `stream ${stream.name} was deleted`);
        const credit = this.options.prefetch - this.unsettled;
        if (!this.flowing || credit <= 0) {
          this.watchDeletion();
          await this.nextChange();
          continue;
        }
        const entries = await stream.read(PARTITION, this.nextOffset, { max: credit });
        if (entries.length === 0) {
          // Caught up: wait for the next append (deletion wakes this too), or a change here.
          await Promise.race([stream.waitForMessages(PARTITION, this.nextOffset, TAIL_WAIT_MS), this.nextChange()]);
          continue;
        }
        for (const entry of entries) {
          // Credit only grew while reading; a pause or stop keeps the rest for later.
          if (this.stopped || !this.flowing) break;
          this.unsettled++;
          this.nextOffset = entry.offset + 1;
          this.options.deliver(entry);
        }
      }
    } catch (error) {
      if (!this.stopped) {
        this.stopped = true;
        this.options.onEnd(error);
      }
    }
  }

  /**
   * A reader blocked on credit or flow is not waiting on the stream, so it
   * would not notice a deletion: watch for it (deletion wakes every waiter).
   */
  private watchDeletion(): void {
    if (this.watchingDeletion) return;
    this.watchingDeletion = true;
    void this.options.stream.waitForMessages(PARTITION, Number.MAX_SAFE_INTEGER, TAIL_WAIT_MS).then(() => {
      this.watchingDeletion = false;
      if (this.stopped) return;
      if (this.options.stream.isDeleted()) this.poke();
      else if (!this.flowing || this.unsettled >= this.options.prefetch) this.watchDeletion();
    });
  }
}

/**
 * Where a stream consumer starts, from basic.consume's `x-stream-offset`
 * argument as RabbitMQ reads it: absent means `next`; `first`, `last` or
 * `next`; an integer (any integer field type) is an offset; a timestamp
 * (field type `T`, seconds since the epoch) is a point in time; any other
 * string is an interval in `x-max-age` syntax (`10m`: ten minutes before
 * `nowMs`). Anything else is PRECONDITION_FAILED.
 */
export function offsetSpecFromArgument(value: FieldValue | undefined, nowMs: number): OffsetSpec {
  if (value === undefined) return 'next';
  const invalid = (what: string) => new FerryError('PRECONDITION_FAILED', `invalid arg 'x-stream-offset' for a stream consumer: ${what}`);
  switch (value.type) {
    case 'longstr': {
      const text = new TextDecoder().decode(value.value);
      if (text === 'first' || text === 'last' || text === 'next') return text;
      const intervalMs = maxAgeMs(text);
      if (intervalMs === undefined) throw invalid(`'${text}' is neither first, last, next nor an interval such as '10m'`);
      return { timestampMs: Math.max(0, nowMs - intervalMs) };
    }
    case 'timestamp':
      return { timestampMs: Number(value.value) * 1000 };
    case 'int8':
    case 'uint8':
    case 'int16':
    case 'uint16':
    case 'int32':
    case 'uint32':
    case 'int64': {
      const offset = Number(value.value);
      if (!Number.isSafeInteger(offset) || offset < 0) throw invalid(`offset ${value.value} is not a non-negative integer`);
      return { offset };
    }
    default:
      throw invalid(`a ${value.type} is neither an offset, a timestamp nor a string`);
  }
}
