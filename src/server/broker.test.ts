import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../platform/clock.js';
import type { ResourceProbe } from '../platform/resource-probe.js';
import { Broker } from './broker.js';

test('publishers wait while a memory alarm is on and go on once it clears', async () => {
  const probe: ResourceProbe & { memory: number } = { memory: 0, memoryUsedBytes() { return this.memory; }, diskFreeBytes: async () => 1e12 };
  const clock = new ManualClock();
  const broker = await Broker.start({ memory: true, clock, resourceProbe: probe, alarms: { memoryHighWatermarkBytes: 1_000, checkIntervalMs: 100 } });
  try {
    await broker.declareQueue('q');
    probe.memory = 5_000;
    clock.advance(100);
    await new Promise((resolve) => setImmediate(resolve));
    let done = false;
    const publishing = broker.publish('', { routingKey: 'q', body: 'x' }).then(() => (done = true));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(done, false, 'the publish is held');
    assert.equal(broker.vhost().queue('q').messageCount(), 0);
    probe.memory = 10;
    clock.advance(100);
    await publishing;
    assert.equal(broker.vhost().queue('q').messageCount(), 1);
  } finally {
    await broker.close();
  }
});

test('the embedded broker keeps durable queues and persistent messages across a restart, but not transient ones', async () => {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dataDir = mkdtempSync(join(tmpdir(), 'ferry-broker-'));
  try {
    let broker = await Broker.start({ dataDir });
    await broker.declareQueue('kept');
    await broker.declareQueue('temporary', { durable: false });
    await broker.publish('', { routingKey: 'kept', body: 'persistent' });
    await broker.publish('', { routingKey: 'kept', body: 'transient', persistent: false });
    await broker.publish('', { routingKey: 'temporary', body: 'gone' });
    await broker.close();
    broker = await Broker.start({ dataDir });
    assert.equal(broker.vhost().findQueue('temporary'), undefined, 'a transient queue does not survive');
    const got = await broker.get('kept', { max: 10 });
    assert.deepEqual(got.map((delivery) => new TextDecoder().decode(delivery.message.body)), ['persistent']);
    await broker.close();
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('in memory mode a durable queue logs no delivery state: nothing would read it back', async () => {
  const broker = await Broker.start({ memory: true });
  try {
    await broker.declareQueue('work', { durable: true });
    for (const body of ['a', 'b', 'c']) await broker.publish('', { routingKey: 'work', body });
    const got = await broker.get('work', { max: 3 });
    assert.equal(got.length, 3);
    await broker.ack(got);
    const stateLog = (broker as unknown as { logStore: { getLog(name: string): { endOffset(): number } | undefined } }).logStore.getLog('state///work/0');
    assert.ok(stateLog, 'the queue has its state log');
    assert.equal(stateLog.endOffset(), 0, 'first deliveries and acks are kept in memory only');
  } finally {
    await broker.close();
  }
});
