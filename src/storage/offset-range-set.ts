import { assert } from '../lib/assert.js';

/** One node of the AVL tree: a half-open range [start, end), keyed by start. */
interface RangeNode {
  start: number;
  end: number;
  left: RangeNode | null;
  right: RangeNode | null;
  height: number;
}

function height(node: RangeNode | null): number {
  return node === null ? 0 : node.height;
}

function update(node: RangeNode): void {
  node.height = 1 + Math.max(height(node.left), height(node.right));
}

function rotateRight(node: RangeNode): RangeNode {
  const pivot = node.left!;
  node.left = pivot.right;
  pivot.right = node;
  update(node);
  update(pivot);
  return pivot;
}

function rotateLeft(node: RangeNode): RangeNode {
  const pivot = node.right!;
  node.right = pivot.left;
  pivot.left = node;
  update(node);
  update(pivot);
  return pivot;
}

/** Restores the AVL balance of `node` after one of its subtrees changed height by one. */
function balance(node: RangeNode): RangeNode {
  update(node);
  const skew = height(node.left) - height(node.right);
  if (skew > 1) {
    if (height(node.left!.left) < height(node.left!.right)) node.left = rotateLeft(node.left!);
    return rotateRight(node);
  }
  if (skew < -1) {
    if (height(node.right!.right) < height(node.right!.left)) node.right = rotateRight(node.right!);
    return rotateLeft(node);
  }
  return node;
}

function insertNode(node: RangeNode | null, start: number, end: number): RangeNode {
  if (node === null) return { start, end, left: null, right: null, height: 1 };
  assert(start !== node.start, 'range starts are unique');
  if (start < node.start) node.left = insertNode(node.left, start, end);
  else node.right = insertNode(node.right, start, end);
  return balance(node);
}

function removeMin(node: RangeNode): RangeNode | null {
  if (node.left === null) return node.right;
  node.left = removeMin(node.left);
  return balance(node);
}

function removeNode(node: RangeNode | null, start: number): RangeNode | null {
  assert(node !== null, 'the range to remove exists');
  if (start < node.start) {
    node.left = removeNode(node.left, start);
  } else if (start > node.start) {
    node.right = removeNode(node.right, start);
  } else {
    if (node.left === null) return node.right;
    if (node.right === null) return node.left;
    let successor = node.right;
    while (successor.left !== null) successor = successor.left;
    successor.right = removeMin(node.right);
    successor.left = node.left;
    return balance(successor);
  }
  return balance(node);
}

/**
 * A set of non-negative integer offsets held as sorted, disjoint, non-adjacent
 * half-open ranges [start, end) in an AVL tree. Memory is proportional to the
 * number of ranges, not of offsets: a queue acked in order is one range, however
 * long. Every operation is O(log n) in the number of ranges, plus O(log n) per
 * range merged or removed (each range is created once, so that is amortised).
 *
 * Used for a queue's acked and dead-lettered offsets (QueueStateStore).
 */
export class OffsetRangeSet {
  private root: RangeNode | null = null;
  private ranges = 0;
  private offsets = 0;

  /** Adds one offset; returns true when it was absent. */
  add(offset: number): boolean {
    return this.addRange(offset, offset + 1) === 1;
  }

  /** Adds every offset in [start, end); returns how many were absent. An empty range adds nothing. */
  addRange(start: number, end: number): number {
    assert(Number.isSafeInteger(start) && Number.isSafeInteger(end) && start >= 0, 'offsets are non-negative safe integers');
    if (end <= start) return 0;
    let added = end - start;
    // The range that starts at or before `start`: merge into it when it touches [start, end).
    let target = this.floorNode(start);
    if (target !== null && target.end >= start) {
      if (target.end >= end) return 0;
      added -= target.end - start;
      target.end = end;
    } else {
      target = this.ceilingNode(start);
      if (target !== null && target.start <= end) {
        // Lowering a start keeps the order: the range before `target` ends before `start`.
        added -= Math.min(target.end, end) - target.start;
        target.start = start;
        target.end = Math.max(target.end, end);
      } else {
        this.root = insertNode(this.root, start, end);
        this.ranges++;
        this.offsets += added;
        return added;
      }
    }
    // `target` grew to the right: swallow every following range it now touches.
    for (let next = this.ceilingNode(target.start + 1); next !== null && next.start <= target.end; next = this.ceilingNode(target.start + 1)) {
      added -= Math.min(next.end, target.end) - next.start;
      target.end = Math.max(target.end, next.end);
      this.root = removeNode(this.root, next.start);
      this.ranges--;
    }
    this.offsets += added;
    return added;
  }

  /** True when `offset` is in the set. */
  has(offset: number): boolean {
    const node = this.floorNode(offset);
    return node !== null && node.end > offset;
  }

  /** The first offset >= `offset` that is not in the set. */
  firstMissingFrom(offset: number): number {
    const node = this.floorNode(offset);
    return node !== null && node.end > offset ? node.end : offset;
  }

  /** The start of the first range that begins at or after `offset`; Infinity when none does. */
  nextStartFrom(offset: number): number {
    return this.ceilingNode(offset)?.start ?? Number.POSITIVE_INFINITY;
  }

  /** Number of offsets in the set. */
  count(): number {
    return this.offsets;
  }

  /** Number of ranges the set is held as (its memory cost). */
  rangeCount(): number {
    return this.ranges;
  }

  /** The smallest offset in the set, or undefined when empty. */
  first(): number | undefined {
    let node = this.root;
    if (node === null) return undefined;
    while (node.left !== null) node = node.left;
    return node.start;
  }

  /** Removes every offset below `offset`; returns how many were removed. */
  removeBelow(offset: number): number {
    let removed = 0;
    for (;;) {
      let node = this.root;
      if (node === null) break;
      while (node.left !== null) node = node.left;
      if (node.start >= offset) break;
      if (node.end <= offset) {
        removed += node.end - node.start;
        this.root = removeNode(this.root, node.start);
        this.ranges--;
      } else {
        // Raising the smallest start keeps the order.
        removed += offset - node.start;
        node.start = offset;
        break;
      }
    }
    this.offsets -= removed;
    return removed;
  }

  /** Removes every offset at or above `offset`; returns how many were removed. */
  removeFrom(offset: number): number {
    let removed = 0;
    for (;;) {
      let node = this.root;
      if (node === null) break;
      while (node.right !== null) node = node.right;
      if (node.end <= offset) break;
      if (node.start >= offset) {
        removed += node.end - node.start;
        this.root = removeNode(this.root, node.start);
        this.ranges--;
      } else {
        removed += node.end - offset;
        node.end = offset;
        break;
      }
    }
    this.offsets -= removed;
    return removed;
  }

  /** Empties the set. */
  clear(): void {
    this.root = null;
    this.ranges = 0;
    this.offsets = 0;
  }

  /** The ranges in ascending order, as [start, end) pairs. */
  *rangesInOrder(): IterableIterator<readonly [start: number, end: number]> {
    const stack: RangeNode[] = [];
    let node = this.root;
    while (node !== null || stack.length > 0) {
      while (node !== null) {
        stack.push(node);
        node = node.left;
      }
      const current = stack.pop()!;
      yield [current.start, current.end];
      node = current.right;
    }
  }

  /** The range with the greatest start <= `offset`. */
  private floorNode(offset: number): RangeNode | null {
    let node = this.root;
    let found: RangeNode | null = null;
    while (node !== null) {
      if (node.start <= offset) {
        found = node;
        node = node.right;
      } else {
        node = node.left;
      }
    }
    return found;
  }

  /** The range with the smallest start >= `offset`. */
  private ceilingNode(offset: number): RangeNode | null {
    let node = this.root;
    let found: RangeNode | null = null;
    while (node !== null) {
      if (node.start >= offset) {
        found = node;
        node = node.left;
      } else {
        node = node.right;
      }
    }
    return found;
  }
}
