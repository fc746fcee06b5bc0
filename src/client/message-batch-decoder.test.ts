import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeFrame, decodeResponse, encodeFrame, encodeResponse, NativeProtocolError, type WireDelivery, type WireEntry } from '../protocols/native/codec/index.js';
import type { IncomingMessage } from './incoming-message.js';
import { decodeDeliver, decodePullAnswer, decodeStreamDeliver, decodeStreamReadAnswer } from './message-batch-decoder.js';

const safeInteger = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const bytes = fc.uint8Array({ maxLength: 24 });
const message = fc.record({ routingKey: bytes, envelope: bytes, body: bytes });
const deliveries = fc.array(
  fc.record({ deliveryTag: safeInteger, redelivered: fc.boolean(), deliveryCount: fc.integer({ min: 0, max: 0xffff_ffff }), timestampMs: fc.double({ noNaN: true }), message }),
  { maxLength: 4 },
);
const entries = fc.array(fc.record({ partition: fc.integer({ min: 0, max: 0xffff_ffff }), offset: safeInteger, timestampMs: fc.double({ noNaN: true }), message }), { maxLength: 4 });
const payloadOf = (frame: Uint8Array): Uint8Array => frame.subarray(12);

function sameMessage(actual: IncomingMessage, expected: WireDelivery['message']): void {
  assert.deepEqual(actual.routingKeyBytes, expected.routingKey);
  assert.deepEqual(actual.envelopeBytes, expected.envelope);
  assert.deepEqual(actual.body, expected.body);
}

function sameDeliveries(actual: ReturnType<typeof decodePullAnswer>, expected: readonly WireDelivery[]): void {
  assert.equal(actual.length, expected.length);
  actual.forEach((received, index) => {
    const wire = expected[index]!;
    assert.deepEqual([received.deliveryTag, received.redelivered, received.deliveryCount, received.timestampMs], [wire.deliveryTag, wire.redelivered, wire.deliveryCount, wire.timestampMs]);
    sameMessage(received, wire.message);
  });
}

function sameEntries(actual: ReturnType<typeof decodeStreamDeliver>['entries'], expected: readonly WireEntry[]): void {
  assert.equal(actual.length, expected.length);
  actual.forEach((entry, index) => {
    const wire = expected[index]!;
    assert.deepEqual([entry.partition, entry.offset, entry.timestampMs], [wire.partition, wire.offset, wire.timestampMs]);
    sameMessage(entry, wire.message);
  });
}

test('the bulk decoders read deliver, pull, streamDeliver and streamRead as the table-driven codec does', () => {
  fc.assert(
    fc.property(deliveries, entries, fc.integer({ min: 0, max: 0xffff_ffff }), safeInteger, (deliveryList, entryList, id, nextOffset) => {
      const deliver = decodeDeliver(payloadOf(encodeFrame('deliver', 1, 0, { consumerId: id, deliveries: deliveryList })), null);
      assert.equal(deliver.consumerId, id);
      sameDeliveries(deliver.messages, deliveryList);
      sameDeliveries(decodePullAnswer(payloadOf(encodeResponse('pull', 1, 9, { deliveries: deliveryList })), null), deliveryList);
      const pushed = decodeStreamDeliver(payloadOf(encodeFrame('streamDeliver', 1, 0, { subscriptionId: id, entries: entryList })));
      assert.equal(pushed.subscriptionId, id);
      sameEntries(pushed.entries, entryList);
      const read = decodeStreamReadAnswer(payloadOf(encodeResponse('streamRead', 1, 9, { entries: entryList, nextOffset })));
      assert.equal(read.nextOffset, nextOffset);
      sameEntries(read.entries, entryList);
    }),
    { numRuns: 300 },
  );
});

/** Runs `decode`; returns 'ok', or 'malformed' for a NativeProtocolError (anything else fails the test). */
function outcome(decode: () => unknown): 'ok' | 'malformed' {
  try {
    decode();
    return 'ok';
  } catch (error) {
    assert.ok(error instanceof NativeProtocolError && error.code === 'NATIVE_MALFORMED_FRAME', `unexpected ${String(error)}`);
    return 'malformed';
  }
}

test('damaged or random payloads fail with NATIVE_MALFORMED_FRAME exactly when the codec refuses them', () => {
  const valid = fc.tuple(deliveries, entries).map(([deliveryList, entryList]) => [
    payloadOf(encodeFrame('deliver', 1, 0, { consumerId: 3, deliveries: deliveryList })),
    payloadOf(encodeFrame('streamDeliver', 1, 0, { subscriptionId: 3, entries: entryList })),
  ]);
  const damaged = fc.tuple(valid, fc.nat(), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.boolean()).map(([[deliver, streamDeliver], cut, at, value, truncate]) =>
    [deliver, streamDeliver].map((payload) => {
      if (truncate) return payload.subarray(0, payload.byteLength === 0 ? 0 : cut % payload.byteLength);
      const copy = payload.slice();
      if (copy.byteLength > 0) copy[at % copy.byteLength] = value;
      return copy;
    }),
  );
  const random = fc.uint8Array({ maxLength: 80 }).map((payload) => [payload, payload]);
  fc.assert(
    fc.property(fc.oneof(damaged, random), ([deliver, streamDeliver]) => {
      assert.equal(outcome(() => decodeDeliver(deliver!, null)), outcome(() => decodeFrame('deliver', deliver!)));
      assert.equal(outcome(() => decodeStreamDeliver(streamDeliver!)), outcome(() => decodeFrame('streamDeliver', streamDeliver!)));
      assert.equal(outcome(() => decodePullAnswer(deliver!, null)), outcome(() => decodeResponse('pull', deliver!)));
      assert.equal(outcome(() => decodeStreamReadAnswer(streamDeliver!)), outcome(() => decodeResponse('streamRead', streamDeliver!)));
    }),
    { numRuns: 2_000 },
  );
});
