import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { RecordInput, StoredRecord } from '../core/ports.js';
import { FerryError } from '../lib/ferry-error.js';
import { crc32c } from '../lib/crc32c.js';
import { BatchCompactor } from './batch-compactor.js';
import {
  BATCH_FORMAT_VERSION,
  checkBatch,
  compactBatch,
  COMPACTED_BATCH_FORMAT_VERSION,
  decodeBatch,
  encodeBatch,
  encodedRecordBytes,
  encodeGapBatch,
  readBatchHeader,
} from './record-batch.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function records(first: number, count: number): RecordInput[] {
  return Array.from({ length: count }, (_, i) => ({
    key: i % 3 === 0 ? null : encoder.encode(`key-${first + i}`),
    value: encoder.encode(`value-${first + i}`),
    headers: i % 2 === 0 ? [{ name: 'h', value: encoder.encode(`header-${first + i}`) }] : [],
    timestampMs: 10_000 + first + i,
  }));
}

const summary = (record: StoredRecord) => ({
  offset: record.offset,
  key: record.key === null ? null : decoder.decode(record.key),
  value: decoder.decode(record.value),
  headers: record.headers.map((header) => `${header.name}=${decoder.decode(header.value)}`),
  timestampMs: record.timestampMs,
});

test('a compacted batch keeps its header and the kept records byte for byte, with holes for the rest', () => {
  const producer = { producerId: 7, producerEpoch: 2, baseSequence: 40 };
  const inputs = records(100, 8);
  const bytes = encodeBatch(inputs, 100, 0, 0x10, producer);
  const removed = new Set([101, 102, 105, 107]);
  const result = compactBatch(bytes, (record) => !removed.has(record.offset), 0);
  assert.equal(result.kind, 'rewritten');
  if (result.kind !== 'rewritten') return;
  assert.equal(result.recordsRemoved, 4);
  const check = checkBatch(result.bytes, 0);
  assert.equal(check.kind, 'ok');
  if (check.kind !== 'ok') return;
  const original = readBatchHeader(bytes);
  assert.deepEqual({ ...check.header, lengthBytes: 0, compacted: false }, { ...original, lengthBytes: 0 }, 'base offset, count, timestamps, attributes stay');
  assert.equal(check.header.compacted, true);
  assert.equal(result.bytes[16], COMPACTED_BATCH_FORMAT_VERSION);
  assert.ok(result.bytes.byteLength < bytes.byteLength);
  const batch = decodeBatch(result.bytes);
  assert.deepEqual(batch.producer, producer);
  assert.equal(batch.attributes, 0x10);
  assert.deepEqual(
    batch.records.map(summary),
    decodeBatch(bytes).records.filter((record) => !removed.has(record.offset)).map(summary),
  );
  // Runs of removed records 101-102, 105 and 107: three holes of 20 bytes.
  const keptBytes = inputs.filter((_, i) => !removed.has(100 + i)).reduce((sum, input) => sum + encodedRecordBytes(input), 0);
  assert.equal(result.bytes.byteLength, 56 + keptBytes + 3 * 20);
});

test('compacting again merges new removals with the holes already there', () => {
  const inputs = records(0, 6);
  const bytes = encodeBatch(inputs, 0, 0);
  const first = compactBatch(bytes, (record) => record.offset !== 1, 0);
  assert.equal(first.kind, 'rewritten');
  if (first.kind !== 'rewritten') return;
  const second = compactBatch(first.bytes, (record) => record.offset !== 2, 0);
  assert.equal(second.kind, 'rewritten');
  if (second.kind !== 'rewritten') return;
  assert.equal(second.recordsRemoved, 1, 'holes are not counted again');
  assert.equal(second.bytes.byteLength, first.bytes.byteLength - encodedRecordBytes(inputs[2]!), 'record 2 joins the hole of record 1');
  assert.deepEqual(decodeBatch(second.bytes).records.map((record) => record.offset), [0, 3, 4, 5]);
  assert.equal(compactBatch(second.bytes, () => true, 0).kind, 'unchanged');
  const emptied = compactBatch(second.bytes, () => false, 0);
  assert.deepEqual(emptied, { kind: 'emptied', recordsRemoved: 4 });
});

test('records below the start offset are kept without asking', () => {
  const bytes = encodeBatch(records(0, 5), 0, 0);
  const asked: number[] = [];
  const result = compactBatch(bytes, (record) => {
    asked.push(record.offset);
    return false;
  }, 3);
  assert.deepEqual(asked, [3, 4]);
  assert.equal(result.kind, 'rewritten');
  if (result.kind === 'rewritten') assert.deepEqual(decodeBatch(result.bytes).records.map((record) => record.offset), [0, 1, 2]);
});

test('a gap batch covers its offsets with one hole and decodes to no records', () => {
  const bytes = encodeGapBatch(1_000, 300, 5, 9);
  const check = checkBatch(bytes, 0);
  assert.equal(check.kind, 'ok');
  if (check.kind !== 'ok') return;
  assert.deepEqual(check.header, { lengthBytes: 76, baseOffset: 1_000, recordCount: 300, firstTimestampMs: 5, maxTimestampMs: 9, attributes: 0, compacted: true });
  const batch = decodeBatch(bytes);
  assert.deepEqual(batch, { baseOffset: 1_000, records: [], attributes: 0, producer: null });
});

test('the compactor merges a run of emptied batches into one gap batch and keeps the rest in place', () => {
  const batches = [encodeBatch(records(0, 3), 0, 0), encodeBatch(records(3, 2), 3, 0), encodeBatch(records(5, 4), 5, 0), encodeBatch(records(9, 1), 9, 0), encodeBatch(records(10, 2), 10, 0)];
  // Batches 2 and 3 (offsets 3..8) and 4 (offset 9) lose everything, batch 5 half.
  const compactor = new BatchCompactor((record) => record.offset < 3 || record.offset === 10, 0);
  const out: Uint8Array[] = [];
  for (const bytes of batches) out.push(...compactor.push(bytes));
  out.push(...compactor.finish());
  assert.equal(compactor.recordsRemoved, 8);
  assert.equal(out.length, 3);
  assert.equal(out[0], batches[0], 'an untouched batch is the same bytes');
  assert.deepEqual(readBatchHeader(out[1]!), { ...readBatchHeader(out[1]!), baseOffset: 3, recordCount: 7, compacted: true });
  assert.deepEqual(decodeBatch(out[1]!).records, []);
  assert.deepEqual(decodeBatch(out[2]!).records.map((record) => record.offset), [10]);
  // A second pass with nothing new to remove gives the same bytes back.
  const again = new BatchCompactor((record) => record.offset < 3 || record.offset === 10, 0);
  const second: Uint8Array[] = [];
  for (const bytes of out) second.push(...again.push(bytes));
  second.push(...again.finish());
  assert.equal(again.recordsRemoved, 0);
  assert.deepEqual(second, out);
});

test('version 1 batches read as before, and unknown versions are refused', () => {
  const bytes = encodeBatch(records(0, 3), 0, 0);
  assert.equal(bytes[16], BATCH_FORMAT_VERSION);
  const check = checkBatch(bytes, 0);
  assert.ok(check.kind === 'ok' && !check.header.compacted);
  const future = new Uint8Array(bytes); // A copy: encodeBatch returns a view into a pooled buffer.
  future[16] = 3;
  new DataView(future.buffer).setUint32(4, crc32c(future.subarray(8)), true);
  assert.deepEqual(checkBatch(future, 0), { kind: 'unknown-version', version: 3 });
});

test('garbage inside a compacted batch with a valid checksum decodes to records or fails with CORRUPT_DATA, never anything else', () => {
  const compacted = compactBatch(encodeBatch(records(0, 6), 0, 0), (record) => record.offset % 2 === 0, 0);
  assert.equal(compacted.kind, 'rewritten');
  if (compacted.kind !== 'rewritten') return;
  const base = compacted.bytes;
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.integer({ min: 56, max: base.byteLength - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), (edits) => {
      const bytes = base.slice();
      for (const [at, value] of edits) bytes[at] = value;
      new DataView(bytes.buffer).setUint32(4, crc32c(bytes.subarray(8)), true);
      try {
        const batch = decodeBatch(bytes);
        for (const record of batch.records) assert.ok(record.offset >= 0 && record.offset < 6);
        const again = compactBatch(bytes, () => true, 0);
        assert.ok(again.kind === 'unchanged' || again.kind === 'emptied');
      } catch (error) {
        assert.ok(error instanceof FerryError && error.code === 'CORRUPT_DATA', `unexpected ${String(error)}`);
      }
    }),
    { numRuns: 2_000 },
  );
});
