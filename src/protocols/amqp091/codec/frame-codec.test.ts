import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isFerryError } from '../../../lib/ferry-error.js';
import { AmqpProtocolError, isAmqpProtocolError } from './amqp-protocol-error.js';
import {
  type AmqpFrame,
  FrameDecoder,
  checkProtocolHeader,
  encodeBodyFrame,
  encodeContentFrames,
  encodeFrame,
  encodeHeaderFrame,
  encodeHeartbeatFrame,
  encodeMethodFrame,
  encodeMethodFrameByName,
  protocolHeaderReply,
  splitBody,
} from './frame-codec.js';
import { decodeContentHeader, decodeMethod } from './method-codec.js';
import { FRAME_BODY, FRAME_HEADER, FRAME_HEARTBEAT, FRAME_METHOD, PROTOCOL_HEADER } from './spec.js';

function hex(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text.replace(/\s+/g, ''), 'hex'));
}

function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

function concat(...parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

/** Frames as comparable plain values (payloads as hex). */
function describeFrames(frames: readonly AmqpFrame[]): Array<[number, number, string]> {
  return frames.map((frame) => [frame.type, frame.channel, toHex(frame.payload)]);
}

function body(length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, index) => (index * 31 + 7) & 0xff);
}

// A realistic client stream: protocol header, handshake methods, a publish with a
// body spread over three frames, a heartbeat, an empty-bodied publish, and a close.
function clientStream(): { bytes: Uint8Array; frames: Array<[number, number, string]> } {
  const frameMax = 4096;
  const parts = [
    encodeMethodFrameByName(0, 'connection.start-ok', { clientProperties: { product: 'test' }, mechanism: 'PLAIN', response: '\0guest\0guest', locale: 'en_US' }),
    encodeMethodFrameByName(0, 'connection.tune-ok', { channelMax: 2047, frameMax, heartbeat: 60 }),
    encodeMethodFrameByName(0, 'connection.open', { virtualHost: '/' }),
    encodeMethodFrameByName(1, 'channel.open', {}),
    encodeContentFrames(1, 60, 40, { exchange: 'amq.topic', routingKey: 'a.b', mandatory: true, immediate: false }, { contentType: 'application/json', deliveryMode: 2 }, body(10_000), frameMax),
    encodeHeartbeatFrame(),
    encodeContentFrames(1, 60, 40, { exchange: '', routingKey: 'q', mandatory: false, immediate: false }, {}, new Uint8Array(0), frameMax),
    encodeMethodFrameByName(1, 'channel.close', { replyCode: 200, replyText: 'bye', classId: 0, methodId: 0 }),
  ];
  const frames = new FrameDecoder({ frameMax }).push(concat(...parts));
  return { bytes: concat(PROTOCOL_HEADER, ...parts), frames: describeFrames(frames) };
}

test('each frame type has the layout type, channel, size, payload, frame-end', () => {
  assert.equal(toHex(encodeHeartbeatFrame()), '080000000000' + '00ce');
  assert.equal(toHex(encodeBodyFrame(5, new Uint8Array([0x68, 0x69]))), '03' + '0005' + '00000002' + '6869' + 'ce');
  assert.equal(toHex(encodeHeaderFrame(1, 60, 2, {})), '02' + '0001' + '0000000e' + '003c' + '0000' + '0000000000000002' + '0000' + 'ce');
  assert.equal(toHex(encodeMethodFrame(0, 10, 51)), '01' + '0000' + '00000004' + '000a0033' + 'ce');
  assert.equal(toHex(encodeFrame(FRAME_BODY, 65535, new Uint8Array(0))), '03ffff00000000ce');
  const frames = new FrameDecoder().push(concat(encodeHeartbeatFrame(), encodeBodyFrame(5, new Uint8Array([0x68, 0x69]))));
  assert.deepEqual(describeFrames(frames), [
    [FRAME_HEARTBEAT, 0, ''],
    [FRAME_BODY, 5, '6869'],
  ]);
});

test('a frame stream split at every byte position decodes to the same frames', () => {
  const { bytes, frames } = clientStream();
  assert.equal(frames.length, 13);
  for (let split = 0; split <= bytes.byteLength; split++) {
    const decoder = new FrameDecoder({ expectProtocolHeader: true });
    const decoded = [...decoder.push(bytes.subarray(0, split)), ...decoder.push(bytes.subarray(split))];
    assert.deepEqual(describeFrames(decoded), frames, `split at ${split}`);
    assert.equal(decoder.bufferedBytes, 0);
  }
});

test('a frame stream fed one byte at a time decodes to the same frames', () => {
  const { bytes, frames } = clientStream();
  const decoder = new FrameDecoder({ expectProtocolHeader: true });
  const decoded: AmqpFrame[] = [];
  for (let index = 0; index < bytes.byteLength; index++) {
    decoded.push(...decoder.push(bytes.subarray(index, index + 1)));
    assert.ok(decoder.bufferedBytes <= 4096);
  }
  assert.deepEqual(describeFrames(decoded), frames);
});

test('a frame stream cut into random chunks decodes to the same frames', () => {
  const { bytes, frames } = clientStream();
  fc.assert(
    fc.property(fc.uniqueArray(fc.integer({ min: 0, max: bytes.byteLength }), { maxLength: 40 }), (cuts) => {
      const points = [0, ...[...cuts].sort((left, right) => left - right), bytes.byteLength];
      const decoder = new FrameDecoder({ expectProtocolHeader: true });
      const decoded: AmqpFrame[] = [];
      for (let index = 1; index < points.length; index++) decoded.push(...decoder.push(bytes.subarray(points[index - 1], points[index])));
      assert.deepEqual(describeFrames(decoded), frames);
    }),
    { numRuns: 300 },
  );
});

function assertFrameError(push: () => unknown, pattern: RegExp): void {
  assert.throws(push, (error) => isAmqpProtocolError(error, 501) && error.code === 'AMQP_FRAME_ERROR' && error.isConnectionError && pattern.test(error.message));
}

test('a frame larger than frame-max is a 501 frame error, found from its header alone', () => {
  const atLimit = encodeBodyFrame(1, new Uint8Array(4096 - 8));
  assert.equal(new FrameDecoder({ frameMax: 4096 }).push(atLimit).length, 1);
  const overLimit = encodeBodyFrame(1, new Uint8Array(4096 - 7));
  assertFrameError(() => new FrameDecoder({ frameMax: 4096 }).push(overLimit), /type 3, all octets = <<>>: \{frame_too_large,4089,4088\}$/);
  // Only the 7 header bytes: the size alone condemns it, nothing is buffered.
  assertFrameError(() => new FrameDecoder().push(hex('03 0001 ffffffff')), /\{frame_too_large,4294967295,4088\}/);
  const raised = new FrameDecoder({ frameMax: 4096 });
  raised.setFrameMax(131_072);
  assert.equal(raised.push(overLimit).length, 1);
});

test('a bad frame-end octet is a 501 frame error, whether or not the frame was split', () => {
  const frame = encodeBodyFrame(1, new Uint8Array([1, 2, 3]));
  frame[frame.byteLength - 1] = 0x00;
  assertFrameError(() => new FrameDecoder().push(frame), /frame end octet is 0x00, expected 0xce/);
  const split = new FrameDecoder();
  split.push(frame.subarray(0, 9));
  assertFrameError(() => split.push(frame.subarray(9)), /frame end octet/);
});

test('unknown frame types and malformed heartbeats are 501 frame errors', () => {
  for (const type of [0, 4, 7, 9, 0xff]) {
    assertFrameError(() => new FrameDecoder().push(hex(`${type.toString(16).padStart(2, '0')} 0001 00000000 ce`)), new RegExp(`unknown frame type ${type}`));
  }
  assertFrameError(() => new FrameDecoder().push(hex('08 0001 00000000 ce')), /heartbeat frame on channel 1/);
  assertFrameError(() => new FrameDecoder().push(hex('08 0000 00000001 00 ce')), /heartbeat frame with a 1-byte payload/);
});

test('after an error the decoder stays failed', () => {
  const decoder = new FrameDecoder();
  let first: unknown;
  try {
    decoder.push(hex('05 0000 00000000 ce'));
  } catch (error) {
    first = error;
  }
  assert.ok(first instanceof AmqpProtocolError);
  assert.throws(() => decoder.push(encodeHeartbeatFrame()), (error) => error === first);
});

test('the protocol header is checked byte by byte and answered with our own on a mismatch', () => {
  assert.equal(toHex(protocolHeaderReply()), '414d515000000901');
  assert.equal(checkProtocolHeader(hex('414d5150 00000901')), 'accepted');
  assert.equal(checkProtocolHeader(hex('414d5150 00000901 01')), 'accepted');
  assert.equal(checkProtocolHeader(hex('414d51')), 'incomplete');
  assert.equal(checkProtocolHeader(new Uint8Array(0)), 'incomplete');
  assert.equal(checkProtocolHeader(hex('414d5150 01010009')), 'rejected');
  assert.equal(checkProtocolHeader(new TextEncoder().encode('GET / HTTP/1.1')), 'rejected');
  assert.equal(checkProtocolHeader(hex('41')), 'incomplete');
  assert.equal(checkProtocolHeader(hex('42')), 'rejected');

  const mismatch = (bytes: Uint8Array) =>
    assert.throws(
      () => new FrameDecoder({ expectProtocolHeader: true }).push(bytes),
      (error) => isAmqpProtocolError(error) && error.code === 'AMQP_PROTOCOL_HEADER_MISMATCH' && error.isConnectionError,
    );
  mismatch(new TextEncoder().encode('GET / HTTP/1.1\r\n'));
  // AMQP 0-8's header: refused at its fifth byte.
  mismatch(hex('414d5150 01010800'));
  mismatch(hex('414d5150 00000900'));

  const decoder = new FrameDecoder({ expectProtocolHeader: true });
  assert.deepEqual(decoder.push(hex('414d')), []);
  assert.equal(decoder.protocolHeaderReceived, false);
  const frames = decoder.push(concat(hex('5150 00000901'), encodeHeartbeatFrame()));
  assert.equal(decoder.protocolHeaderReceived, true);
  assert.deepEqual(describeFrames(frames), [[FRAME_HEARTBEAT, 0, '']]);
});

test('frame-max below the spec minimum or above a long is refused', () => {
  for (const frameMax of [0, 4095, 2 ** 32, 4096.5]) {
    assert.throws(() => new FrameDecoder({ frameMax }), (error) => isFerryError(error, 'INVALID_ARGUMENT'));
    assert.throws(() => splitBody(new Uint8Array(1), frameMax), (error) => isFerryError(error, 'INVALID_ARGUMENT'));
  }
});

test('a body splits into frames of at most frame-max - 8 bytes, and an empty body into none', () => {
  assert.deepEqual(splitBody(new Uint8Array(0), 4096), []);
  const content = body(4088 * 2 + 1);
  const chunks = splitBody(content, 4096);
  assert.deepEqual(chunks.map((chunk) => chunk.byteLength), [4088, 4088, 1]);
  assert.equal(toHex(concat(...chunks)), toHex(content));
  assert.deepEqual(splitBody(body(4088), 4096).map((chunk) => chunk.byteLength), [4088]);
});

test('content frames decode back to the method, its header and its body', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 20_000 }), fc.integer({ min: 4096, max: 9000 }), (length, frameMax) => {
      const content = body(length);
      const bytes = encodeContentFrames(7, 60, 60, { consumerTag: 'ctag', deliveryTag: 42, redelivered: false, exchange: 'x', routingKey: 'rk' }, { priority: 3 }, content, frameMax);
      const frames = new FrameDecoder({ frameMax }).push(bytes);
      assert.ok(frames.every((frame) => frame.channel === 7 && frame.payload.byteLength + 8 <= frameMax));
      assert.equal(frames[0]!.type, FRAME_METHOD);
      assert.equal(decodeMethod(frames[0]!.payload).name, 'basic.deliver');
      assert.equal(frames[1]!.type, FRAME_HEADER);
      assert.deepEqual(decodeContentHeader(frames[1]!.payload), { classId: 60, bodySize: length, properties: { priority: 3 } });
      const bodies = frames.slice(2);
      assert.ok(bodies.every((frame) => frame.type === FRAME_BODY));
      assert.equal(bodies.length, Math.ceil(length / (frameMax - 8)));
      assert.equal(toHex(concat(...bodies.map((frame) => frame.payload))), toHex(content));
    }),
    { numRuns: 100 },
  );
});

test('content frames refuse a header frame larger than frame-max and a method without content', () => {
  const headers = { big: 'x'.repeat(5000) };
  assert.throws(
    () => encodeContentFrames(1, 60, 60, { consumerTag: 'c', deliveryTag: 1, redelivered: false, exchange: '', routingKey: 'q' }, { headers }, new Uint8Array(1), 4096),
    (error) => isFerryError(error, 'AMQP_FRAME_TOO_LARGE') && /exceeds frame-max 4096/.test(error.message),
  );
  assert.throws(() => encodeContentFrames(1, 60, 80, { deliveryTag: 1, multiple: false }, {}, new Uint8Array(0), 4096), (error) => isFerryError(error, 'INVALID_ARGUMENT'));
  assert.throws(() => encodeMethodFrame(65_536, 20, 10), (error) => isFerryError(error, 'INVALID_ARGUMENT') && /channel/.test(error.message));
});

test('payloads of frames that arrive whole are views of the chunk; split ones are copies', () => {
  const frame = encodeBodyFrame(1, new Uint8Array([1, 2, 3]));
  const [whole] = new FrameDecoder().push(frame);
  assert.equal(whole!.payload.buffer, frame.buffer);
  const decoder = new FrameDecoder();
  decoder.push(frame.subarray(0, 8));
  const [split] = decoder.push(frame.subarray(8));
  assert.notEqual(split!.payload.buffer, frame.buffer);
  assert.deepEqual([...split!.payload], [1, 2, 3]);
});
