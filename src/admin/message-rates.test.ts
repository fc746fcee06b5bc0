import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { testPasswordHasher } from '../core/test-broker.js';
import { Broker } from '../server/broker.js';
import { MessageRates } from './message-rates.js';

let broker: Broker;
let nowMs = 0;
let rates: MessageRates;

before(async () => {
  broker = await Broker.start({ memory: true, passwordHasher: testPasswordHasher });
  rates = new MessageRates(broker.core, { smoothingMs: 1_000, monotonicMs: () => nowMs });
});

after(() => broker.close());

async function publish(queue: string, count: number): Promise<void> {
  for (let index = 0; index < count; index++) await broker.publish('', { routingKey: queue, body: 'x' });
}

test('rates are zero before a second sample, then follow the counters, smoothed', async () => {
  await broker.declareQueue('rated');
  rates.sample();
  const queue = broker.vhost().queue('rated');
  assert.deepEqual(rates.queueRates(queue), { publish: 0, deliver: 0, ack: 0 });
  await publish('rated', 10);
  nowMs += 1_000;
  rates.sample();
  const afterOneSecond = rates.queueRates(queue).publish;
  // One time constant: 63% of the 10/s step.
  assert.ok(Math.abs(afterOneSecond - 10 * (1 - Math.exp(-1))) < 1e-9, String(afterOneSecond));
  for (let second = 0; second < 10; second++) {
    await publish('rated', 10);
    nowMs += 1_000;
    rates.sample();
  }
  assert.ok(Math.abs(rates.queueRates(queue).publish - 10) < 0.01);
  assert.ok(Math.abs(rates.vhostRates(broker.vhost()).publish - 10) < 0.01);
  for (let second = 0; second < 20; second++) {
    nowMs += 1_000;
    rates.sample();
  }
  assert.ok(rates.queueRates(queue).publish < 0.001, 'rates decay when traffic stops');
});

test('deliveries and acks are rated per queue and summed per vhost', async () => {
  await broker.declareQueue('worked');
  rates.sample();
  await publish('worked', 4);
  const deliveries = await broker.get('worked', { max: 4 });
  await broker.ack(deliveries);
  nowMs += 1_000;
  rates.sample();
  const queueRates = rates.queueRates(broker.vhost().queue('worked'));
  assert.ok(queueRates.deliver > 0 && queueRates.ack > 0);
  assert.ok(rates.vhostRates(broker.vhost()).deliver >= queueRates.deliver);
  assert.ok(rates.totalRates().ack >= queueRates.ack);
});

test('a queue created between samples counts its first messages; a deleted queue is forgotten', async () => {
  rates.sample();
  await broker.declareQueue('fresh');
  await publish('fresh', 5);
  nowMs += 1_000;
  rates.sample();
  const queue = broker.vhost().queue('fresh');
  assert.ok(rates.queueRates(queue).publish > 0);
  await broker.deleteQueue('fresh');
  nowMs += 1_000;
  rates.sample();
  assert.deepEqual(rates.queueRates(queue), { publish: 0, deliver: 0, ack: 0 });
});

test('appends to a stream are rated, from its first sample on; a deleted stream is forgotten', async () => {
  rates.sample();
  const stream = await broker.declareStream('rated-stream');
  await broker.appendToStream('rated-stream', [{ body: 'a' }, { body: 'b' }, { body: 'c' }]);
  nowMs += 1_000;
  rates.sample();
  // Created since the last sweep: all three appends fall in this one-second interval (63% of 3/s after one time constant).
  assert.ok(Math.abs(rates.streamRates(stream).append - 3 * (1 - Math.exp(-1))) < 1e-9, String(rates.streamRates(stream).append));
  await broker.deleteStream('rated-stream');
  nowMs += 1_000;
  rates.sample();
  assert.deepEqual(rates.streamRates(stream), { append: 0 });
});
