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
