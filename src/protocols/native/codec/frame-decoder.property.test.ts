/**
 * Property tests of the decoding path a server runs on untrusted bytes:
 * FrameDecoder cutting the stream, then decodeFields on each payload. Valid
 * frames split at any points decode to the same frames and values; damaged
 * or random input fails with a NativeProtocolError and nothing else.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FRAMES, FRAME_NAMES, type FieldSpec, type FrameName } from './native-spec.js';
import { concatenateBytes, fieldsArbitrary, fieldValueArbitraries } from './codec-arbitraries.js';
import { decodeFields, encodeFrame, encodeResponse } from './method-codec.js';
import { FrameDecoder } from './frame-decoder.js';
import { NativeProtocolError } from './native-protocol-error.js';
import type { RawFrame } from './wire-types.js';

const FRAME_LIMIT = 1 << 16;
const VALUES = fieldValueArbitraries(3, 24);

const NAMES = Object.keys(FRAMES) as FrameName[];

/** One valid frame of any type: a request or push, or an answer. */
const anyFrame: fc.Arbitrary<Uint8Array> = fc.constantFrom(...NAMES).chain((name) => {
  const spec = FRAMES[name];
  const fields = (spec.response !== null ? fc.boolean() : fc.constant(false)).chain((answer) => {
    const list = (answer ? spec.response : spec.fields) as readonly FieldSpec[];
    return fieldsArbitrary(list, VALUES).map((values) => ({ answer, values }));
  });
  return fc.tuple(fields, fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff_ffff })).map(([{ answer, values }, channel, correlation]) =>
    answer ? encodeResponse(name as never, channel, correlation, values as never) : encodeFrame(name, channel, correlation, values as never),
  );
});

/** Cuts `bytes` at the given points (any order, duplicates allowed). */
function split(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((cut) => cut % (bytes.byteLength + 1)))].sort((left, right) => left - right);
  const chunks: Uint8Array[] = [];
  let from = 0;
  for (const point of points) {
    chunks.push(bytes.subarray(from, point));
    from = point;
  }
  chunks.push(bytes.subarray(from));
  return chunks;
}

/** Decodes a frame's payload as the server would: the request or push fields, or the answer's. */
function decodePayload(frame: RawFrame): Record<string, unknown> {
  const spec = FRAMES[FRAME_NAMES.get(frame.type)!];
  const answer = (frame.flags & 1) !== 0;
  if (answer && (frame.flags & 2) !== 0) return decodeFields([['code', 'string'], ['message', 'string']], frame.payload);
  if (answer && spec.response === null) throw new NativeProtocolError('NATIVE_UNEXPECTED_FRAME', 'an answer to a push');
  return decodeFields((answer ? spec.response : spec.fields) as readonly FieldSpec[], frame.payload);
}

/** Comparable form of frames: payload bytes as arrays. */
function comparable(frames: readonly RawFrame[]): unknown[] {
  return frames.map((frame) => ({ ...frame, payload: [...frame.payload] }));
}

test('valid frames split at any points decode to the same frames and field values', () => {
  fc.assert(
    fc.property(fc.array(anyFrame, { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 12 }), (frames, cuts) => {
      const stream = concatenateBytes(frames);
      const whole = new FrameDecoder(FRAME_LIMIT).push(stream);
      assert.equal(whole.length, frames.length);
      const decoder = new FrameDecoder(FRAME_LIMIT);
      const pieces = split(stream, cuts).flatMap((chunk) => decoder.push(chunk));
      assert.deepEqual(comparable(pieces), comparable(whole));
      assert.equal(decoder.bufferedBytes(), 0);
      for (let index = 0; index < pieces.length; index++) assert.deepEqual(decodePayload(pieces[index]!), decodePayload(whole[index]!));
    }),
    { numRuns: 300 },
  );
});

/** Runs the decoding path; true when it ended on a NativeProtocolError, false when all decoded. Anything else throws. */
function survives(chunks: readonly Uint8Array[]): boolean {
  const decoder = new FrameDecoder(FRAME_LIMIT);
  try {
    for (const chunk of chunks) for (const frame of decoder.push(chunk)) decodePayload(frame);
    return false;
  } catch (error) {
    if (error instanceof NativeProtocolError) return true;
    throw error;
  }
}

test('damaged valid frames (bytes changed, dropped or inserted) decode or fail with a NativeProtocolError, nothing else', () => {
  const damage = fc.record({ at: fc.nat(), kind: fc.constantFrom('change', 'drop', 'insert'), byte: fc.integer({ min: 0, max: 255 }) });
  fc.assert(
    fc.property(fc.array(anyFrame, { minLength: 1, maxLength: 4 }), fc.array(damage, { minLength: 1, maxLength: 4 }), fc.array(fc.nat(), { maxLength: 6 }), (frames, damages, cuts) => {
      let bytes = Array.from(concatenateBytes(frames));
      for (const { at, kind, byte } of damages) {
        const index = at % (bytes.length + 1);
        if (kind === 'change' && index < bytes.length) bytes[index] = byte;
        else if (kind === 'drop' && index < bytes.length) bytes.splice(index, 1);
        else bytes = [...bytes.slice(0, index), byte, ...bytes.slice(index)];
      }
      survives(split(Uint8Array.from(bytes), cuts));
    }),
    { numRuns: 500 },
  );
});

test('random payloads for every field list fail with a NativeProtocolError or decode, nothing else', () => {
  const lists = NAMES.flatMap((name) => [FRAMES[name].fields, ...(FRAMES[name].response !== null ? [FRAMES[name].response] : [])]) as Array<readonly FieldSpec[]>;
  fc.assert(
    fc.property(fc.constantFrom(...lists), fc.uint8Array({ maxLength: 200 }), (fields, payload) => {
      try {
        decodeFields(fields, payload);
      } catch (error) {
        assert.ok(error instanceof NativeProtocolError, `${String(error)}`);
        assert.equal(error.code, 'NATIVE_MALFORMED_FRAME');
      }
    }),
    { numRuns: 2_000 },
  );
});

test('random bytes with frame-like headers reach the field decoders and fail cleanly', () => {
  const types = [...FRAME_NAMES.keys()];
  fc.assert(
    fc.property(fc.constantFrom(...types), fc.integer({ min: 0, max: 3 }), fc.uint8Array({ maxLength: 120 }), fc.array(fc.nat(), { maxLength: 4 }), (type, flags, payload, cuts) => {
      const frame = new Uint8Array(12 + payload.byteLength);
      const view = new DataView(frame.buffer);
      view.setUint32(0, frame.byteLength - 4, true);
      frame[4] = type;
      frame[5] = flags;
      frame.set(payload, 12);
      survives(split(frame, cuts));
    }),
    { numRuns: 2_000 },
  );
});
