import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AmqpProtocolError } from './amqp-protocol-error.js';
import { AMQP_CLASSES, BASIC_CLASS_ID, CONTENT_CLASSES, METHOD_SPECS, REPLY_CODES, methodSpecById, methodSpecByName, replyCodeInfo } from './spec.js';

// The method list of the task, checked against the table: name, class id, method id.
const expectedIds = `
  connection.start 10 10, connection.start-ok 10 11, connection.secure 10 20, connection.secure-ok 10 21,
  connection.tune 10 30, connection.tune-ok 10 31, connection.open 10 40, connection.open-ok 10 41,
  connection.close 10 50, connection.close-ok 10 51, connection.blocked 10 60, connection.unblocked 10 61,
  connection.update-secret 10 70, connection.update-secret-ok 10 71,
  channel.open 20 10, channel.open-ok 20 11, channel.flow 20 20, channel.flow-ok 20 21, channel.close 20 40, channel.close-ok 20 41,
  exchange.declare 40 10, exchange.declare-ok 40 11, exchange.delete 40 20, exchange.delete-ok 40 21,
  exchange.bind 40 30, exchange.bind-ok 40 31, exchange.unbind 40 40, exchange.unbind-ok 40 51,
  queue.declare 50 10, queue.declare-ok 50 11, queue.bind 50 20, queue.bind-ok 50 21, queue.purge 50 30, queue.purge-ok 50 31,
  queue.delete 50 40, queue.delete-ok 50 41, queue.unbind 50 50, queue.unbind-ok 50 51,
  basic.qos 60 10, basic.qos-ok 60 11, basic.consume 60 20, basic.consume-ok 60 21, basic.cancel 60 30, basic.cancel-ok 60 31,
  basic.publish 60 40, basic.return 60 50, basic.deliver 60 60, basic.get 60 70, basic.get-ok 60 71, basic.get-empty 60 72,
  basic.ack 60 80, basic.reject 60 90, basic.recover-async 60 100, basic.recover 60 110, basic.recover-ok 60 111, basic.nack 60 120,
  confirm.select 85 10, confirm.select-ok 85 11,
  tx.select 90 10, tx.select-ok 90 11, tx.commit 90 20, tx.commit-ok 90 21, tx.rollback 90 30, tx.rollback-ok 90 31`;

test('the table has exactly the methods of 0-9-1 with RabbitMQ extensions, with their ids', () => {
  const expected = expectedIds.split(',').map((entry) => entry.trim().split(/\s+/));
  assert.deepEqual(
    METHOD_SPECS.map((spec) => [spec.name, String(spec.classId), String(spec.methodId)]),
    expected,
  );
  for (const [name, classId, methodId] of expected) {
    assert.equal(methodSpecById(Number(classId), Number(methodId))?.name, name);
    assert.equal(methodSpecByName(name!)?.methodId, Number(methodId));
  }
  assert.equal(methodSpecById(30, 10), undefined, 'access.request was removed in 0-9-1');
});

test('responses name methods of the same class, and only requests expect them', () => {
  for (const spec of METHOD_SPECS) {
    assert.equal(spec.synchronous, spec.responses.length > 0, spec.name);
    for (const response of spec.responses) {
      const reply = methodSpecByName(response);
      assert.ok(reply, `${spec.name} expects ${response}`);
      assert.equal(reply.classId, spec.classId);
      assert.equal(reply.synchronous, false, `${response} is itself a reply`);
    }
  }
  assert.deepEqual(methodSpecByName('basic.get')?.responses, ['basic.get-ok', 'basic.get-empty']);
});

test('content follows exactly publish, return, deliver and get-ok', () => {
  assert.deepEqual(METHOD_SPECS.filter((spec) => spec.hasContent).map((spec) => spec.name), ['basic.publish', 'basic.return', 'basic.deliver', 'basic.get-ok']);
  assert.deepEqual([...CONTENT_CLASSES.keys()], [BASIC_CLASS_ID]);
});

test('field names are unique within a method and map to camelCase keys', () => {
  for (const spec of METHOD_SPECS) {
    const keys = spec.fields.map((field) => field.key);
    assert.equal(new Set(keys).size, keys.length, spec.name);
    for (const key of keys) assert.match(key, /^[a-z][a-zA-Z0-9]*$/);
  }
  assert.deepEqual(methodSpecByName('basic.deliver')?.fields.map((field) => field.key), ['consumerTag', 'deliveryTag', 'redelivered', 'exchange', 'routingKey']);
  const classIds = AMQP_CLASSES.map((entry) => entry.id);
  assert.deepEqual(classIds, [...classIds].sort((left, right) => left - right));
});

test('the basic class has fourteen properties in flag order with their types', () => {
  const properties = CONTENT_CLASSES.get(BASIC_CLASS_ID)!.properties.map((property) => `${property.name}:${property.type}`);
  assert.deepEqual(properties, [
    'content-type:shortstr', 'content-encoding:shortstr', 'headers:table', 'delivery-mode:octet', 'priority:octet',
    'correlation-id:shortstr', 'reply-to:shortstr', 'expiration:shortstr', 'message-id:shortstr', 'timestamp:timestamp',
    'type:shortstr', 'user-id:shortstr', 'app-id:shortstr', 'cluster-id:shortstr',
  ]);
});

test('reply codes say whether they close a channel or the connection', () => {
  const kinds = Object.fromEntries(REPLY_CODES.map((row) => [row.code, row.kind]));
  assert.deepEqual(Object.keys(kinds).map(Number), [200, 311, 312, 313, 320, 402, 403, 404, 405, 406, 501, 502, 503, 504, 505, 506, 530, 540, 541]);
  for (const code of [311, 312, 313, 403, 404, 405, 406]) assert.equal(kinds[code], 'channel', String(code));
  for (const code of [320, 402, 501, 502, 503, 504, 505, 506, 530, 540, 541]) assert.equal(kinds[code], 'connection', String(code));
  assert.equal(replyCodeInfo(406)?.name, 'PRECONDITION_FAILED');
  assert.equal(replyCodeInfo(999), undefined);
});

test('a protocol error carries its reply code, kind and a reply text that fits a short string', () => {
  const channelError = new AmqpProtocolError(404, 'no queue "q" in vhost "/"', { classId: 50, methodId: 10 });
  assert.equal(channelError.code, 'AMQP_NOT_FOUND');
  assert.equal(channelError.isConnectionError, false);
  assert.equal(channelError.replyText, 'NOT_FOUND - no queue "q" in vhost "/"');
  assert.equal(channelError.classId, 50);
  const long = new AmqpProtocolError(501, 'é'.repeat(300));
  assert.equal(long.isConnectionError, true);
  assert.ok(new TextEncoder().encode(long.replyText).byteLength <= 255);
  assert.ok(long.replyText.startsWith('FRAME_ERROR - é'));
});
