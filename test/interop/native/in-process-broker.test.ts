/**
 * The embedded Broker's `inProcessName`: the native protocol at
 * `ferry+mem://NAME` with no socket, opened and closed with the broker.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testPasswordHasher } from '../../../src/core/test-broker.js';
import { Broker } from '../../../src/server/broker.js';
import { wireMessage } from './native-test-server.js';
import { RawNativeClient } from './raw-native-client.js';

test('a broker started with inProcessName serves ferry+mem:// until it closes, then frees the name', async () => {
  const broker = await Broker.start({ memory: true, passwordHasher: testPasswordHasher, inProcessName: 'embedded-test' });
  const client = await RawNativeClient.open('embedded-test');
  await client.call('channelOpen', 1, {});
  await client.call('queueDeclare', 1, { name: 'local', options: {} });
  assert.deepEqual(await client.call('publish', 1, { exchange: '', mandatory: false, messages: [wireMessage('hello', { routingKey: 'local' })] }), { statuses: [0] });
  assert.equal(broker.vhost().queue('local').messageCount(), 1);
  await assert.rejects(Broker.start({ memory: true, passwordHasher: testPasswordHasher, inProcessName: 'embedded-test' }), RangeError, 'a name is served once');
  await broker.close();
  assert.equal((await client.closeReason())?.code, 'NATIVE_CONNECTION_FORCED');
  const again = await Broker.start({ memory: true, passwordHasher: testPasswordHasher, inProcessName: 'embedded-test' });
  await again.close();
});

test('abandoning the broker cuts in-process clients off without a close', async () => {
  const broker = await Broker.start({ memory: true, passwordHasher: testPasswordHasher, inProcessName: 'embedded-abandoned' });
  const client = await RawNativeClient.open('embedded-abandoned');
  broker.abandon();
  assert.equal(await client.closeReason(), undefined);
  assert.throws(() => RawNativeClient.connectInProcess('embedded-abandoned'), /no in-process endpoint/);
});
