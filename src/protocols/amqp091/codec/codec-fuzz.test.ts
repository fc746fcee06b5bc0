// Fuzzing of every decoder in the codec (STYLE rule 8): garbage and mutated
// valid streams must yield frames or fail with an AmqpProtocolError, never
// anything else (no RangeError, no TypeError, no stack overflow).
//
// Each property runs until its time box ends: FUZZ_MS milliseconds (default
// 1000), so the suite stays quick in CI and can run for hours by hand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AmqpProtocolError } from './amqp-protocol-error.js';
import { anyMethod, basicProperties } from './codec-arbitraries.js';
import { decodeFieldArray, decodeFieldTable } from './field-table.js';
import { type AmqpFrame, FrameDecoder, encodeBodyFrame, encodeHeaderFrame, encodeHeartbeatFrame, encodeMethodFrame } from './frame-codec.js';
import { decodeContentHeader, decodeMethod } from './method-codec.js';
import { FRAME_HEADER, FRAME_METHOD, PROTOCOL_HEADER } from './spec.js';

const timeBoxMs = Number(process.env['FUZZ_MS'] ?? 1000);
const fuzzRuns = { numRuns: 10_000_000, interruptAfterTimeLimit: timeBoxMs };

/** Runs `decode`; an AmqpProtocolError is an allowed outcome, any other error fails the property. */
function decodesOrRefuses(decode: () => unknown): void {
  try {
    decode();
  } catch (error) {
    if (!(error instanceof AmqpProtocolError)) throw error;
    assert.ok(error.replyCode >= 501 && error.replyCode <= 505 && error.isConnectionError, `unexpected reply code ${error.replyCode}`);
  }
}

/** Feeds chunks to a decoder and decodes every frame's payload, as a connection would. */
function feed(chunks: readonly Uint8Array[], expectProtocolHeader: boolean, frameMax = 4096): void {
  const decoder = new FrameDecoder({ expectProtocolHeader, frameMax });
  const frames: AmqpFrame[] = [];
  decodesOrRefuses(() => {
    for (const chunk of chunks) frames.push(...decoder.push(chunk));
  });
  for (const frame of frames) {
    assert.ok(frame.payload.byteLength + 8 <= frameMax);
    if (frame.type === FRAME_METHOD) decodesOrRefuses(() => decodeMethod(frame.payload));
    if (frame.type === FRAME_HEADER) decodesOrRefuses(() => decodeContentHeader(frame.payload));
  }
}

/** Cuts bytes into chunks at the given points. */
function chunked(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [0, ...cuts.map((cut) => cut % (bytes.byteLength + 1)).sort((left, right) => left - right), bytes.byteLength];
  const chunks: Uint8Array[] = [];
  for (let index = 1; index < points.length; index++) chunks.push(bytes.subarray(points[index - 1], points[index]));
  return chunks;
}

/** A valid stream of a few frames: methods with generated fields, content headers, bodies, heartbeats. */
const validFrame = fc.oneof(
  anyMethod.map(({ spec, fields }) => encodeMethodFrame(1, spec.classId, spec.methodId, fields)),
  basicProperties.map((properties) => encodeHeaderFrame(1, 60, 10, properties)),
  fc.uint8Array({ maxLength: 64 }).map((body) => encodeBodyFrame(1, body)),
  fc.constant(encodeHeartbeatFrame()),
);
const validStream = fc
  .array(validFrame, { minLength: 1, maxLength: 5 })
  .map((frames) => new Uint8Array(Buffer.concat(frames)))
  .filter((bytes) => bytes.byteLength < 4096);

type Mutation = { kind: 'flip'; at: number; value: number } | { kind: 'insert'; at: number; value: number } | { kind: 'delete'; at: number } | { kind: 'truncate'; at: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
);

function mutate(bytes: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let result = [...bytes];
  for (const change of mutations) {
    if (result.length === 0) break;
    const at = change.at % result.length;
    switch (change.kind) {
      case 'flip':
        result[at] = change.value;
        break;
      case 'insert':
        result.splice(at, 0, change.value);
        break;
      case 'delete':
        result.splice(at, 1);
        break;
      case 'truncate':
        result = result.slice(0, at);
        break;
    }
  }
  return Uint8Array.from(result);
}

test('random bytes in random chunks yield frames or a protocol error, nothing else', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), fc.array(fc.nat(), { maxLength: 6 }), fc.boolean(), (bytes, cuts, expectProtocolHeader) => {
      feed(chunked(bytes, cuts), expectProtocolHeader);
    }),
    fuzzRuns,
  );
});

test('random bytes after a valid protocol header and frame header yield frames or a protocol error', () => {
  // Garbage that at least gets past the first checks, so the payload decoders see it.
  const frameOf = (type: number) =>
    fc.uint8Array({ maxLength: 300 }).map((payload) => {
      const frame = new Uint8Array(payload.byteLength + 8);
      frame[0] = type;
      new DataView(frame.buffer).setUint32(3, payload.byteLength);
      frame.set(payload, 7);
      frame[frame.byteLength - 1] = 0xce;
      return frame;
    });
  fc.assert(
    fc.property(fc.array(fc.oneof(frameOf(1), frameOf(2), frameOf(3)), { maxLength: 4 }), fc.array(fc.nat(), { maxLength: 4 }), (frames, cuts) => {
      feed(chunked(new Uint8Array(Buffer.concat([PROTOCOL_HEADER, ...frames])), cuts), true);
    }),
    fuzzRuns,
  );
});

test('mutated valid frame streams yield frames or a protocol error, nothing else', () => {
  fc.assert(
    fc.property(validStream, fc.array(mutation, { minLength: 1, maxLength: 4 }), fc.array(fc.nat(), { maxLength: 4 }), (bytes, mutations, cuts) => {
      feed(chunked(mutate(bytes, mutations), cuts), false);
    }),
    fuzzRuns,
  );
});

test('method payloads with valid ids and random arguments decode or fail with a protocol error', () => {
  fc.assert(
    fc.property(anyMethod, fc.uint8Array({ maxLength: 200 }), (method, argumentBytes) => {
      const payload = new Uint8Array(4 + argumentBytes.byteLength);
      new DataView(payload.buffer).setUint16(0, method.spec.classId);
      new DataView(payload.buffer).setUint16(2, method.spec.methodId);
      payload.set(argumentBytes, 4);
      decodesOrRefuses(() => decodeMethod(payload));
    }),
    fuzzRuns,
  );
});

test('content headers, field tables and arrays of random bytes decode or fail with a protocol error', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      const header = new Uint8Array(bytes.byteLength + 2);
      header[0] = 0;
      header[1] = 60;
      header.set(bytes, 2);
      decodesOrRefuses(() => decodeContentHeader(header));
      decodesOrRefuses(() => decodeFieldTable(bytes));
      decodesOrRefuses(() => decodeFieldArray(bytes));
    }),
    fuzzRuns,
  );
});
