// Micro benchmark of AMQP 0-9-1 frame decoding: prints one JSON line.
//
//   node dist/src/protocols/amqp091/codec/frame-codec.bench.js [durationMs] [bodyBytes]
//
// The stream is what a publishing client sends: basic.publish, a content header
// with typical properties, and one body frame of `bodyBytes` (default 256), over
// and over, cut into 64 KiB chunks as socket reads deliver them. Two figures:
// framing alone (FrameDecoder.push), and framing plus decoding every method and
// content header payload, which is what a connection does before routing.
// Tiny arguments (`50`) keep it cheap in CI.
import { FrameDecoder } from './frame-codec.js';
import { encodeContentFrames } from './frame-codec.js';
import { decodeContentHeader, decodeMethod } from './method-codec.js';
import { FRAME_HEADER, FRAME_METHOD } from './spec.js';

const durationMs = Number(process.argv[2] ?? 1_000);
const bodyBytes = Number(process.argv[3] ?? 256);
const messagesPerStream = 10_000;
const chunkBytes = 64 * 1024;
const frameMax = 131_072;

function buildChunks(): Uint8Array[] {
  const body = new Uint8Array(bodyBytes).fill(0x61);
  const message = encodeContentFrames(
    1,
    60,
    40,
    { exchange: 'amq.topic', routingKey: 'orders.eu.created', mandatory: false, immediate: false },
    { contentType: 'application/json', deliveryMode: 2, messageId: 'msg-000000000001', headers: { 'x-tenant': 'acme', 'x-attempt': 1 } },
    body,
    frameMax,
  );
  const stream = new Uint8Array(message.byteLength * messagesPerStream);
  for (let index = 0; index < messagesPerStream; index++) stream.set(message, index * message.byteLength);
  const chunks: Uint8Array[] = [];
  for (let offset = 0; offset < stream.byteLength; offset += chunkBytes) chunks.push(stream.subarray(offset, offset + chunkBytes));
  return chunks;
}

function run(chunks: readonly Uint8Array[], decodePayloads: boolean): { framesPerSecond: number; bytesPerSecond: number } {
  let frames = 0;
  let bytes = 0;
  const start = performance.now();
  let elapsedMs = 0;
  do {
    const decoder = new FrameDecoder({ frameMax });
    for (const chunk of chunks) {
      for (const frame of decoder.push(chunk)) {
        frames++;
        if (!decodePayloads) continue;
        if (frame.type === FRAME_METHOD) decodeMethod(frame.payload);
        else if (frame.type === FRAME_HEADER) decodeContentHeader(frame.payload);
      }
      bytes += chunk.byteLength;
    }
    elapsedMs = performance.now() - start;
  } while (elapsedMs < durationMs);
  return { framesPerSecond: Math.round((frames * 1000) / elapsedMs), bytesPerSecond: Math.round((bytes * 1000) / elapsedMs) };
}

const chunks = buildChunks();
// Warm up both paths so the JIT has compiled them before measuring.
run(chunks, true);
const framing = run(chunks, false);
const decoding = run(chunks, true);
console.log(
  JSON.stringify({
    benchmark: 'amqp091-frame-decoder',
    bodyBytes,
    chunkBytes,
    framesPerSecond: framing.framesPerSecond,
    megabytesPerSecond: Math.round(framing.bytesPerSecond / 1e6),
    framesPerSecondWithPayloadDecode: decoding.framesPerSecond,
    messagesPerSecondWithPayloadDecode: Math.round(decoding.framesPerSecond / 3),
  }),
);
