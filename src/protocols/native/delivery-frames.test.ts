import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeMessage, encodeMessage } from '../../core/message/message-codec.js';
import type { StoredMessage } from '../../core/message/message.js';
import type { Delivery } from '../../core/queue/delivery.js';
import type { StreamEntry } from '../../core/stream/stream.js';
import { decodeFrame, decodeResponse, FRAMES, FrameDecoder, FrameFlag } from './codec/index.js';
import { encodeDeliveries, encodeEntries } from './delivery-frames.js';

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
  const record = { ...encodeMessage(message), offset, timestampMs: message.arrivedAtMs, key: encodeMessage(message).key ?? null, headers: encodeMessage(message).headers ?? [] };
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
