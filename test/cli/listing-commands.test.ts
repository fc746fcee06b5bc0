// `ferry status`, `queues`, `exchanges`, `bindings` and `connections`: the real
// binary against a real server, as tables and as JSON.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as amqp from 'amqplib';
import { runFerry, startTestServer, tableRows, waitFor, type TestServer } from './cli-harness.js';

let server: TestServer;
let environment: Record<string, string>;

before(async () => {
  server = await startTestServer();
  environment = { FERRY_URL: server.httpUrl };
  await server.api('PUT', '/api/queues/%2F/orders', {});
  await server.api('PUT', '/api/queues/%2F/invoices', { durable: false });
  await server.api('PUT', '/api/exchanges/%2F/events', { type: 'topic' });
  await server.api('POST', '/api/bindings/%2F/e/events/q/orders', { routing_key: 'order.*' });
  await server.api('PUT', '/api/vhosts/staging', {});
  await server.api('PUT', '/api/permissions/staging/guest', { configure: '.*', write: '.*', read: '.*' });
  await server.api('PUT', '/api/queues/staging/staged', {});
  for (const body of ['one', 'two', 'three']) await server.api('POST', '/api/exchanges/%2F/amq.default/publish', { routing_key: 'orders', payload: body });
});

after(() => server.close());

test('status prints version, listeners and totals as a table, and the overview with --json', async () => {
  const table = await runFerry(['status'], { environment });
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^version\s+Ferry \d+\.\d+\.\d+/m);
  assert.match(table.stdout, /^listeners\s+.*amqp 127\.0\.0\.1:\d+.*http 127\.0\.0\.1:\d+/m);
  assert.match(table.stdout, /^objects\s+2 vhosts, \d+ exchanges, 3 queues/m);
  assert.match(table.stdout, /^messages\s+3 \(ready 3,/m);
  assert.match(table.stdout, /^alarms\s+none$/m);
  assert.doesNotMatch(table.stdout, /\u001b\[/, 'no colour when stdout is not a terminal');

  const json = await runFerry(['status', '--json'], { environment });
  assert.equal(json.code, 0, json.stderr);
  const overview = JSON.parse(json.stdout) as { object_totals: { queues: number }; queue_totals: { messages: number } };
  assert.equal(overview.object_totals.queues, 3);
  assert.equal(overview.queue_totals.messages, 3);
});

test('queues lists the vhost as a table', async () => {
  const run = await runFerry(['queues'], { environment });
  assert.equal(run.code, 0, run.stderr);
  const [header, ...rows] = tableRows(run.stdout);
  assert.deepEqual(header, ['NAME', 'MESSAGES', 'READY', 'UNACKED', 'CONSUMERS', 'PUBLISH/S', 'DELIVER/S', 'FEATURES']);
  const orders = rows.find((row) => row[0] === 'orders');
  assert.deepEqual(orders?.slice(0, 5), ['orders', '3', '3', '0', '0']);
  assert.equal(orders?.at(-1), 'durable');
  assert.equal(rows.find((row) => row[0] === 'invoices')?.at(-1), 'transient');
  assert.equal(rows.length, 2, 'only the queues of vhost /');
});

test('queues --json prints the API objects; --vhost and --all-vhosts choose the vhosts', async () => {
  const json = await runFerry(['queues', '--json'], { environment });
  assert.equal(json.code, 0, json.stderr);
  const queues = JSON.parse(json.stdout) as Array<{ name: string; messages: number; vhost: string }>;
  assert.deepEqual(queues.map((queue) => queue.name).sort(), ['invoices', 'orders']);
  assert.equal(queues.find((queue) => queue.name === 'orders')?.messages, 3);

  const staging = JSON.parse((await runFerry(['queues', '--json', '--vhost', 'staging'], { environment })).stdout) as Array<{ name: string }>;
  assert.deepEqual(staging.map((queue) => queue.name), ['staged']);
  const fromEnvironment = JSON.parse((await runFerry(['queues', '--json'], { environment: { ...environment, FERRY_VHOST: 'staging' } })).stdout) as Array<{ name: string }>;
  assert.deepEqual(fromEnvironment.map((queue) => queue.name), ['staged'], 'FERRY_VHOST picks the vhost');

  const all = await runFerry(['queues', '--all-vhosts'], { environment });
  const [header, ...rows] = tableRows(all.stdout);
  assert.equal(header[0], 'VHOST');
  assert.deepEqual(rows.map((row) => `${row[0]} ${row[1]}`).sort(), ['/ invoices', '/ orders', 'staging staged']);
});

test('exchanges lists the default exchange, the built-in ones and a declared one', async () => {
  const run = await runFerry(['exchanges'], { environment });
  assert.equal(run.code, 0, run.stderr);
  const [header, ...rows] = tableRows(run.stdout);
  assert.deepEqual(header, ['NAME', 'TYPE', 'BINDINGS', 'ALTERNATE', 'FEATURES']);
  assert.deepEqual(rows.find((row) => row[0] === '(default)')?.slice(0, 2), ['(default)', 'direct']);
  assert.deepEqual(rows.find((row) => row[0] === 'events')?.slice(0, 3), ['events', 'topic', '1']);
  const json = JSON.parse((await runFerry(['exchanges', '--json'], { environment })).stdout) as Array<{ name: string; type: string }>;
  assert.ok(json.some((exchange) => exchange.name === '' && exchange.type === 'direct'), 'JSON keeps the empty name');
  assert.ok(json.some((exchange) => exchange.name === 'amq.topic'));
});

test('bindings lists source, destination, type and routing key', async () => {
  const run = await runFerry(['bindings'], { environment });
  assert.equal(run.code, 0, run.stderr);
  const [header, ...rows] = tableRows(run.stdout);
  assert.deepEqual(header, ['SOURCE', 'DESTINATION', 'TYPE', 'ROUTING KEY', 'ARGUMENTS']);
  assert.deepEqual(rows.find((row) => row[0] === 'events'), ['events', 'orders', 'queue', 'order.*']);
  const json = JSON.parse((await runFerry(['bindings', '--json'], { environment })).stdout) as Array<{ source: string; routing_key: string }>;
  assert.ok(json.some((binding) => binding.source === 'events' && binding.routing_key === 'order.*'));
});

test('connections lists an open amqplib connection, and not once it is closed', async () => {
  const connection = await amqp.connect(server.amqpUrl, { clientProperties: { connection_name: 'cli-test' } });
  try {
    await connection.createChannel();
    const run = await runFerry(['connections'], { environment });
    assert.equal(run.code, 0, run.stderr);
    const [header, ...rows] = tableRows(run.stdout);
    assert.deepEqual(header, ['NAME', 'PROTOCOL', 'USER', 'VHOST', 'PEER', 'CHANNELS', 'STATE', 'AGE']);
    assert.equal(rows.length, 1, run.stdout);
    assert.deepEqual(rows[0]!.slice(1, 4), ['amqp091', 'guest', '/']);
    assert.match(rows[0]![4]!, /^127\.0\.0\.1:\d+$/);
    assert.equal(rows[0]![5], '1');

    const json = JSON.parse((await runFerry(['connections', '--json'], { environment })).stdout) as Array<{ protocol: string; user: string; channels: number }>;
    assert.deepEqual(json.map((entry) => [entry.protocol, entry.user, entry.channels]), [['amqp091', 'guest', 1]]);
  } finally {
    await connection.close();
  }
  await waitFor('the connection to go', async () => JSON.parse((await runFerry(['connections', '--json'], { environment })).stdout).length === 0);
});
