import type { FerryClientError } from './ferry-client-error.js';

/**
 * The buffer behind every consumer's async iterator: the connection pushes
 * items in, `for await` takes them out. When more than `highWater` items
 * wait, the subclass is told to hold the connection's reading (back pressure
 * to the socket) until half of them are taken. Ending with an error makes
 * the iterator throw it once the buffered items are taken.
 */
export abstract class InboundBuffer<T> implements AsyncIterableIterator<T> {
  private items: T[] = [];
  private head = 0;
  private waiter: { resolve: (result: IteratorResult<T>) => void; reject: (error: unknown) => void } | null = null;
  private ended = false;
  private failure: FerryClientError | null = null;
  private holding = false;

  protected constructor(private readonly highWater: number) {}

  /** Items received and not yet taken. */
  get bufferedCount(): number {
    return this.items.length - this.head;
  }

  /** True once the iterator has ended (no more items will come). */
  get isEnded(): boolean {
    return this.ended;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<T>> {
    if (this.head < this.items.length) return Promise.resolve({ value: this.take(), done: false });
    if (this.ended) {
      if (this.failure !== null) {
        const failure = this.failure;
        this.failure = null;
        return Promise.reject(failure);
      }
      return Promise.resolve({ value: undefined, done: true });
    }
    if (this.waiter !== null) return Promise.reject(new Error('next() called again before the previous call settled'));
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  /** Leaving a `for await` loop (break, return, throw) stops the consumer. */
  async return(): Promise<IteratorResult<T>> {
    await this.stop();
    return { value: undefined, done: true };
  }

  /** Stops the consumer (the subclass's cancel / close). */
  protected abstract stop(): Promise<void>;

  /** The item is being handed to the application (credit, offsets). */
  protected taken(_item: T): void {}

  /** Hold (true) or release (false) reading from the connection. */
  protected abstract holdReading(hold: boolean): void;

  protected push(item: T): void {
    if (this.ended) return;
    if (this.waiter !== null) {
      const waiter = this.waiter;
      this.waiter = null;
      this.taken(item);
      waiter.resolve({ value: item, done: false });
      return;
    }
    this.items.push(item);
    if (!this.holding && this.bufferedCount > this.highWater) {
      this.holding = true;
      this.holdReading(true);
    }
  }

  /** Takes the next buffered item (the caller checked there is one). */
  protected take(): T {
    const item = this.items[this.head]!;
    (this.items as Array<T | undefined>)[this.head] = undefined;
    this.head++;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    if (this.holding && this.bufferedCount <= this.highWater / 2) this.releaseHold();
    this.taken(item);
    return item;
  }

  /** Drops buffered items (their connection is gone; the server sends them again). */
  protected clearBuffer(predicate?: (item: T) => boolean): void {
    if (predicate === undefined) {
      this.items = [];
      this.head = 0;
    } else {
      this.items = this.items.slice(this.head).filter((item) => !predicate(item));
      this.head = 0;
    }
    this.releaseHold();
  }

  /** Ends the iterator: buffered items are still handed out, then it is done (or throws `error`). */
  protected end(error: FerryClientError | null): void {
    if (this.ended) return;
    this.ended = true;
    this.failure = error;
    this.releaseHold();
    if (this.waiter !== null && this.head >= this.items.length) {
      const waiter = this.waiter;
      this.waiter = null;
      if (error !== null) {
        this.failure = null;
        waiter.reject(error);
      } else waiter.resolve({ value: undefined, done: true });
    }
  }

  /** Forgets a hold without releasing it (its connection is gone). */
  protected forgetHold(): void {
    this.holding = false;
  }

  private releaseHold(): void {
    if (!this.holding) return;
    this.holding = false;
    this.holdReading(false);
  }
}
