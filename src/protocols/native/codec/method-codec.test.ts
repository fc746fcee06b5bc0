import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { FRAMES, FRAME_HEADER_BYTES, FrameFlag, PROTOCOL_ERROR_CODES, type FrameName } from './native-spec.js';
import { concatenateBytes, fieldsArbitrary, fieldValueArbitraries } from './codec-arbitraries.js';
import { decodeError, decodeFields, decodeFrame, decodeFrameHead, decodeMessageRange, decodeResponse, encodeErrorResponse, encodeFields, encodeFrame, encodeResponse } from './method-codec.js';
import { FrameDecoder } from './frame-decoder.js';
import { NativeProtocolError } from './native-protocol-error.js';
import { decodeEnvelope, encodeEnvelope } from '../../../core/message/message-codec.js';

const ARBITRARY = fieldValueArbitraries(4, 40);

test('every frame type and its answer round-trip through encode and decode', () => {
  for (const [name, spec] of Object.entries(FRAMES) as Array<[FrameName, (typeof FRAMES)[FrameName]]>) {
    fc.assert(
      fc.property(fieldsArbitrary(spec.fields, ARBITRARY), fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff_ffff }), (values, channel, correlation) => {
        const frame = encodeFrame(name, channel, correlation, values as never);
        const [raw] = new FrameDecoder(1 << 20).push(frame);
        assert.ok(raw, `${name} decodes to a frame`);
        assert.equal(raw.type, spec.type);
        assert.equal(raw.channel, channel);
        assert.equal(raw.correlation, correlation);
        assert.equal(raw.flags, 0);
        assert.deepEqual(normalise(decodeFrame(name, raw.payload)), normalise(values));
      }),
      { numRuns: 30 },
    );
    if (spec.response === null) continue;
    fc.assert(
      fc.property(fieldsArbitrary(spec.response, ARBITRARY), (values) => {
        const [raw] = new FrameDecoder(1 << 20).push(encodeResponse(name as never, 1, 7, values as never));
        assert.equal(raw!.flags, FrameFlag.RESPONSE);
        assert.deepEqual(normalise(decodeResponse(name as never, raw!.payload)), normalise(values));
      }),
      { numRuns: 30 },
    );
  }
});

/** Uint8Array views and copies compare equal by content. */
function normalise(value: unknown): unknown {
  if (value instanceof Uint8Array) return [...value];
  if (Array.isArray(value)) return value.map(normalise);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, normalise(inner)]));
  return value;
}

test('an error answer carries the code and message of the failed request type', () => {
  const [raw] = new FrameDecoder(1 << 20).push(encodeErrorResponse(FRAMES.queueDeclare.type, 3, 9, 'QUEUE_NOT_FOUND', 'no queue q'));
  assert.equal(raw!.flags, FrameFlag.RESPONSE | FrameFlag.ERROR);
  assert.equal(raw!.type, FRAMES.queueDeclare.type);
  assert.deepEqual(decodeError(raw!.payload), { code: 'QUEUE_NOT_FOUND', message: 'no queue q' });
});

test('a payload with bytes left over, cut short, or with a bad boolean is NATIVE_MALFORMED_FRAME', () => {
  const frame = encodeFrame('queueDelete', 1, 1, { name: 'q', ifUnused: true, ifEmpty: false });
  const payload = frame.subarray(FRAME_HEADER_BYTES);
  const expectMalformed = (bytes: Uint8Array) =>
    assert.throws(() => decodeFrame('queueDelete', bytes), (error: unknown) => error instanceof NativeProtocolError && error.code === 'NATIVE_MALFORMED_FRAME');
  expectMalformed(new Uint8Array([...payload, 0]));
  for (let cut = 0; cut < payload.byteLength; cut++) expectMalformed(payload.subarray(0, cut));
  const badBoolean = payload.slice();
  badBoolean[badBoolean.byteLength - 1] = 2;
  expectMalformed(badBoolean);
});

test('a list count larger than the frame is refused before anything is allocated', () => {
  const payload = new Uint8Array([0xff, 0xff, 0xff, 0x7f]);
  assert.throws(() => decodeFields([['tags', 'u64s']], payload), /NATIVE_MALFORMED_FRAME.*more than the frame holds/);
});

test('a u64 above 2^53 - 1 and invalid UTF-8 are refused', () => {
  assert.throws(() => decodeFields([['offset', 'u64']], new Uint8Array([0, 0, 0, 0, 0, 0, 0x20, 0])), /NATIVE_MALFORMED_FRAME/);
  assert.throws(() => decodeFields([['name', 'string']], new Uint8Array([2, 0, 0xc3, 0x28])), /NATIVE_MALFORMED_FRAME.*UTF-8/);
});

test('encoding refuses a string longer than 65,535 bytes rather than truncating it', () => {
  assert.throws(() => encodeFields(0x12, 0, 1, 1, [['name', 'string']], { name: 'é'.repeat(40_000) }), RangeError);
});

test('frames split at every byte position decode to the same frames', () => {
  const stream = concatenateBytes([
    encodeFrame('hello', 0, 1, { versionMin: 1, versionMax: 1, client: 'test', features: ['streams'] }),
    encodeFrame('publish', 2, 2, { exchange: 'x', mandatory: false, messages: [{ routingKey: new Uint8Array([1]), envelope: new Uint8Array([2, 3]), body: new Uint8Array(300) }] }),
    encodeFrame('heartbeat', 0, 0, {}),
  ]);
  const whole = new FrameDecoder(1 << 20).push(stream).map((frame) => ({ ...frame, payload: [...frame.payload] }));
  assert.equal(whole.length, 3);
  for (let first = 0; first <= stream.byteLength; first++) {
    for (const second of [first, Math.min(stream.byteLength, first + 5), Math.min(stream.byteLength, first + 200)]) {
      const decoder = new FrameDecoder(1 << 20);
      const frames = [...decoder.push(stream.subarray(0, first)), ...decoder.push(stream.subarray(first, second)), ...decoder.push(stream.subarray(second))];
      assert.deepEqual(frames.map((frame) => ({ ...frame, payload: [...frame.payload] })), whole);
      assert.equal(decoder.bufferedBytes(), 0);
    }
  }
});

test('a frame above the limit is refused from its size field, before its bytes arrive', () => {
  const decoder = new FrameDecoder(4096);
  const header = new Uint8Array(8);
  new DataView(header.buffer).setUint32(0, 1_000_000, true);
  assert.throws(() => decoder.push(header.subarray(0, 4)), (error: unknown) => error instanceof NativeProtocolError && error.code === 'NATIVE_FRAME_TOO_LARGE');
  assert.throws(() => decoder.push(new Uint8Array(1)), /NATIVE_FRAME_TOO_LARGE/, 'the decoder stays failed');
});

test('an unknown frame type is NATIVE_UNKNOWN_FRAME_TYPE', () => {
  const frame = encodeFrame('heartbeat', 0, 0, {});
  frame[4] = 0xee;
  assert.throws(() => new FrameDecoder(4096).push(frame), (error: unknown) => error instanceof NativeProtocolError && error.code === 'NATIVE_UNKNOWN_FRAME_TYPE');
});

test('random bytes either decode to frames or fail with a NativeProtocolError, never anything else', () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 8 }), (chunks) => {
      const decoder = new FrameDecoder(4096);
      try {
        for (const chunk of chunks) {
          for (const frame of decoder.push(chunk)) {
            const name = [...Object.entries(FRAMES)].find(([, spec]) => spec.type === frame.type)![0] as FrameName;
            try {
              decodeFrame(name, frame.payload);
            } catch (error) {
              if (!(error instanceof NativeProtocolError)) throw error;
            }
          }
        }
      } catch (error) {
        if (!(error instanceof NativeProtocolError)) throw error;
      }
    }),
    { numRuns: 2000 },
  );
});

test('the wire envelope is the storage envelope, and a damaged one is refused', () => {
  const envelope = encodeEnvelope({ exchange: 'x', properties: { contentType: 'text/plain', key: new Uint8Array([9]) }, headers: { a: 1 }, persistent: true });
  assert.deepEqual(decodeEnvelope(envelope), { exchange: 'x', properties: { contentType: 'text/plain', key: new Uint8Array([9]) }, headers: { a: 1 }, persistent: true });
  assert.throws(() => decodeEnvelope(envelope.subarray(0, envelope.byteLength - 1)), /CORRUPT_DATA/);
  assert.throws(() => decodeEnvelope(new Uint8Array([...envelope, 0])), /CORRUPT_DATA/);
  const unknownBit = encodeEnvelope({ exchange: '', properties: {}, headers: {}, persistent: false });
  unknownBit[7] = 0x80; // High byte of the property mask (after version, flags, u32 exchange length 0).
  assert.throws(() => decodeEnvelope(unknownBit), /CORRUPT_DATA.*unknown property bits/);
});

test('docs/protocol.md describes every frame type and every protocol error code', () => {
  const document = readFileSync('docs/protocol.md', 'utf8');
  for (const [name, spec] of Object.entries(FRAMES)) {
    const hex = `0x${spec.type.toString(16).padStart(2, '0')}`;
    assert.match(document, new RegExp(`\\| ${hex} \\| \`${name}\` \\|`), `frame ${name} (${hex}) is in the frame table`);
  }
  for (const code of PROTOCOL_ERROR_CODES) assert.match(document, new RegExp(`\\| \`${code}\` \\|`), `${code} is in the error table`);
});

test('decodeFrameHead agrees with decodeFrame on append payloads, whole, cut short at every point or damaged', () => {
  const outcome = (decode: () => unknown): unknown => {
    try {
      return normalise(decode());
    } catch (error) {
      assert.ok(error instanceof NativeProtocolError, `only protocol errors, got ${String(error)}`);
      return error.code;
    }
  };
  fc.assert(
    fc.property(fieldsArbitrary(FRAMES.append.fields, ARBITRARY), fc.nat(), fc.integer({ min: 0, max: 255 }), (values, cutAt, garbage) => {
      const payload = encodeFrame('append', 1, 1, values as never).subarray(FRAME_HEADER_BYTES);
      const damaged = payload.slice();
      if (damaged.byteLength > 0) damaged[cutAt % damaged.byteLength] = garbage;
      for (const bytes of [payload, payload.subarray(0, cutAt % (payload.byteLength + 1)), damaged]) {
        const viaHead = outcome(() => {
          const { fields, messages } = decodeFrameHead('append', bytes);
          return { ...fields, messages: decodeMessageRange(bytes, messages) };
        });
        assert.deepEqual(viaHead, outcome(() => decodeFrame('append', bytes)));
      }
    }),
    { numRuns: 300 },
  );
});
