import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Log, LogStore, ProducerStamp, RecordInput, StoredRecord } from '../ports.js';
import { ManualClock } from '../../platform/clock.js';
import { MemoryLogStore } from '../../storage/memory-log-store.js';
import { simulatedFileHarness } from '../../storage/store-harness.js';
import { decodeMessage, encodeMessage } from '../message/message-codec.js';
import { compactByKey } from './stream-compaction.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A stream message record with compaction key `key` (none when undefined) and body `body`. */
function message(key: string | Uint8Array | undefined, body: string): RecordInput {
  const keyBytes = typeof key === 'string' ? encoder.encode(key) : key;
  return encodeMessage({
    exchange: '',
    routingKey: 'events',
    properties: keyBytes === undefined ? {} : { key: keyBytes },
    headers: {},
    body: encoder.encode(body),
    persistent: true,
    arrivedAtMs: 1_000,
  });
}

function memoryStore(): LogStore {
  return new MemoryLogStore({ clock: new ManualClock(), logDefaults: { segmentBytesMax: 1024 } });
}

async function bodies(log: Log): Promise<Array<[number, string]>> {
  const records = await log.read(0, { recordsMax: 1_000_000, bytesMax: 1 << 30 });
  return records.map((record: StoredRecord) => [record.offset, decoder.decode(decodeMessage(record).body)]);
}

/** Appends `count` messages cycling over `keys` keys, one per batch, bodies `<key>=<n>` padded. */
async function appendKeyed(log: Log, count: number, keys: number, first = 0): Promise<void> {
  for (let n = first; n < first + count; n++) await log.append([message(`k${n % keys}`, `k${n % keys}=${n}${'.'.repeat(60)}`)]);
}

/** The last offset of the sealed segments: a compaction that keeps everything is asked about exactly those. */
async function lastSealedOffset(log: Log): Promise<number> {
  const asked: number[] = [];
  await log.compact!((record) => {
    asked.push(record.offset);
    return true;
  });
  return Math.max(-1, ...asked);
}

test('compactByKey keeps the latest message of each key and every message without a key', async () => {
  const store = memoryStore();
  const log = await store.openLog('events');
  await appendKeyed(log, 40, 4);
  await log.append([message(undefined, 'no key 1'), message(undefined, 'no key 2')]);
  await appendKeyed(log, 20, 4, 40);
  const sealedEnd = await lastSealedOffset(log);
  const before = await bodies(log);
  const result = await compactByKey(log);
  assert.ok(result.recordsRemoved > 30, `removed ${result.recordsRemoved}`);
  const after = await bodies(log);
  const latest = new Map<string, number>();
  for (const [offset, body] of before) if (!body.startsWith('no key')) latest.set(body.split('=')[0]!, offset);
  // Sealed segments keep messages without a key and the latest of each key; the active one keeps everything.
  const expected = before.filter(([offset, body]) => offset > sealedEnd || body.startsWith('no key') || latest.get(body.split('=')[0]!) === offset);
  assert.ok(expected.length < before.length - 30);
  assert.deepEqual(after, expected);
  assert.equal(log.endOffset(), 62);
  const again = await compactByKey(log);
  assert.equal(again.recordsRemoved, 0);
});

test('the latest message of a key survives even in a sealed segment, and tombstones are kept', async () => {
  const store = memoryStore();
  const log = await store.openLog('events');
  await log.append([message('a', 'a=1'), message('b', 'b=1'), message('gone', 'gone=1')]);
  await log.append([message('gone', '')]); // A tombstone: the latest value of `gone`.
  await appendKeyed(log, 60, 5); // Rolls several segments with other keys.
  await compactByKey(log);
  const after = await bodies(log);
  assert.deepEqual(after.slice(0, 3), [[0, 'a=1'], [1, 'b=1'], [3, '']], 'a and b have no newer value; the tombstone stays, its older value goes');
});

test('keys are compared as bytes, not as text', async () => {
  const store = memoryStore();
  const log = await store.openLog('events');
  // Invalid UTF-8, both decoding to U+FFFD as text: distinct keys all the same.
  await log.append([message(new Uint8Array([0xff]), 'ff'), message(new Uint8Array([0xfe]), 'fe')]);
  await appendKeyed(log, 40, 3);
  await compactByKey(log);
  assert.deepEqual((await bodies(log)).slice(0, 2), [[0, 'ff'], [1, 'fe']]);
});

test('the last batch of each producer stays whole', async () => {
  const store = memoryStore();
  const log = await store.openLog('events');
  const stamp = (producerId: number, baseSequence: number): { producer: ProducerStamp } => ({ producer: { producerId, producerEpoch: 0, baseSequence } });
  await log.append([message('x', 'x=1'), message('y', 'y=1')], stamp(7, 0));
  await log.append([message('x', 'x=2'), message('y', 'y=2')], stamp(7, 2)); // Producer 7's last batch.
  await log.append([message('x', 'x=3')], stamp(8, 0)); // Producer 8's last batch.
  await log.append([message('x', 'x=4'), message('y', 'y=4')]);
  await appendKeyed(log, 40, 2, 100);
  await compactByKey(log);
  const after = (await bodies(log)).filter(([, body]) => /^[xy]=\d$/.test(body));
  assert.deepEqual(after, [[2, 'x=2'], [3, 'y=2'], [4, 'x=3'], [5, 'x=4'], [6, 'y=4']]);
});

test('keysMax stops the scan where one key more would be remembered, keeping everything from there', async () => {
  const store = memoryStore();
  const log = await store.openLog('events');
  // Keys k0..k9, ten times over: with keysMax 5, the scan stops at the first k5 (offset 5).
  await appendKeyed(log, 100, 10);
  const before = await bodies(log);
  const limited = await compactByKey(log, { keysMax: 5 });
  assert.equal(limited.recordsRemoved, 0, 'no record before offset 5 has a newer one below offset 5');
  assert.deepEqual(await bodies(log), before);
  const full = await compactByKey(log);
  assert.ok(full.recordsRemoved > 50);
});

test('records that are not messages count as having no key', async () => {
  const store = memoryStore();
  const log = await store.openLog('events');
  await log.append([{ key: encoder.encode('raw'), value: encoder.encode('not a message') }]);
  await appendKeyed(log, 40, 2);
  await compactByKey(log);
  const first = await log.read(0, { recordsMax: 1 });
  assert.equal(decoder.decode(first[0]!.value), 'not a message');
});

test('a log without compact is refused with INVALID_ARGUMENT', async () => {
  const store = memoryStore();
  const log = await store.openLog('events');
  // Like a share group's partition view: a Log in every other way, without compact.
  const view = Object.create(log, { compact: { value: undefined } }) as Log;
  await assert.rejects(compactByKey(view), (error: { code?: string }) => error.code === 'INVALID_ARGUMENT');
});

test('on the file store, compaction by key survives a crash and keeps messages appended during the run', async () => {
  const harness = simulatedFileHarness({ logDefaults: { segmentBytesMax: 1024 } });
  let store = await harness.open();
  try {
    const log = await store.openLog('events');
    await appendKeyed(log, 60, 3);
    const running = compactByKey(log);
    const late = log.append([message('k0', 'k0=late')]);
    const result = await running;
    await late;
    assert.ok(result.recordsRemoved > 30);
    const compacted = await bodies(log);
    assert.equal(compacted[compacted.length - 1]![1], 'k0=late');
    store = await harness.crash!(store);
    assert.deepEqual(await bodies(store.getLog('events')!), compacted);
  } finally {
    await store.close().catch(() => undefined);
  }
});
