/**
 * A min-heap of delayed messages by due time, in parallel typed arrays:
 * 17 bytes an entry (due time, offset, priority level) instead of an object
 * each, so a million delayed messages cost about 17 MB here.
 */
export class ScheduleHeap {
  private dueMs = new Float64Array(64);
  private offsets = new Float64Array(64);
  private levels = new Uint8Array(64);
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** The earliest due time, or undefined when empty. */
  peekDueMs(): number | undefined {
    return this.count > 0 ? this.dueMs[0] : undefined;
  }

  push(dueMs: number, level: number, offset: number): void {
    if (this.count === this.dueMs.length) this.grow();
    let index = this.count++;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (this.dueMs[parent]! <= dueMs) break;
      this.move(parent, index);
      index = parent;
    }
    this.dueMs[index] = dueMs;
    this.offsets[index] = offset;
    this.levels[index] = level;
  }

  /** Removes the earliest entry. */
  pop(): { dueMs: number; level: number; offset: number } | undefined {
    if (this.count === 0) return undefined;
    const top = { dueMs: this.dueMs[0]!, level: this.levels[0]!, offset: this.offsets[0]! };
    const last = --this.count;
    if (last > 0) {
      const dueMs = this.dueMs[last]!;
      const offset = this.offsets[last]!;
      const level = this.levels[last]!;
      let index = 0;
      for (;;) {
        const left = index * 2 + 1;
        if (left >= last) break;
        const right = left + 1;
        const child = right < last && this.dueMs[right]! < this.dueMs[left]! ? right : left;
        if (this.dueMs[child]! >= dueMs) break;
        this.move(child, index);
        index = child;
      }
      this.dueMs[index] = dueMs;
      this.offsets[index] = offset;
      this.levels[index] = level;
    }
    return top;
  }

  private move(from: number, to: number): void {
    this.dueMs[to] = this.dueMs[from]!;
    this.offsets[to] = this.offsets[from]!;
    this.levels[to] = this.levels[from]!;
  }

  private grow(): void {
    const capacity = this.dueMs.length * 2;
    const dueMs = new Float64Array(capacity);
    dueMs.set(this.dueMs);
    const offsets = new Float64Array(capacity);
    offsets.set(this.offsets);
    const levels = new Uint8Array(capacity);
    levels.set(this.levels);
    this.dueMs = dueMs;
    this.offsets = offsets;
    this.levels = levels;
  }
}
