import { test } from 'node:test';
import assert from 'node:assert/strict';
import { murmur2, partitionForKey } from './partitioner.js';

const bytes = (text: string) => new TextEncoder().encode(text);

test('murmur2 gives the values Kafka clients compute for the same keys', () => {
  // Known outputs of Kafka's Utils.murmur2 for these inputs.
  assert.equal(murmur2(bytes('21')), -973932308);
  assert.equal(murmur2(bytes('foobar')), -790332482);
  assert.equal(murmur2(bytes('a-little-bit-long-string')), -985981536);
  assert.equal(murmur2(bytes('a-little-bit-longer-string')), -1486304829);
  assert.equal(murmur2(bytes('lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8')), -58897971);
});

test('a key always maps to one partition within range, and keys spread over partitions', () => {
  const counts = new Array<number>(8).fill(0);
  for (let i = 0; i < 8_000; i++) {
    const partition = partitionForKey(bytes(`key-${i}`), 8);
    assert.ok(partition >= 0 && partition < 8);
    assert.equal(partitionForKey(bytes(`key-${i}`), 8), partition);
    counts[partition]!++;
  }
  for (const count of counts) assert.ok(count > 800 && count < 1_200, `uneven spread: ${counts.join(',')}`);
});
