import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SegmentIndex } from './segment-index.js';

test('batchPositionAtOrAfter finds the first indexed batch start at or after a position', () => {
  const index = new SegmentIndex(100);
  // Batches at 32, 90 (not indexed: within the interval), 200, 450; an entry at most every 100 bytes of batches.
  for (const [relativeOffset, position] of [[0, 32], [5, 90], [9, 200], [20, 450]] as const) index.addBatch(relativeOffset, position, 1_000);
  assert.equal(index.batchPositionAtOrAfter(0), 32);
  assert.equal(index.batchPositionAtOrAfter(32), 32);
  assert.equal(index.batchPositionAtOrAfter(33), 200, 'a batch the index skipped is not a known boundary');
  assert.equal(index.batchPositionAtOrAfter(450), 450);
  assert.equal(index.batchPositionAtOrAfter(451), undefined);
  assert.equal(new SegmentIndex(100).batchPositionAtOrAfter(0), undefined);
});

test('relativeOffsetForTimestamp never skips a record at or after the time, before and after an encode and decode', () => {
  let seed = 12345;
  const random = (): number => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    return seed / 2_147_483_648;
  };
  for (let round = 0; round < 50; round++) {
    const index = new SegmentIndex(64 + Math.floor(random() * 200));
    // Batches of one to three records; timestamps mostly rising, sometimes falling back (producers send any times).
    const records: number[] = [];
    let position = 32;
    let time = 1_000;
    for (let batch = 0; batch < 200; batch++) {
      const count = 1 + Math.floor(random() * 3);
      const times = Array.from({ length: count }, () => (time += random() < 0.8 ? Math.floor(random() * 5) : -Math.floor(random() * 20)));
      index.addBatch(records.length, position, Math.max(...times));
      records.push(...times);
      position += 40 + Math.floor(random() * 60);
    }
    const decoded = SegmentIndex.decode(index.encode(), 100);
    for (let probe = 0; probe < 100; probe++) {
      const target = 900 + Math.floor(random() * (time - 800));
      const first = records.findIndex((recordTime) => recordTime >= target);
      for (const which of [index, decoded]) {
        const found = which.relativeOffsetForTimestamp(target);
        if (first < 0) assert.equal(found, undefined, `round ${round}: nothing at or after ${target}`);
        else assert.ok(found !== undefined && found <= first, `round ${round}: ${found} for ${target}, first record at ${first}`);
      }
    }
  }
});
