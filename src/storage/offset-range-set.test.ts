import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fc from 'fast-check';
import { SeededRandom } from '../platform/random.js';
import { OffsetRangeSet } from './offset-range-set.js';

/** Checks the representation: ranges ascending, non-empty, disjoint and not touching; counts agree. */
function checkShape(set: OffsetRangeSet): void {
  const ranges = [...set.rangesInOrder()];
  let total = 0;
  for (let i = 0; i < ranges.length; i++) {
    const [start, end] = ranges[i]!;
    assert.ok(start < end, `range ${i} is not empty`);
    if (i > 0) assert.ok(ranges[i - 1]![1] < start, `range ${i} is apart from the one before`);
    total += end - start;
  }
  assert.equal(set.rangeCount(), ranges.length);
  assert.equal(set.count(), total);
  assert.equal(set.first(), ranges[0]?.[0]);
}

describe('OffsetRangeSet', () => {
  test('adjacent offsets merge into one range and a gap splits them', () => {
    const set = new OffsetRangeSet();
    assert.equal(set.add(5), true);
    assert.equal(set.add(5), false, 'adding twice reports nothing new');
    set.add(6);
    set.add(4);
    assert.deepEqual([...set.rangesInOrder()], [[4, 7]]);
    set.add(9);
    assert.deepEqual([...set.rangesInOrder()], [[4, 7], [9, 10]]);
    set.add(8);
    set.add(7);
    assert.deepEqual([...set.rangesInOrder()], [[4, 10]]);
    assert.equal(set.count(), 6);
    checkShape(set);
  });

  test('addRange swallows every range it overlaps or touches and counts only new offsets', () => {
    const set = new OffsetRangeSet();
    for (const start of [10, 20, 30, 40]) set.addRange(start, start + 5);
    assert.equal(set.addRange(12, 31), 10, 'the new offsets are 15-19 and 25-29');
    assert.deepEqual([...set.rangesInOrder()], [[10, 35], [40, 45]]);
    assert.equal(set.addRange(0, 100), 100 - 30);
    assert.deepEqual([...set.rangesInOrder()], [[0, 100]]);
    assert.equal(set.addRange(50, 50), 0, 'an empty range adds nothing');
    checkShape(set);
  });

  test('has and firstMissingFrom answer from the ranges', () => {
    const set = new OffsetRangeSet();
    set.addRange(0, 3);
    set.addRange(5, 8);
    assert.equal(set.has(2), true);
    assert.equal(set.has(3), false);
    assert.equal(set.has(7), true);
    assert.equal(set.has(8), false);
    assert.equal(set.firstMissingFrom(0), 3);
    assert.equal(set.firstMissingFrom(4), 4);
    assert.equal(set.firstMissingFrom(5), 8);
    assert.equal(set.firstMissingFrom(100), 100);
  });

  test('removeBelow and removeFrom cut ranges at any point', () => {
    const set = new OffsetRangeSet();
    set.addRange(0, 10);
    set.addRange(20, 30);
    set.addRange(40, 50);
    assert.equal(set.removeBelow(25), 15);
    assert.deepEqual([...set.rangesInOrder()], [[25, 30], [40, 50]]);
    assert.equal(set.removeFrom(45), 5);
    assert.deepEqual([...set.rangesInOrder()], [[25, 30], [40, 45]]);
    assert.equal(set.removeFrom(0), 10);
    assert.equal(set.rangeCount(), 0);
    assert.equal(set.first(), undefined);
    checkShape(set);
  });

  test('a million offsets added in order are one range', () => {
    const set = new OffsetRangeSet();
    for (let offset = 0; offset < 1_000_000; offset++) set.add(offset);
    assert.equal(set.rangeCount(), 1);
    assert.equal(set.count(), 1_000_000);
    assert.equal(set.firstMissingFrom(0), 1_000_000);
  });

  test('offsets added in random order collapse to one range once the gaps fill', () => {
    const random = new SeededRandom(11);
    const offsets = Array.from({ length: 100_000 }, (_, i) => i);
    for (let i = offsets.length - 1; i > 0; i--) {
      const j = random.int(i + 1);
      [offsets[i], offsets[j]] = [offsets[j]!, offsets[i]!];
    }
    const set = new OffsetRangeSet();
    let rangesMax = 0;
    for (const offset of offsets) {
      set.add(offset);
      rangesMax = Math.max(rangesMax, set.rangeCount());
    }
    assert.ok(rangesMax > 1000, 'many ranges existed along the way');
    assert.equal(set.rangeCount(), 1);
    assert.equal(set.count(), 100_000);
    checkShape(set);
  });

  test('every other offset of 200,000 stays fast (balanced tree)', () => {
    const set = new OffsetRangeSet();
    // Descending inserts would degrade an unbalanced tree to a list.
    for (let offset = 400_000; offset > 0; offset -= 2) set.add(offset);
    assert.equal(set.rangeCount(), 200_000);
    for (let offset = 1; offset < 400_000; offset += 2) set.add(offset);
    assert.equal(set.rangeCount(), 1);
    assert.deepEqual([...set.rangesInOrder()], [[1, 400_001]]);
  });

  test('behaves like a Set of offsets under any sequence of operations (property)', () => {
    const offset = fc.integer({ min: 0, max: 200 });
    const operation = fc.oneof(
      fc.record({ kind: fc.constant('add' as const), offset }),
      fc.record({ kind: fc.constant('addRange' as const), offset, length: fc.integer({ min: 0, max: 30 }) }),
      fc.record({ kind: fc.constant('removeBelow' as const), offset }),
      fc.record({ kind: fc.constant('removeFrom' as const), offset }),
    );
    fc.assert(
      fc.property(fc.array(operation, { maxLength: 120 }), (operations) => {
        const set = new OffsetRangeSet();
        const model = new Set<number>();
        for (const step of operations) {
          switch (step.kind) {
            case 'add':
              assert.equal(set.add(step.offset), !model.has(step.offset));
              model.add(step.offset);
              break;
            case 'addRange': {
              let added = 0;
              for (let o = step.offset; o < step.offset + step.length; o++) {
                if (!model.has(o)) added++;
                model.add(o);
              }
              assert.equal(set.addRange(step.offset, step.offset + step.length), added);
              break;
            }
            case 'removeBelow': {
              let removed = 0;
              for (const o of model) if (o < step.offset && model.delete(o)) removed++;
              assert.equal(set.removeBelow(step.offset), removed);
              break;
            }
            case 'removeFrom': {
              let removed = 0;
              for (const o of model) if (o >= step.offset && model.delete(o)) removed++;
              assert.equal(set.removeFrom(step.offset), removed);
              break;
            }
          }
          checkShape(set);
          assert.equal(set.count(), model.size);
        }
        for (let o = 0; o <= 240; o++) {
          assert.equal(set.has(o), model.has(o), `has(${o})`);
          let missing = o;
          while (model.has(missing)) missing++;
          assert.equal(set.firstMissingFrom(o), missing, `firstMissingFrom(${o})`);
        }
      }),
      { numRuns: 300 },
    );
  });
});
