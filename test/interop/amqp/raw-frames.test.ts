/**
 * Errors that only a broken client can provoke, sent as hand-made frames over
 * a raw socket: 504 CHANNEL_ERROR, 505 UNEXPECTED_FRAME, 501 FRAME_ERROR,
 * 540 NOT_IMPLEMENTED and a wrong protocol header. Each is a connection error:
 * connection.close with the code, then the socket closes; the broker goes on
 * serving new connections.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { AmqpTestServer } from './amqp-test-server.js';
import { PROTOCOL_HEADER, RawAmqpClient, long, octet, short, shortstr, type RawClose } from './raw-amqp-client.js';

let ferry: AmqpTestServer;

before(async () => {
  ferry = await AmqpTestServer.start();
});

after(async () => {
  await ferry.close();
});

/**
 * Opens a connection (frame-max 4096) with channel 1 open, sends `bytes`, and
 * returns the connection.close it gets; then (unless told not to) waits for
 * the server to close the socket once it has the client's close-ok.
 */
async function closeAfter(bytes: Uint8Array | readonly Uint8Array[], options: { socketCloseMs?: number } = {}): Promise<RawClose> {
  const client = await RawAmqpClient.openConnection(ferry.port, 4_096);
  try {
    await client.openChannel(1);
    for (const chunk of Array.isArray(bytes) ? bytes : [bytes]) client.write(chunk as Uint8Array);
    const close = await client.nextClose();
    assert.ok(close, 'the server sent connection.close');
    assert.equal(close.channel, 0, `a connection error, got channel.close ${close.replyCode} ${close.replyText}`);
    if (options.socketCloseMs !== 0) await client.waitForSocketClose(options.socketCloseMs ?? 1_000);
    return close;
  } finally {
    client.destroy();
  }
}

/** queue.declare (50/10) of `name` on `channel`. */
function queueDeclare(channel: number, name: string): Buffer {
  return RawAmqpClient.method(channel, 50, 10, [short(0), shortstr(name), octet(0), long(0)]);
}

test('504 CHANNEL_ERROR: a method on a channel that was never opened', async () => {
  const close = await closeAfter(queueDeclare(3, 'never'));
  assert.equal(close.replyCode, 504);
  assert.match(close.replyText, /^CHANNEL_ERROR - /);
  assert.deepEqual([close.classId, close.methodId], [50, 10]);
});

test('504 CHANNEL_ERROR: channel.open on a channel that is already open', async () => {
  const close = await closeAfter(RawAmqpClient.method(1, 20, 10, [shortstr('')]));
  assert.equal(close.replyCode, 504);
  assert.deepEqual([close.classId, close.methodId], [20, 10]);
});

test('505 UNEXPECTED_FRAME: a body frame without a header', async () => {
  const close = await closeAfter(RawAmqpClient.body(1, Buffer.from('orphan body')));
  assert.equal(close.replyCode, 505);
  assert.match(close.replyText, /^UNEXPECTED_FRAME - /);
});

test('505 UNEXPECTED_FRAME: a content header without basic.publish', async () => {
  const close = await closeAfter(RawAmqpClient.contentHeader(1, 5));
  assert.equal(close.replyCode, 505);
});

test('505 UNEXPECTED_FRAME: a method where the content header of a publish belongs', async () => {
  const close = await closeAfter([RawAmqpClient.publish(1, '', 'somewhere'), queueDeclare(1, 'interrupting')]);
  assert.equal(close.replyCode, 505);
  assert.deepEqual([close.classId, close.methodId], [60, 40], 'the publish whose content was due, as RabbitMQ reports it');
});

test('505 UNEXPECTED_FRAME: a method where a body frame of a publish belongs', async () => {
  const close = await closeAfter([RawAmqpClient.publish(1, '', 'somewhere'), RawAmqpClient.contentHeader(1, 10), queueDeclare(1, 'interrupting')]);
  assert.equal(close.replyCode, 505);
});

// After a frame error the server cannot trust the framing of what follows, so
// it ignores the client's close-ok and drops the socket after its close
// timeout (3 s); only the first of these tests waits for that.
test('501 FRAME_ERROR: a frame whose end octet is not 0xCE', async () => {
  const close = await closeAfter(RawAmqpClient.frame(1, 1, Buffer.concat([short(50), short(10), short(0), shortstr('q'), octet(0), long(0)]), 0x00), { socketCloseMs: 4_000 });
  assert.equal(close.replyCode, 501);
  assert.match(close.replyText, /^FRAME_ERROR - /);
});

test('501 FRAME_ERROR: a frame larger than the negotiated frame-max', async () => {
  const close = await closeAfter([RawAmqpClient.publish(1, '', 'big'), RawAmqpClient.contentHeader(1, 6_000), RawAmqpClient.body(1, Buffer.alloc(6_000))], { socketCloseMs: 0 });
  assert.equal(close.replyCode, 501);
});

test('501 FRAME_ERROR: an unknown frame type', async () => {
  const close = await closeAfter(RawAmqpClient.frame(9, 1, Buffer.from('what')), { socketCloseMs: 0 });
  assert.equal(close.replyCode, 501);
});

test('501 FRAME_ERROR: body frames carrying more bytes than the header announced', async () => {
  const close = await closeAfter([RawAmqpClient.publish(1, '', 'x'), RawAmqpClient.contentHeader(1, 3), RawAmqpClient.body(1, Buffer.from('four'))]);
  assert.equal(close.replyCode, 501);
});

test('540 NOT_IMPLEMENTED: basic.publish with immediate set', async () => {
  const close = await closeAfter([RawAmqpClient.publish(1, '', 'anywhere', { immediate: true }), RawAmqpClient.contentHeader(1, 0)]);
  assert.equal(close.replyCode, 540);
  assert.match(close.replyText, /^NOT_IMPLEMENTED - /);
  assert.deepEqual([close.classId, close.methodId], [60, 40]);
});

test('a frame before the handshake ends and larger than 4096 bytes is a frame error', async () => {
  const client = await RawAmqpClient.open(ferry.port);
  client.write(PROTOCOL_HEADER);
  await client.expectMethod(0, 10, 10);
  const filler = Buffer.alloc(5_000, 0x61);
  client.write(RawAmqpClient.method(0, 10, 11, [long(0), shortstr('PLAIN'), long(filler.byteLength), filler, shortstr('en_US')]));
  const close = await client.nextClose();
  assert.equal(close?.replyCode, 501);
  client.destroy();
});

for (const [name, header] of [
  ['AMQP 0-9 (an older version)', Buffer.from('AMQP\x00\x00\x09\x00', 'latin1')],
  ['AMQP 1.0', Buffer.from('AMQP\x00\x01\x00\x00', 'latin1')],
  ['HTTP', Buffer.from('GET / HTTP/1.1\r\n\r\n', 'latin1')],
] as const) {
  test(`a wrong protocol header (${name}) is answered with AMQP 0-9-1's header and the socket closes`, async () => {
    const client = await RawAmqpClient.open(ferry.port);
    client.write(header);
    await client.waitForSocketClose();
    assert.deepEqual(client.unparsed, PROTOCOL_HEADER);
  });
}

test('the broker keeps serving new connections after all those errors', async () => {
  const connection = await ferry.connect();
  const channel = await connection.createChannel();
  await channel.assertQueue('after-raw-errors');
  channel.sendToQueue('after-raw-errors', Buffer.from('fine'));
  const message = await channel.get('after-raw-errors', { noAck: true });
  assert.ok(message);
  await connection.close();
});
