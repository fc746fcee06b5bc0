import type { RecordCursor } from '../../core/ports.js';
import type { Stream } from '../../core/stream/stream.js';

/** What a {@link StreamSubscription} needs from its channel. */
export interface StreamSubscriptionHost {
  /** Most entries per read (and so per `streamDeliver` frame, before credit). */
  readonly readMessagesMax: number;
  /** About this many bytes per read. */
  readonly readBytesMax: number;
  /** True while the connection's output is backed up. */
  outgoingFull(): boolean;
  /** Pokes the subscription once the output drained below its high-water mark. */
  waitForOutput(subscription: StreamSubscription): void;
  /** Sends the cursor's records as `streamDeliver` entries. */
  send(subscription: StreamSubscription, records: RecordCursor): void;
  /** The subscription ended by itself (its stream was deleted, or a read failed). */
  ended(subscription: StreamSubscription, error: unknown): void;
}

/**
 * One `streamSubscribe`: reads a stream partition from an offset and pushes
 * what it reads, never more entries than the credit the client gave
 * (`streamCredit` adds more), pausing while the connection's socket is
 * backed up and, once caught up, until the partition's next durable append.
 * Entries go out as stored, walked in place (see delivery-frames.ts): nothing
 * is decoded and no object is made per entry.
 */
export class StreamSubscription {
  private stopped = false;
  private wake: (() => void) | null = null;

  constructor(
    readonly id: number,
    readonly stream: Stream,
    readonly partition: number,
    private offset: number,
    private credit: number,
    private readonly host: StreamSubscriptionHost,
  ) {}

  /** The offset of the next entry it will send. */
  get nextOffset(): number {
    return this.offset;
  }

  /** Entries it may still send. */
  get remainingCredit(): number {
    return this.credit;
  }

  /** Starts reading (after the subscribe answer went out). */
  start(): void {
    // run() handles its own failures; nothing may escape as an unhandled rejection.
    this.run().catch(() => undefined);
  }

  /** Adds credit and resumes a reader waiting for it. */
  addCredit(credit: number): void {
    this.credit += credit;
    this.poke();
  }

  /** Resumes a waiting reader so it looks again (credit, a drained socket, an append, stop). */
  poke(): void {
    const wake = this.wake;
    if (wake === null) return;
    this.wake = null;
    wake();
  }

  /** Stops for good; nothing is sent after it. */
  stop(): void {
    this.stopped = true;
    this.poke();
  }

  private waitForPoke(): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
    });
  }

  private async run(): Promise<void> {
    try {
      while (!this.stopped) {
        if (this.credit <= 0) {
          await this.waitForPoke();
          continue;
        }
        if (this.host.outgoingFull()) {
          this.host.waitForOutput(this);
          await this.waitForPoke();
          continue;
        }
        const records = await this.stream.readCursor(this.partition, this.offset, { max: Math.min(this.credit, this.host.readMessagesMax), bytesMax: this.host.readBytesMax });
        if (this.stopped) return;
        if (records.lastOffset === undefined) {
          await this.waitForAppend();
          continue;
        }
        // A read never returns more than asked, and credit only grows meanwhile.
        this.credit -= records.count;
        this.offset = records.lastOffset + 1;
        this.host.send(this, records);
      }
    } catch (error) {
      if (!this.stopped) {
        this.stopped = true;
        this.host.ended(this, error);
      }
    }
  }

  /** Waits for the next durable append to the partition (or the stream's deletion, or stop). */
  private async waitForAppend(): Promise<void> {
    if (this.stream.isDeleted()) {
      // Reading throws STREAM_NOT_FOUND: the loop ends the subscription.
      await this.stream.read(this.partition, this.offset);
      return;
    }
    // Appended between the read and now: read again at once.
    if (this.stream.endOffset(this.partition) > Math.max(this.offset, this.stream.startOffset(this.partition))) return;
    const stopListening = this.stream.onAppended(this.partition, () => this.poke());
    try {
      await this.waitForPoke();
    } finally {
      stopListening();
    }
  }
}
