import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ScheduleHeap } from './schedule-heap.js';

test('the schedule heap pops entries in due-time order with their level and offset', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 1e9 }), fc.integer({ min: 0, max: 9 }), fc.nat()), { maxLength: 300 }), (entries) => {
      const heap = new ScheduleHeap();
      for (const [dueMs, level, offset] of entries) heap.push(dueMs, level, offset);
      assert.equal(heap.size, entries.length);
      const popped: Array<[number, number, number]> = [];
      for (let entry = heap.pop(); entry; entry = heap.pop()) popped.push([entry.dueMs, entry.level, entry.offset]);
      assert.deepEqual(popped.map(([dueMs]) => dueMs), entries.map(([dueMs]) => dueMs).sort((a, b) => a - b));
      const key = (entry: readonly number[]) => entry.join(',');
      assert.deepEqual(popped.map(key).sort(), entries.map(key).sort(), 'every entry comes back whole');
      assert.equal(heap.peekDueMs(), undefined);
    }),
  );
});
