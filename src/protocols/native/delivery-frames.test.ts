import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeMessage, encodeMessage } from '../../core/message/message-codec.js';
import type { StoredMessage } from '../../core/message/message.js';
import type { Delivery } from '../../core/queue/delivery.js';
import type { RecordInput } from '../../core/ports.js';
import type { StreamEntry } from '../../core/stream/stream.js';
import { ManualClock } from '../../platform/clock.js';
import { MemoryLogStore } from '../../storage/memory-log-store.js';
import { decodeFrame, decodeResponse, FRAMES, FrameDecoder, FrameFlag } from './codec/index.js';
import { encodeCursorEntries, encodeDeliveries, encodeEntries } from './delivery-frames.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const storedMessage = fc.record({
  routingKey: fc.string({ maxLength: 10 }),
  body: fc.uint8Array({ maxLength: 300 }),
  messageId: fc.option(fc.string({ maxLength: 8 }), { nil: undefined }),
  header: fc.option(fc.integer(), { nil: undefined }),
  persistent: fc.boolean(),
  arrivedAtMs: fc.integer({ min: 0, max: 2 ** 45 }),
}).map(({ routingKey, body, messageId, header, persistent, arrivedAtMs }): StoredMessage => ({
  exchange: 'ex',
  routingKey,
  body,
  properties: messageId === undefined ? {} : { messageId },
  headers: header === undefined ? {} : { header },
  persistent,
  arrivedAtMs,
}));

function delivery(message: StoredMessage, index: number): Delivery {
  return { id: index + 1, queue: 'q', offset: index, message, redelivered: index % 2 === 1, deliveryCount: index + 1, consumerTag: 'c' };
}

function entry(message: StoredMessage, offset: number): StreamEntry {
  const record = { ...encodeMessage(message), offset, timestampMs: message.arrivedAtMs, key: encoder.encode(message.routingKey), headers: encodeMessage(message).headers ?? [] };
  return { partition: 3, offset, timestampMs: message.arrivedAtMs, record, message: decodeMessage(record) };
}

function frames(out: readonly Uint8Array[]) {
  const decoderOfFrames = new FrameDecoder(1 << 24);
  return out.flatMap((bytes) => decoderOfFrames.push(bytes));
}

test('deliver frames decode with the codec to the deliveries, their tags and their messages', () => {
  fc.assert(
    fc.property(fc.array(storedMessage, { maxLength: 12 }), fc.integer({ min: 200, max: 2_000 }), (messages, frameBytesMax) => {
      const deliveries = messages.map(delivery);
      const tags = deliveries.map((_, index) => 1_000 + index * 3);
      const out: Uint8Array[] = [];
      const end = encodeDeliveries({ type: FRAMES.deliver.type, flags: 0, channel: 5, correlation: 0, prefix: 9 }, tags, deliveries, 0, deliveries.length, frameBytesMax, out);
      assert.equal(end, deliveries.length);
      const decoded = frames(out).flatMap((frame) => {
        assert.equal(frame.channel, 5);
        assert.ok(frame.payload.byteLength + 12 <= frameBytesMax || decodeFrame('deliver', frame.payload).deliveries.length === 1, 'frames respect the limit, but for a single large delivery');
        const push = decodeFrame('deliver', frame.payload);
        assert.equal(push.consumerId, 9);
        return push.deliveries;
      });
      assert.equal(decoded.length, messages.length);
      decoded.forEach((wire, index) => {
        const message = messages[index]!;
        assert.equal(wire.deliveryTag, tags[index]);
        assert.equal(wire.redelivered, index % 2 === 1);
        assert.equal(wire.deliveryCount, index + 1);
        assert.equal(wire.timestampMs, message.arrivedAtMs);
        const record = { offset: 0, timestampMs: wire.timestampMs, key: wire.message.routingKey, value: wire.message.body, headers: [{ name: 'm', value: wire.message.envelope }] };
        const back = decodeMessage(record);
        assert.deepEqual([back.routingKey, back.properties, back.headers, back.persistent, back.exchange], [message.routingKey, message.properties, message.headers, message.persistent, message.exchange]);
        assert.deepEqual([...back.body], [...message.body]);
      });
    }),
    { numRuns: 200 },
  );
});

test('a pull answer holds what fits in one frame and says where it stopped', () => {
  const deliveries = [0, 1, 2].map((index) => delivery({ exchange: '', routingKey: 'q', body: new Uint8Array(400), properties: {}, headers: {}, persistent: true, arrivedAtMs: 1 }, index));
  const out: Uint8Array[] = [];
  const end = encodeDeliveries({ type: FRAMES.pull.type, flags: FrameFlag.RESPONSE, channel: 1, correlation: 77, prefix: null }, [1, 2, 3], deliveries, 0, 3, 1_000, out, true);
  assert.equal(out.length, 1);
  assert.equal(end, 2);
  const [frame] = frames(out);
  assert.equal(frame!.correlation, 77);
  assert.equal(frame!.flags, FrameFlag.RESPONSE);
  assert.deepEqual(decodeResponse('pull', frame!.payload).deliveries.map((wire) => wire.deliveryTag), [1, 2]);
  const empty: Uint8Array[] = [];
  encodeDeliveries({ type: FRAMES.pull.type, flags: FrameFlag.RESPONSE, channel: 1, correlation: 78, prefix: null }, [], [], 0, 0, 1_000, empty, true);
  assert.deepEqual(decodeResponse('pull', frames(empty)[0]!.payload), { deliveries: [] });
});

test('streamDeliver frames and streamRead answers carry the stored records as entries', () => {
  const messages: StoredMessage[] = ['a', 'bb', 'ccc'].map((body, index) => ({ exchange: '', routingKey: 'events', body: encoder.encode(body), properties: { correlationId: `c${index}` }, headers: {}, persistent: true, arrivedAtMs: 100 + index }));
  const entries = messages.map((message, index) => entry(message, 40 + index));
  const pushes: Uint8Array[] = [];
  encodeEntries({ type: FRAMES.streamDeliver.type, flags: 0, channel: 2, correlation: 0, prefix: 6 }, entries, 0, 3, 1 << 20, pushes);
  const push = decodeFrame('streamDeliver', frames(pushes)[0]!.payload);
  assert.equal(push.subscriptionId, 6);
  assert.deepEqual(push.entries.map((wire) => [wire.partition, wire.offset, wire.timestampMs, decoder.decode(wire.message.body), decoder.decode(wire.message.routingKey)]), [
    [3, 40, 100, 'a', 'events'],
    [3, 41, 101, 'bb', 'events'],
    [3, 42, 102, 'ccc', 'events'],
  ]);
  const answers: Uint8Array[] = [];
  encodeEntries({ type: FRAMES.streamRead.type, flags: FrameFlag.RESPONSE, channel: 2, correlation: 5, prefix: null, suffix: (end) => 40 + end }, entries, 0, 3, 1 << 20, answers, true);
  const read = decodeResponse('streamRead', frames(answers)[0]!.payload);
  assert.equal(read.entries.length, 3);
  assert.equal(read.nextOffset, 43);
});

test('streamDeliver frames from a record cursor carry each stored record as an entry, in frames of about the size asked', async () => {
  // Records as streams store them (one header "m"), and odd ones: the envelope not last, no envelope, other headers, a long envelope.
  const odd = (message: StoredMessage, index: number): RecordInput => {
    const record = encodeMessage(message);
    const envelope = record.headers![0]!;
    const other = { name: 'x', value: encoder.encode(`x${index}`) };
    const long = { name: 'm', value: encoder.encode(`a long envelope, as opaque as any: ${'e'.repeat(index)}`) };
    const headers = [[envelope], [envelope, other], [], [other], [other, envelope], [long]][index % 6]!;
    return { ...record, key: index % 7 === 3 ? null : encoder.encode(message.routingKey), headers };
  };
  await fc.assert(
    fc.asyncProperty(fc.array(fc.array(storedMessage, { minLength: 1, maxLength: 6 }), { maxLength: 5 }), fc.integer({ min: 100, max: 2_000 }), fc.integer({ min: 0, max: 4 }), async (batches, frameBytes, from) => {
      const store = new MemoryLogStore({ clock: new ManualClock() });
      const log = await store.openLog('s');
      let index = 0;
      for (const messages of batches) await log.append(messages.map((message) => odd(message, index++)));
      const stored = await log.read(from, { recordsMax: 1_000, bytesMax: 1 << 30 });
      const out: Uint8Array[] = [];
      const count = encodeCursorEntries({ type: FRAMES.streamDeliver.type, flags: 0, channel: 4, correlation: 0, prefix: 8 }, 3, await log.readCursor(from, { recordsMax: 1_000, bytesMax: 1 << 30 }), frameBytes, out);
      assert.equal(count, stored.length);
      const decoded = frames(out).flatMap((frame) => {
        assert.equal(frame.channel, 4);
        const push = decodeFrame('streamDeliver', frame.payload);
        assert.ok(frame.payload.byteLength + 12 <= frameBytes || push.entries.length === 1, 'frames keep to the size, but for a single large entry');
        assert.equal(push.subscriptionId, 8);
        return push.entries;
      });
      assert.deepEqual(
        decoded.map((wire) => [wire.partition, wire.offset, wire.timestampMs, [...wire.message.routingKey], [...wire.message.envelope], [...wire.message.body]]),
        stored.map((record) => [3, record.offset, record.timestampMs, [...(record.key ?? [])], [...(record.headers.find((header) => header.name === 'm')?.value ?? [])], [...record.value]]),
      );
      await store.close();
    }),
    { numRuns: 150 },
  );
});

test('streamDeliver frames from a cursor over many batches and a record larger than a frame hold every record once, in order', async () => {
  const store = new MemoryLogStore({ clock: new ManualClock() });
  const log = await store.openLog('s');
  const message = (index: number, bodyBytes: number): RecordInput =>
    encodeMessage({ exchange: '', routingKey: index % 3 === 0 ? '' : `key-${index}`, body: new Uint8Array(bodyBytes).fill(index & 0xff), properties: {}, headers: {}, persistent: true, arrivedAtMs: 1_000 + index });
  for (let batch = 0; batch < 3; batch++) await log.append(Array.from({ length: 2_000 }, (_, i) => message(batch * 2_000 + i, 60 + (i % 90))));
  // A record larger than a frame, and one whose stored bytes are large only for a header the frame leaves out.
  const padded = message(6_002, 10);
  await log.append([message(6_000, 300_000), message(6_001, 10), { ...padded, headers: [{ name: 'x', value: new Uint8Array(300_000) }, ...padded.headers!] }]);
  await log.append(Array.from({ length: 500 }, (_, i) => message(6_003 + i, 100)));
  const limits = { recordsMax: 100_000, bytesMax: 1 << 30 };
  const stored = await log.read(7, limits);
  const out: Uint8Array[] = [];
  const count = encodeCursorEntries({ type: FRAMES.streamDeliver.type, flags: 0, channel: 1, correlation: 0, prefix: 2 }, 0, await log.readCursor(7, limits), 128 * 1024, out);
  assert.equal(count, stored.length);
  assert.ok(out.length > 8, `${out.length} frames`);
  const decoded = frames(out).flatMap((frame) => {
    assert.ok(frame.payload.byteLength + 12 <= 128 * 1024 || decodeFrame('streamDeliver', frame.payload).entries.length === 1);
    return decodeFrame('streamDeliver', frame.payload).entries;
  });
  assert.equal(decoded.length, stored.length);
  decoded.forEach((wire, index) => {
    const record = stored[index]!;
    assert.equal(wire.offset, record.offset);
    assert.equal(wire.timestampMs, record.timestampMs);
    const same = (left: Uint8Array, right: Uint8Array | null): boolean => right !== null && Buffer.compare(left, right) === 0;
    assert.ok(same(wire.message.routingKey, record.key), `key of ${record.offset}`);
    assert.ok(same(wire.message.envelope, record.headers.find((header) => header.name === 'm')!.value), `envelope of ${record.offset}`);
    assert.ok(same(wire.message.body, record.value), `body of ${record.offset}`);
  });
  await store.close();
});
