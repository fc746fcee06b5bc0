import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isFerryError } from '../../../lib/ferry-error.js';
import { isAmqpProtocolError } from './amqp-protocol-error.js';
import { basicProperties, bodySize, methodFields } from './codec-arbitraries.js';
import { fieldTableToHeaderTable } from './field-table.js';
import { FRAME_METHOD } from './spec.js';
import { encodeFrame, encodeMethodFrame } from './frame-codec.js';
import {
  type AnyDecodedMethod,
  decodeContentHeader,
  decodeMethod,
  encodeContentHeader,
  encodeMethod,
  encodeMethodByName,
  writeMethod,
} from './method-codec.js';
import { METHOD_SPECS, type MethodSpec } from './spec.js';
import { WireWriter } from './wire-writer.js';

function hex(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text.replace(/\s+/g, ''), 'hex'));
}

function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

function ascii(text: string): string {
  return Buffer.from(text, 'latin1').toString('hex');
}

test('every method round-trips with generated values of each field type', () => {
  for (const spec of METHOD_SPECS) {
    fc.assert(
      fc.property(methodFields(spec), (fields) => {
        const payload = encodeMethod(spec.classId, spec.methodId, fields);
        const decoded = decodeMethod(payload);
        assert.equal(decoded.name, spec.name);
        assert.equal(decoded.classId, spec.classId);
        assert.equal(decoded.methodId, spec.methodId);
        // fast-check builds records without a prototype; the decoder builds plain objects.
        assert.deepEqual(decoded.fields, { ...fields });
        assert.equal(toHex(encodeMethod(spec.classId, spec.methodId, decoded.fields)), toHex(payload));
      }),
      { numRuns: 40 },
    );
  }
});

test('basic.publish encodes to the bytes the spec gives', () => {
  // class 60, method 40, reserved-1 short 0, exchange "amq.direct", routing-key "rk", then
  // mandatory and immediate packed into one octet: bit 0 and bit 1.
  const expected = `003c 0028 0000 0a${ascii('amq.direct')} 02${ascii('rk')} 03`;
  const payload = encodeMethod(60, 40, { exchange: 'amq.direct', routingKey: 'rk', mandatory: true, immediate: true });
  assert.equal(toHex(payload), toHex(hex(expected)));
  assert.equal(toHex(encodeMethod(60, 40, { exchange: 'amq.direct', routingKey: 'rk', mandatory: false, immediate: true })).slice(-2), '02');
  assert.deepEqual(decodeMethod(hex(expected)).fields, { reserved1: 0, exchange: 'amq.direct', routingKey: 'rk', mandatory: true, immediate: true });
});

test('connection.start with its server-properties table encodes to the bytes the spec gives', () => {
  const capabilities = `12${ascii('publisher_confirms')} 74 01`; // 21 bytes
  const serverProperties =
    '00000039' + // 57 bytes of entries
    `07${ascii('product')} 53 00000005 ${ascii('Ferry')}` + // 18 bytes
    `0c${ascii('capabilities')} 46 00000015 ${capabilities}`; // 39 bytes
  const payload = `000a 000a 00 09 ${serverProperties} 00000005${ascii('PLAIN')} 00000005${ascii('en_US')}`;
  const fields = {
    versionMajor: 0,
    versionMinor: 9,
    serverProperties: { product: 'Ferry', capabilities: { publisher_confirms: true } },
    mechanisms: 'PLAIN',
    locales: 'en_US',
  };
  assert.equal(toHex(encodeMethodByName('connection.start', fields)), toHex(hex(payload)));
  // As a frame on channel 0: type 1, channel 0, size 85, payload, frame-end.
  assert.equal(toHex(encodeMethodFrame(0, 10, 10, fields)), toHex(hex(`01 0000 00000055 ${payload} ce`)));
  const decoded = decodeMethod(hex(payload));
  assert.equal(decoded.name, 'connection.start');
  if (decoded.name !== 'connection.start') return;
  assert.deepEqual(fieldTableToHeaderTable(decoded.fields.serverProperties), fields.serverProperties);
  assert.equal(new TextDecoder().decode(decoded.fields.mechanisms), 'PLAIN');
});

test('a content header with several properties encodes to the bytes the spec gives', () => {
  // Flags: content-type bit 15, headers 13, delivery-mode 12, correlation-id 10, timestamp 6, app-id 3.
  const expected =
    '003c 0000 0000000000000005 b448' +
    `0a${ascii('text/plain')}` +
    `00000007 01${ascii('x')} 49 00000001` +
    '02' +
    `02${ascii('c1')}` +
    '00000000 6553f100' +
    `03${ascii('app')}`;
  const properties = { contentType: 'text/plain', headers: { x: 1 }, deliveryMode: 2, correlationId: 'c1', timestamp: 1_700_000_000, appId: 'app' };
  assert.equal(toHex(encodeContentHeader(60, 5, properties)), toHex(hex(expected)));
  const decoded = decodeContentHeader(hex(expected));
  assert.equal(decoded.classId, 60);
  assert.equal(decoded.bodySize, 5);
  assert.deepEqual(Object.keys(decoded.properties), ['contentType', 'headers', 'deliveryMode', 'correlationId', 'timestamp', 'appId']);
  assert.deepEqual(fieldTableToHeaderTable(decoded.properties.headers!), { x: 1 });
  assert.equal(decoded.properties.timestamp, 1_700_000_000);
});

test('a content header without properties has one zero flags word', () => {
  assert.equal(toHex(encodeContentHeader(60, 0, {})), '003c' + '0000' + '0000000000000000' + '0000');
  assert.deepEqual(decodeContentHeader(hex('003c 0000 0000000000000000 0000')), { classId: 60, bodySize: 0, properties: {} });
});

test('content headers round-trip with any set of properties and body sizes', () => {
  fc.assert(
    fc.property(basicProperties, bodySize, (properties, size) => {
      const payload = encodeContentHeader(60, size, properties);
      const decoded = decodeContentHeader(payload);
      assert.deepEqual(decoded, { classId: 60, bodySize: size, properties: { ...properties } });
      assert.equal(toHex(encodeContentHeader(60, decoded.bodySize, decoded.properties)), toHex(payload));
    }),
    { numRuns: 300 },
  );
});

test('a flags word with the continuation bit is followed by another; its properties must exist', () => {
  // content-type set and continuation bit 0 set, then a second, empty flags word.
  const continued = hex(`003c 0000 0000000000000001 8001 0000 02${ascii('ab')}`);
  assert.deepEqual(decodeContentHeader(continued).properties, { contentType: 'ab' });
  // Bit 1 of the first word would be a fifteenth property; basic has fourteen.
  assert.throws(() => decodeContentHeader(hex('003c 0000 0000000000000000 0002')), (error) => isAmqpProtocolError(error, 502) && /property flag 15/.test(error.message));
  // A property flag in the second word (property 16).
  assert.throws(() => decodeContentHeader(hex('003c 0000 0000000000000000 0001 8000')), (error) => isAmqpProtocolError(error, 502));
  // The continuation bit promises a word that is not there.
  assert.throws(() => decodeContentHeader(hex('003c 0000 0000000000000000 0001')), (error) => isAmqpProtocolError(error, 501));
});

test('a content header for a class without content is an unexpected frame', () => {
  for (const classId of [10, 50, 999]) {
    assert.throws(
      () => decodeContentHeader(hex(`${classId.toString(16).padStart(4, '0')} 0000 0000000000000000 0000`)),
      (error) => isAmqpProtocolError(error, 505) && error.isConnectionError && error.classId === classId,
    );
  }
});

test('consecutive bits pack into octets from the low bit; any other field ends the run', () => {
  // queue.declare: passive, durable, exclusive, auto-delete, no-wait are bits 0..4 of one octet.
  const payload = encodeMethodByName('queue.declare', { queue: 'q', passive: false, durable: true, exclusive: false, autoDelete: true, noWait: false, arguments: {} });
  assert.equal(toHex(payload), `0032000a0000 01${ascii('q')} 0a 00000000`.replace(/\s/g, ''));
  // exchange.declare: five bits after the type.
  const declare = encodeMethodByName('exchange.declare', {
    exchange: 'x', type: 'topic', passive: true, durable: true, autoDelete: false, internal: true, noWait: true, arguments: {},
  });
  assert.equal(toHex(declare.subarray(-5, -4)), '1b');
  // A synthetic method with ten bits, a short, then one more bit: three bit octets in all.
  const bit = (name: string) => ({ name, key: name, type: 'bit' as const, reserved: false, label: name });
  const spec: MethodSpec = {
    classId: 1, methodId: 2, className: 'test', methodName: 'bits', name: 'tx.select', synchronous: false, responses: [], hasContent: false, sentBy: 'client',
    fields: [...Array.from({ length: 10 }, (_, index) => bit(`b${index}`)), { name: 's', key: 's', type: 'short', reserved: false, label: 's' }, bit('last')],
  };
  const writer = new WireWriter();
  writeMethod(writer, spec, { b0: true, b1: false, b2: false, b3: false, b4: false, b5: false, b6: false, b7: true, b8: false, b9: true, s: 0x1234, last: true });
  assert.equal(toHex(writer.finish()), '0001 0002 81 02 1234 01'.replace(/\s/g, ''));
});

test('encoding enforces the short string limit of 255 bytes of UTF-8, naming the field', () => {
  const isTooLong = (error: unknown) => isFerryError(error, 'INVALID_ARGUMENT') && /basic\.publish routing-key/.test(error.message) && /at most 255 bytes/.test(error.message);
  assert.throws(() => encodeMethod(60, 40, { exchange: '', routingKey: 'k'.repeat(256), mandatory: false, immediate: false }), isTooLong);
  // 128 two-byte characters are 256 bytes, though only 128 UTF-16 units.
  assert.throws(() => encodeMethod(60, 40, { exchange: '', routingKey: 'é'.repeat(128), mandatory: false, immediate: false }), isTooLong);
  const fits = encodeMethod(60, 40, { exchange: '', routingKey: `${'é'.repeat(127)}a`, mandatory: false, immediate: false });
  const decoded = decodeMethod(fits);
  assert.equal(decoded.name === 'basic.publish' && decoded.fields.routingKey, `${'é'.repeat(127)}a`);
  assert.throws(() => encodeContentHeader(60, 0, { messageId: 'm'.repeat(300) }), (error) => isFerryError(error, 'INVALID_ARGUMENT') && /message-id/.test(error.message));
});

test('encoding refuses missing fields, values out of range and unknown methods or properties', () => {
  const invalid = (pattern: RegExp) => (error: unknown) => isFerryError(error, 'INVALID_ARGUMENT') && pattern.test(error.message);
  assert.throws(() => encodeMethod(60, 80, { multiple: false }), invalid(/basic\.ack delivery-tag: missing/));
  assert.throws(() => encodeMethod(60, 80, { deliveryTag: 1n << 64n, multiple: false }), invalid(/delivery-tag/));
  assert.throws(() => encodeMethod(60, 80, { deliveryTag: -1, multiple: false }), invalid(/delivery-tag/));
  assert.throws(() => encodeMethod(60, 80, { deliveryTag: 1, multiple: 'yes' }), invalid(/multiple: expected a boolean/));
  assert.throws(() => encodeMethod(10, 30, { channelMax: 65536, frameMax: 0, heartbeat: 0 }), invalid(/channel-max/));
  assert.throws(() => encodeMethod(60, 99), invalid(/no method 60\/99/));
  assert.throws(() => encodeContentHeader(60, 0, { deliveryMode: 256 }), invalid(/delivery-mode/));
  assert.throws(() => encodeContentHeader(60, 0, { contentTyp: 'x' } as never), invalid(/unknown content property contentTyp/));
  assert.throws(() => encodeContentHeader(10, 0, {}), invalid(/class 10 carries no content/));
  // Reserved fields may be left out; they encode as zero.
  assert.equal(toHex(encodeMethod(20, 10)), '0014000a00');
  // Large delivery tags are exact: a bigint above 2^53 survives.
  const tag = (1n << 64n) - 1n;
  const ack = decodeMethod(encodeMethod(60, 80, { deliveryTag: tag, multiple: true }));
  assert.equal(ack.name === 'basic.ack' && ack.fields.deliveryTag, tag);
});

test('the typed encoder checks field names and types at compile time', () => {
  const payload = encodeMethodByName('basic.qos', { prefetchSize: 0, prefetchCount: 10, global: false });
  assert.equal(toHex(payload), '003c000a00000000000a00');
  // @ts-expect-error prefetchCount is missing
  assert.throws(() => encodeMethodByName('basic.qos', { prefetchSize: 0, global: false }));
  const method: AnyDecodedMethod = decodeMethod(payload);
  if (method.name === 'basic.qos') {
    const count: number = method.fields.prefetchCount;
    assert.equal(count, 10);
  } else {
    assert.fail('decoded the wrong method');
  }
});

test('decoding failures are typed protocol errors with the failing class and method', () => {
  const fails = (payload: Uint8Array, replyCode: 501 | 502 | 503, classId: number, methodId: number, pattern: RegExp) =>
    assert.throws(
      () => decodeMethod(payload),
      (error) => isAmqpProtocolError(error, replyCode) && error.isConnectionError && error.classId === classId && error.methodId === methodId && pattern.test(error.message),
    );
  fails(hex('003c'), 501, 0, 0, /no class and method id/);
  fails(hex('003c 0063'), 503, 60, 99, /unknown method: class 60, method 99/);
  fails(hex('0063 000a'), 503, 99, 10, /unknown method/);
  fails(hex(`003c 0028 0000 0a${ascii('amq')}`), 501, 60, 40, /truncated basic\.publish exchange/);
  fails(hex(`003c 0028 0000 00 00 03 ff`), 501, 60, 40, /1 bytes follow the last argument of basic\.publish/);
  fails(hex(`003c 0028 0000 02 c328 00 00`), 502, 60, 40, /basic\.publish exchange is not valid UTF-8/);
  fails(hex(`000a 000a 00 09 00000003 0161 51 00000000 00000000`), 502, 10, 10, /unknown field value type/);
});

test('a method payload is decoded from a frame built around it', () => {
  const payload = encodeMethodByName('basic.deliver', { consumerTag: 'c', deliveryTag: 7, redelivered: true, exchange: 'e', routingKey: 'r' });
  const frame = encodeFrame(FRAME_METHOD, 3, payload);
  assert.equal(toHex(frame.subarray(0, 7)), `01 0003 ${payload.byteLength.toString(16).padStart(8, '0')}`.replace(/\s/g, ''));
  assert.equal(frame[frame.byteLength - 1], 0xce);
  const decoded = decodeMethod(frame.subarray(7, -1));
  assert.deepEqual(decoded.fields, { consumerTag: 'c', deliveryTag: 7, redelivered: true, exchange: 'e', routingKey: 'r' });
});
