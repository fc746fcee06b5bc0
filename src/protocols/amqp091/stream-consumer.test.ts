import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../platform/clock.js';
import { Broker } from '../../server/broker.js';
import type { StreamEntry } from '../../core/stream/stream.js';
import { bodyText, settle, testPasswordHasher } from '../../core/test-broker.js';
import { maxAgeMs } from './queue-arguments.js';
import { offsetSpecFromArgument, StreamConsumer } from './stream-consumer.js';

const encoder = new TextEncoder();
const longstr = (text: string) => ({ type: 'longstr', value: encoder.encode(text) }) as const;

test('x-stream-offset: first, last, next, offsets of any integer type, timestamps in seconds and intervals', () => {
  const nowMs = 1_700_000_000_000;
  assert.equal(offsetSpecFromArgument(undefined, nowMs), 'next');
  for (const word of ['first', 'last', 'next'] as const) assert.equal(offsetSpecFromArgument(longstr(word), nowMs), word);
  assert.deepEqual(offsetSpecFromArgument({ type: 'int8', value: 5 }, nowMs), { offset: 5 });
  assert.deepEqual(offsetSpecFromArgument({ type: 'int64', value: 5_000_000_000n }, nowMs), { offset: 5_000_000_000 });
  assert.deepEqual(offsetSpecFromArgument({ type: 'timestamp', value: 1_686_519_750n }, nowMs), { timestampMs: 1_686_519_750_000 });
  assert.deepEqual(offsetSpecFromArgument(longstr('10m'), nowMs), { timestampMs: nowMs - 600_000 });
  for (const bad of [longstr('soon'), longstr('10'), { type: 'int32', value: -1 }, { type: 'double', value: 1.5 }, { type: 'boolean', value: true }] as const) {
    assert.throws(() => offsetSpecFromArgument(bad, nowMs), { code: 'PRECONDITION_FAILED' }, JSON.stringify(bad));
  }
});

test('x-max-age durations: a positive integer and one of Y, M, D, h, m, s', () => {
  assert.equal(maxAgeMs('7D'), 7 * 86_400_000);
  assert.equal(maxAgeMs('1Y'), 365 * 86_400_000);
  assert.equal(maxAgeMs('1M'), 30 * 86_400_000);
  assert.equal(maxAgeMs('12h'), 12 * 3_600_000);
  assert.equal(maxAgeMs('30m'), 1_800_000);
  assert.equal(maxAgeMs('10s'), 10_000);
  for (const bad of ['', '10', '0s', '1A', '1.5h', '-1s', ' 1s', '1d', '99999999999999999Y']) assert.equal(maxAgeMs(bad), undefined, bad);
});

test('a stream consumer never has more than prefetch deliveries unsettled, tails new messages and stops for good', async (t) => {
  const broker = await Broker.start({ memory: true, clock: new ManualClock(), passwordHasher: testPasswordHasher });
  t.after(() => broker.close());
  const stream = await broker.declareStream('events');
  await broker.appendToStream('events', ['a', 'b', 'c', 'd', 'e'].map((body) => ({ body })));
  const delivered: StreamEntry[] = [];
  const consumer = new StreamConsumer('tag', { stream, offset: 1, prefetch: 2, flowing: true, deliver: (entry) => delivered.push(entry), onEnd: () => assert.fail('not ended') });
  consumer.start();
  await settle(10);
  assert.deepEqual(delivered.map((entry) => entry.offset), [1, 2]);
  consumer.settle();
  await settle(10);
  assert.deepEqual(delivered.map((entry) => entry.offset), [1, 2, 3]);
  consumer.setFlowing(false);
  consumer.settle();
  consumer.settle();
  await settle(10);
  assert.equal(delivered.length, 3, 'nothing while paused');
  consumer.setFlowing(true);
  await settle(10);
  assert.deepEqual(delivered.map((entry) => entry.offset), [1, 2, 3, 4]);
  await broker.appendToStream('events', { body: 'f' });
  await settle(10);
  assert.deepEqual(delivered.map((entry) => bodyText(entry.message)), ['b', 'c', 'd', 'e', 'f']);
  consumer.stop();
  consumer.settle();
  await broker.appendToStream('events', { body: 'g' });
  await settle(10);
  assert.equal(delivered.length, 5, 'nothing after stop');
});

test('a stream consumer ends when its stream is deleted, even with its window full', async (t) => {
  const broker = await Broker.start({ memory: true, clock: new ManualClock(), passwordHasher: testPasswordHasher });
  t.after(() => broker.close());
  const stream = await broker.declareStream('doomed');
  await broker.appendToStream('doomed', [{ body: 'a' }, { body: 'b' }]);
  const ended: unknown[] = [];
  const waiting = new StreamConsumer('waiting', { stream, offset: 2, prefetch: 5, flowing: true, deliver: () => undefined, onEnd: (error) => ended.push(error) });
  const blocked = new StreamConsumer('blocked', { stream, offset: 0, prefetch: 1, flowing: true, deliver: () => undefined, onEnd: (error) => ended.push(error) });
  waiting.start();
  blocked.start();
  await settle(10);
  await broker.deleteStream('doomed');
  await settle(10);
  assert.equal(ended.length, 2);
  for (const error of ended) assert.equal((error as { code?: string }).code, 'STREAM_NOT_FOUND');
});
