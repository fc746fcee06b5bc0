import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { testPasswordHasher } from '../core/test-broker.js';
import { Broker } from '../server/broker.js';
import { parseMetrics, startTestAdmin, waitFor, type TestAdmin } from './admin-test-client.js';

let broker: Broker;
let admin: TestAdmin;

before(async () => {
  broker = await Broker.start({ memory: true, passwordHasher: testPasswordHasher });
  admin = await startTestAdmin(broker.core, { storageBytes: () => broker.storageBytes() });
});

after(async () => {
  await admin.close();
  await broker.close();
});

async function scrape(): Promise<Map<string, number>> {
  const response = await fetch(`${admin.url}/metrics`);
  assert.equal(response.status, 200);
  return parseMetrics(await response.text());
}

const label = (queue: string, vhost = '/') => `{vhost="${vhost}",queue="${queue}"}`;

test('per-queue depth follows publishes, deliveries and acks', async () => {
  await broker.declareQueue('metered');
  let metrics = await scrape();
  assert.equal(metrics.get(`ferry_queue_messages_ready${label('metered')}`), 0);
  for (let index = 0; index < 5; index++) {
    const answer = await admin.request('POST', '/api/exchanges/%2F/amq.default/publish', { body: { routing_key: 'metered', payload: `m${index}` } });
    assert.equal(answer.body.routed, true);
  }
  metrics = await scrape();
  assert.equal(metrics.get(`ferry_queue_messages_ready${label('metered')}`), 5);
  assert.equal(metrics.get(`ferry_queue_message_bytes_ready${label('metered')}`), 10);
  assert.equal(metrics.get(`ferry_queue_messages_published_total${label('metered')}`), 5);
  const deliveries = await broker.get('metered', { max: 2 });
  metrics = await scrape();
  assert.equal(metrics.get(`ferry_queue_messages_ready${label('metered')}`), 3);
  assert.equal(metrics.get(`ferry_queue_messages_unacknowledged${label('metered')}`), 2);
  assert.equal(metrics.get(`ferry_queue_messages_delivered_total${label('metered')}`), 2);
  await broker.ack(deliveries);
  metrics = await scrape();
  assert.equal(metrics.get(`ferry_queue_messages_unacknowledged${label('metered')}`), 0);
  assert.equal(metrics.get(`ferry_queue_messages_acknowledged_total${label('metered')}`), 2);
  assert.equal(metrics.get('ferry_vhost_messages_published_total{vhost="/"}'), 5);
  await broker.deleteQueue('metered');
  metrics = await scrape();
  assert.equal(metrics.get(`ferry_queue_messages_ready${label('metered')}`), undefined, 'a deleted queue leaves the metrics');
});

test('message rates per queue become positive while messages flow', async () => {
  await broker.declareQueue('flowing');
  const key = `ferry_queue_messages_per_second{vhost="/",queue="flowing",event="publish"}`;
  await waitFor(async () => {
    await broker.publish('', { routingKey: 'flowing', body: 'x' });
    return ((await scrape()).get(key) ?? 0) > 0;
  });
  assert.ok(((await scrape()).get(key) ?? 0) > 0);
  await broker.deleteQueue('flowing');
});

test('consumers, objects, storage bytes, alarms and process metrics are exported', async () => {
  await broker.declareQueue('watched');
  const consumer = broker.consume('watched', () => undefined);
  const metrics = await scrape();
  assert.equal(metrics.get(`ferry_queue_consumers${label('watched')}`), 1);
  assert.equal(metrics.get('ferry_vhost_objects{vhost="/",kind="queue"}'), 1);
  assert.equal(metrics.get('ferry_vhost_objects{vhost="/",kind="exchange"}'), 6);
  assert.equal(metrics.get('ferry_alarm_active{alarm="memory"}'), 0);
  assert.equal(metrics.get('ferry_alarm_active{alarm="disk"}'), 0);
  assert.ok((metrics.get('ferry_storage_bytes') ?? 0) > 0);
  assert.ok(metrics.has(`ferry_queue_storage_bytes${label('watched')}`));
  assert.ok(metrics.has(`ferry_queue_memory_bytes${label('watched')}`));
  assert.ok(metrics.has('ferry_storage_fsync_duration_seconds_count'));
  assert.ok(metrics.has('nodejs_eventloop_lag_seconds'), 'event-loop lag');
  assert.ok(metrics.has('process_resident_memory_bytes') || metrics.has('nodejs_heap_size_used_bytes'));
  consumer.cancel();
  await broker.deleteQueue('watched');
});

test('observed fsyncs land in the latency histogram', async () => {
  admin.metrics.observeSync(0.3);
  admin.metrics.observeSync(30);
  const metrics = await scrape();
  assert.equal(metrics.get('ferry_storage_fsync_duration_seconds_count'), 2);
  assert.equal(metrics.get('ferry_storage_fsync_duration_seconds_bucket{le="0.0005"}'), 1);
  assert.equal(metrics.get('ferry_storage_fsync_duration_seconds_bucket{le="0.05"}'), 2);
});
