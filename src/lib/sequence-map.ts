import { assert } from './assert.js';

/** Entries at the window's head move to the side map once the window spans more than twice its entries plus this. */
const WINDOW_SLACK = 1024;
/** A key this far past the window's end starts a new window (the old entries move to the side map). */
const GAP_MAX = 1024;
/** The holes at the head are cut off once there are this many and they are half the window. */
const COMPACT_MIN = 1024;
/**
 * An emptied window up to this long keeps its array for the next one: emptying it with
 * `length = 0` drops its backing store, and the next set allocates another (a queue with one
 * message in flight at a time would allocate one for every delivery).
 */
const REUSE_MAX = 64;

/**
 * A map from integer keys mostly set in increasing order (delivery ids, delivery tags, queue
 * offsets) to values, kept in a window array indexed by `key - base` instead of a hash table: setting, finding
 * and deleting cost no hashing and no table rebuilds (a Map under a steady set and delete of
 * fresh keys rebuilds its table every few thousand operations, and each rebuild is garbage).
 * A deleted entry leaves a hole; the window's start moves past the holes at its head. An
 * entry left at the head for long (a message a consumer never acks) would keep a growing
 * window of holes behind it: once the window spans more than twice its entries plus
 * WINDOW_SLACK, entries at its head move to a Map on the side, so memory stays proportional to
 * the entries. A key below every key set before (or a key set again) is set in place when the
 * window covers it, else in the side map. Iteration gives the side map's entries first (in the
 * order set), then the window's in key order: for keys set in increasing order, a Map's
 * insertion order. It tolerates deletes while it runs.
 */
export class SequenceMap<V> {
  private window: (V | undefined)[] = [];
  /** Index in `window` of its first slot not yet dropped (slots before it are holes). */
  private head = 0;
  /** The key of `window[0]`. */
  private base = 0;
  /** Entries moved out of the window, all with keys below the window's; null when none. */
  private side: Map<number, V> | null = null;
  private count = 0;
  /** Every key set so far is below this. */
  private next = 0;

  get size(): number {
    return this.count;
  }

  /** Sets `value` (never undefined) at the integer `key`. */
  set(key: number, value: V): this {
    assert(Number.isSafeInteger(key), 'SequenceMap keys are integers');
    assert(value !== undefined, 'SequenceMap values are not undefined');
    if (key < this.next) {
      this.setBelow(key, value);
      return this;
    }
    const inWindow = this.count - (this.side?.size ?? 0);
    if (inWindow > 0 && key - (this.base + this.window.length) > GAP_MAX) this.moveToSide(this.window.length);
    if (inWindow === 0 || this.head === this.window.length) {
      this.head = 0;
      this.base = key;
      if (this.window.length > 0 && this.window.length <= REUSE_MAX) {
        // Shrinking to one element keeps the backing store (see REUSE_MAX); a set length is a
        // runtime call, left out in the usual case (one entry at a time).
        if (this.window.length !== 1) this.window.length = 1;
        this.window[0] = value;
        this.count++;
        this.next = key + 1;
        return this;
      }
      this.window.length = 0;
    } else {
      const window = this.window;
      while (this.base + window.length < key) window.push(undefined);
      if (window.length - this.head > 2 * inWindow + WINDOW_SLACK) this.moveToSide(this.head + (window.length - this.head) / 2);
    }
    // moveToSide may have replaced the array.
    this.window.push(value);
    this.count++;
    this.next = key + 1;
    return this;
  }

  /** A key below `next`: in its window slot when the window covers it, else on the side. */
  private setBelow(key: number, value: V): void {
    const index = key - this.base;
    if (index >= this.head && index < this.window.length) {
      if (this.window[index] === undefined) this.count++;
      this.window[index] = value;
      return;
    }
    const side = (this.side ??= new Map());
    if (!side.has(key)) this.count++;
    side.set(key, value);
  }

  get(key: number): V | undefined {
    const index = key - this.base;
    if (index >= this.head && index < this.window.length) return this.window[index];
    return this.side?.get(key);
  }

  has(key: number): boolean {
    return this.get(key) !== undefined;
  }

  delete(key: number): boolean {
    const window = this.window;
    const index = key - this.base;
    if (index >= this.head && index < window.length) {
      if (window[index] === undefined) return false;
      window[index] = undefined;
      this.count--;
      if (index === this.head) this.dropHeadHoles();
      return true;
    }
    const side = this.side;
    if (side === null || !side.delete(key)) return false;
    this.count--;
    if (side.size === 0) this.side = null;
    return true;
  }

  clear(): void {
    this.window = [];
    this.head = 0;
    this.base = this.next;
    this.side = null;
    this.count = 0;
  }

  *entries(): IterableIterator<[number, V]> {
    if (this.side !== null) {
      for (const entry of [...this.side]) if (this.side?.has(entry[0])) yield entry;
    }
    // By key, not by index: deletes during the iteration may compact the window.
    for (let key = this.base + this.head; key < this.next; key++) {
      if (key < this.base + this.head) key = this.base + this.head;
      const value = this.get(key);
      if (value !== undefined) yield [key, value];
    }
  }

  *keys(): IterableIterator<number> {
    for (const [key] of this.entries()) yield key;
  }

  *values(): IterableIterator<V> {
    for (const [, value] of this.entries()) yield value;
  }

  [Symbol.iterator](): IterableIterator<[number, V]> {
    return this.entries();
  }

  /** Moves the window's entries below index `until` to the side map and drops their slots. */
  private moveToSide(until: number): void {
    const window = this.window;
    const end = Math.min(Math.floor(until), window.length);
    for (let index = this.head; index < end; index++) {
      const value = window[index];
      if (value === undefined) continue;
      (this.side ??= new Map()).set(this.base + index, value);
      window[index] = undefined;
    }
    this.head = Math.max(this.head, end);
    this.dropHeadHoles();
  }

  /** Moves the head past holes; cuts them off the array once they are many. */
  private dropHeadHoles(): void {
    const window = this.window;
    let head = this.head;
    while (head < window.length && window[head] === undefined) head++;
    if (head === window.length) {
      // Empty: the next set starts a new window at its key (a short array is kept for it).
      if (window.length > REUSE_MAX) {
        window.length = 0;
        this.base += head;
        head = 0;
      }
    } else if (head >= COMPACT_MIN && head * 2 >= window.length) {
      this.window = window.slice(head);
      this.base += head;
      head = 0;
    }
    this.head = head;
  }
}
