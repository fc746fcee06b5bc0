import type { Stream } from '../../core/stream/stream.js';
import { FerryError, isFerryError } from '../../lib/ferry-error.js';
import { streamEntryToJson } from './stream-entry-json.js';
import type { SubscriptionSink } from './subscription-sink.js';

/** Messages read from the stream at a time. */
const READ_BATCH_MAX = 100;
/** How long a caught-up feed waits for an append before it looks again (a stopped feed's waiter lasts at most this long). */
const TAIL_WAIT_MS = 30_000;

/** Where a {@link StreamFeed} reads. */
export interface StreamFeedOptions {
  readonly stream: Stream;
  readonly partition: number;
  /** The first offset to send. */
  readonly offset: number;
  readonly sink: SubscriptionSink;
  readonly encoding: 'auto' | 'base64';
  /** About the most bytes read at a time. */
  readonly readBytesMax: number;
}

/**
 * A reader that sends a stream partition's messages to a subscription's sink
 * in offset order from a start offset, then tails the partition for new
 * ones. It reads only while the client keeps up (one batch ahead at most),
 * so a slow client costs no memory; reading consumes nothing.
 */
export class StreamFeed {
  private nextOffset: number;
  private stopped = false;
  private wake: (() => void) | null = null;

  constructor(private readonly options: StreamFeedOptions) {
    this.nextOffset = options.offset;
  }

  /** Starts reading (once the sink is open). */
  start(): void {
    void this.run();
  }

  /** Stops for good; nothing is sent after this returns. */
  stop(): void {
    this.stopped = true;
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  /** Resolves on `stop()`, or on `event` settling. */
  private until(event: (resolve: () => void) => void): Promise<void> {
    return new Promise<void>((resolve) => {
      this.wake = resolve;
      event(resolve);
    }).finally(() => (this.wake = null));
  }

  private async run(): Promise<void> {
    const { stream, partition, sink, encoding, readBytesMax } = this.options;
    try {
      while (!this.stopped) {
        const entries = await stream.read(partition, this.nextOffset, { max: READ_BATCH_MAX, bytesMax: readBytesMax });
        if (this.stopped) return;
        if (entries.length === 0) {
          // Caught up: wait for an append (a deletion wakes this too, and the next read fails).
          await this.until((resolve) => void stream.waitForMessages(partition, this.nextOffset, TAIL_WAIT_MS).then(resolve));
          continue;
        }
        for (const entry of entries) {
          if (this.stopped) return;
          this.nextOffset = entry.offset + 1;
          const writable = sink.send({ type: 'message', id: String(entry.offset), data: streamEntryToJson(entry, encoding) });
          if (!writable) await this.until((resolve) => sink.onWritable(resolve));
        }
      }
    } catch (error) {
      if (this.stopped) return;
      sink.close(isFerryError(error) ? error : new FerryError('INTERNAL_ERROR', error instanceof Error ? error.message : String(error), { cause: error }));
    }
  }
}
