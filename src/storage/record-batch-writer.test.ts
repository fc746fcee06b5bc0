import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RecordInput } from '../core/ports.js';
import { checkBatch, decodeBatch, encodeBatch, encodeEmptyBatch, RecordBatchWriter } from './record-batch.js';

const encoder = new TextEncoder();
const text = (value: string): Uint8Array => encoder.encode(value);

/** Writes `records` into `writer` from one source buffer, as a protocol frame would hand them over. */
function writeAll(writer: RecordBatchWriter, records: readonly RecordInput[], repeat: boolean): void {
  let previous: RecordInput | undefined;
  for (const record of records) {
    // Every field of the record lives somewhere in one source buffer, behind some unrelated bytes.
    const parts = [text('junk'), record.key ?? new Uint8Array(0), ...(record.headers ?? []).map((header) => header.value), record.value];
    const source = new Uint8Array(parts.reduce((total, part) => total + part.byteLength, 0));
    const starts: number[] = [];
    let at = 0;
    for (const part of parts) {
      starts.push(at);
      source.set(part, at);
      at += part.byteLength;
    }
    const headers = record.headers ?? [];
    const valueStart = starts[starts.length - 1]!;
    if (repeat && previous !== undefined && sameKeyAndHeaders(previous, record)) {
      writer.recordAgain(record.timestampMs!, source, valueStart, record.value.byteLength);
    } else {
      writer.recordStart(record.timestampMs!, source, starts[1]!, record.key === null || record.key === undefined ? -1 : record.key.byteLength, headers.length);
      headers.forEach((header, index) => writer.recordHeader(header.name, source, starts[2 + index]!, header.value.byteLength));
      writer.recordEnd(source, valueStart, record.value.byteLength);
    }
    previous = record;
  }
}

function sameKeyAndHeaders(left: RecordInput, right: RecordInput): boolean {
  return JSON.stringify([left.key && [...left.key], left.headers?.map((header) => [header.name, [...header.value]])]) === JSON.stringify([right.key && [...right.key], right.headers?.map((header) => [header.name, [...header.value]])]);
}

const RECORDS: RecordInput[] = [
  { timestampMs: 2_000, key: text('orders'), value: text('first body'), headers: [{ name: 'm', value: text('envelope') }] },
  { timestampMs: 2_500, key: text('orders'), value: text('a body long enough to be copied natively, not byte by byte'), headers: [{ name: 'm', value: text('envelope') }] },
  { timestampMs: 1_500, key: text('orders'), value: new Uint8Array(0), headers: [{ name: 'm', value: text('envelope') }] },
  { timestampMs: 3_000, key: null, value: text('no key'), headers: [] },
  { timestampMs: 3_000, key: new Uint8Array(0), value: text('two headers'), headers: [{ name: 'content-type', value: text('text/plain') }, { name: 'ünïcode', value: new Uint8Array(0) }] },
];

test('a written batch is byte for byte the batch encodeBatch makes of the same records', () => {
  const stamp = { producerId: 77, producerEpoch: 2, baseSequence: 40 };
  for (const repeat of [false, true]) {
    const writer = new RecordBatchWriter(0, 0, 0, 16); // Sized for nothing: it grows.
    writeAll(writer, RECORDS, repeat);
    assert.equal(writer.count, RECORDS.length);
    assert.equal(writer.valueBytesMax, RECORDS[1]!.value.byteLength);
    const written = writer.seal(1_000, 3, stamp);
    const encoded = encodeBatch(RECORDS, 1_000, 9_999, 3, stamp);
    assert.deepEqual([...written], [...encoded], `repeat ${repeat}`);
    assert.equal(new Uint8Array(written.buffer, written.byteOffset - 16, 16).byteLength, 16, 'the headroom lies before the batch');
    const check = checkBatch(written, 0);
    assert.equal(check.kind, 'ok');
    const decoded = decodeBatch(written);
    assert.deepEqual(decoded.records.map((record) => [record.offset, record.timestampMs, record.key && [...record.key], [...record.value]]), RECORDS.map((record, index) => [1_000 + index, record.timestampMs, record.key ? [...record.key] : null, [...record.value]]));
    assert.deepEqual(decoded.producer, stamp);
  }
});

test('a batch sized exactly by its counts does not grow, and keeps no spare bytes', () => {
  const records = RECORDS.slice(0, 3);
  const fieldBytes = records.reduce((total, record) => total + record.key!.byteLength + 1 + record.headers![0]!.value.byteLength + record.value.byteLength, 0);
  const writer = new RecordBatchWriter(records.length, records.length, fieldBytes);
  writeAll(writer, records, true);
  const written = writer.seal(0);
  assert.equal(written.buffer.byteLength >= written.byteLength, true);
  assert.equal(written.byteLength, encodeBatch(records, 0, 0).byteLength);
});

test('misuse is refused: an empty batch, a bad timestamp, a repeat with nothing before it, a second seal', () => {
  assert.throws(() => new RecordBatchWriter(1, 0, 1).seal(0), { code: 'INVALID_ARGUMENT' });
  const source = text('x');
  assert.throws(() => new RecordBatchWriter(1, 0, 1).recordStart(Number.NaN, source, 0, -1, 0), { code: 'INVALID_ARGUMENT' });
  assert.throws(() => new RecordBatchWriter(1, 0, 1).recordAgain(1, source, 0, 1), /invariant broken/);
  const writer = new RecordBatchWriter(1, 0, 1);
  writer.recordStart(1, source, 0, -1, 1);
  assert.throws(() => writer.recordEnd(source, 0, 1), /invariant broken/, 'a record ends only after the headers it announced');
  writer.recordHeader('h', source, 0, 1);
  writer.recordEnd(source, 0, 1);
  writer.seal(0);
  assert.throws(() => writer.seal(0), /invariant broken/);
  assert.throws(() => writer.recordAgain(1, source, 0, 1), /invariant broken/);
});

test('encodeEmptyBatch is byte for byte what encodeBatch makes of that many empty records, headroom or not', () => {
  for (const count of [1, 2, 3, 7, 64, 1000, 16_385]) {
    const empty = Array.from({ length: count }, (): RecordInput => ({ value: new Uint8Array(0) }));
    const expected = encodeBatch(empty, 40 + count, 1_700_000_000_123);
    assert.deepEqual(encodeEmptyBatch(count, 40 + count, 1_700_000_000_123), expected, `${count} records`);
    const withHeadroom = encodeEmptyBatch(count, 40 + count, 1_700_000_000_123, 24);
    assert.ok(withHeadroom.byteOffset >= 24, 'the headroom is in front of the batch, in its buffer');
    assert.deepEqual(Buffer.from(withHeadroom), Buffer.from(expected));
    assert.equal(checkBatch(withHeadroom, 0).kind, 'ok');
    assert.equal(decodeBatch(withHeadroom).records.length, count);
  }
  assert.throws(() => encodeEmptyBatch(0, 0, 1), /at least one record/);
});
