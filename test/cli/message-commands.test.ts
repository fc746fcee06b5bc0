// `ferry publish`, `consume`, `purge` and `delete`: the real binary against a real server.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { runFerry, spawnFerry, startTestServer, waitFor, type TestServer } from './cli-harness.js';

let server: TestServer;
let environment: Record<string, string>;

before(async () => {
  server = await startTestServer();
  environment = { FERRY_URL: server.httpUrl };
});

after(() => server.close());

async function declareQueue(name: string): Promise<void> {
  await server.api('PUT', `/api/queues/%2F/${encodeURIComponent(name)}`, {});
}

async function depthOf(name: string): Promise<number> {
  return ((await server.api('GET', `/api/queues/%2F/${encodeURIComponent(name)}`)) as { messages: number }).messages;
}

test('publish then consume --count prints the bodies in order and takes exactly that many', async () => {
  await declareQueue('tasks');
  for (const body of ['first', 'second', 'third']) {
    const published = await runFerry(['publish', '--queue', 'tasks', body], { environment });
    assert.equal(published.code, 0, published.stderr);
    assert.equal(published.stdout, 'published to queue "tasks" (default exchange)\n');
    assert.equal(published.stderr, '');
  }
  const consumed = await runFerry(['consume', 'tasks', '--count', '2'], { environment });
  assert.equal(consumed.code, 0, consumed.stderr);
  assert.equal(consumed.stdout, 'first\nsecond\n');
  assert.equal(await depthOf('tasks'), 1, 'the third message stays');
  assert.equal((await runFerry(['consume', 'tasks', '-n', '1'], { environment })).stdout, 'third\n');
});

test('consume --json prints one object per line with properties, headers and binary bodies as base64', async () => {
  await declareQueue('typed');
  const withProperties = await runFerry(
    ['publish', '-q', 'typed', '{"id":7}', '--content-type', 'application/json', '--header', 'tenant=acme', '--message-id', 'm-1', '--json'],
    { environment },
  );
  assert.equal(withProperties.code, 0, withProperties.stderr);
  assert.deepEqual(JSON.parse(withProperties.stdout), { routed: true, rejected_by: [] });
  const binary = await runFerry(['publish', '-q', 'typed'], { environment, stdin: Buffer.from([0, 1, 0xff, 0xfe]) });
  assert.equal(binary.code, 0, binary.stderr);

  const consumed = await runFerry(['consume', 'typed', '--count', '2', '--json'], { environment });
  assert.equal(consumed.code, 0, consumed.stderr);
  const lines = consumed.stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
  assert.equal(lines.length, 2);
  assert.equal(lines[0]!['payload'], '{"id":7}');
  assert.equal(lines[0]!['payload_encoding'], 'string');
  assert.equal(lines[0]!['routing_key'], 'typed');
  const properties = lines[0]!['properties'] as Record<string, unknown>;
  assert.equal(properties['content_type'], 'application/json');
  assert.equal(properties['message_id'], 'm-1');
  assert.deepEqual(properties['headers'], { tenant: 'acme' });
  assert.equal(lines[1]!['payload_encoding'], 'base64');
  assert.deepEqual(Buffer.from(lines[1]!['payload'] as string, 'base64'), Buffer.from([0, 1, 0xff, 0xfe]));
});

test('consume waits for messages by polling and prints them as they come', async () => {
  await declareQueue('later');
  const consumer = spawnFerry(['consume', 'later', '--count', '2'], { environment });
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(consumer.stdout(), '', 'nothing yet');
  await runFerry(['publish', '-q', 'later', 'a'], { environment });
  await waitFor('the first message', () => consumer.stdout() === 'a\n');
  await runFerry(['publish', '-q', 'later', 'b'], { environment });
  const finished = await consumer.finished;
  assert.equal(finished.code, 0, finished.stderr);
  assert.equal(finished.stdout, 'a\nb\n');
});

test('consume without --count stops cleanly on SIGINT (Ctrl-C) with exit code 0', async () => {
  await declareQueue('endless');
  const consumer = spawnFerry(['consume', 'endless'], { environment });
  await runFerry(['publish', '-q', 'endless', 'only'], { environment });
  await waitFor('the message', () => consumer.stdout() === 'only\n');
  consumer.child.kill('SIGINT');
  const finished = await consumer.finished;
  assert.equal(finished.code, 0, finished.stderr);
  assert.equal(finished.stderr, '');
});

test('publish to an exchange with a routing key; an unroutable message warns on stderr', async () => {
  await declareQueue('routed');
  await server.api('PUT', '/api/exchanges/%2F/news', { type: 'direct' });
  await server.api('POST', '/api/bindings/%2F/e/news/q/routed', { routing_key: 'sports' });
  const routed = await runFerry(['publish', '--exchange', 'news', '--routing-key', 'sports', 'goal'], { environment });
  assert.equal(routed.code, 0, routed.stderr);
  assert.equal(routed.stderr, '');
  const unroutable = await runFerry(['publish', '-e', 'news', '-k', 'weather', 'rain'], { environment });
  assert.equal(unroutable.code, 0);
  assert.match(unroutable.stderr, /^ferry: warning: the message was not routed to any queue/);
  assert.equal(await depthOf('routed'), 1);
  const missing = await runFerry(['publish', '-e', 'nowhere', '-k', 'x', 'y'], { environment });
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^ferry: EXCHANGE_NOT_FOUND: /);
});

test('purge empties a queue and says how many went', async () => {
  await declareQueue('full');
  for (const body of ['1', '2', '3']) await runFerry(['publish', '-q', 'full', body], { environment });
  const purged = await runFerry(['purge', 'full'], { environment });
  assert.equal(purged.code, 0, purged.stderr);
  assert.equal(purged.stdout, 'purged 3 messages from queue "full"\n');
  assert.equal(await depthOf('full'), 0);
  assert.deepEqual(JSON.parse((await runFerry(['purge', 'full', '--json'], { environment })).stdout), { messages_purged: 0 });
});

test('delete removes a queue or an exchange; --if-empty refuses a queue with messages', async () => {
  await declareQueue('doomed');
  await runFerry(['publish', '-q', 'doomed', 'x'], { environment });
  const refused = await runFerry(['delete', 'queue', 'doomed', '--if-empty'], { environment });
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /^ferry: PRECONDITION_FAILED: /);
  const deleted = await runFerry(['delete', 'queue', 'doomed'], { environment });
  assert.equal(deleted.code, 0, deleted.stderr);
  assert.equal(deleted.stdout, 'deleted queue "doomed" with 1 message\n');
  const again = await runFerry(['delete', 'queue', 'doomed'], { environment });
  assert.equal(again.code, 1);
  assert.match(again.stderr, /^ferry: QUEUE_NOT_FOUND: /);

  await server.api('PUT', '/api/exchanges/%2F/old', { type: 'fanout' });
  const exchange = await runFerry(['delete', 'exchange', 'old', '--json'], { environment });
  assert.equal(exchange.code, 0, exchange.stderr);
  const names = ((await server.api('GET', '/api/exchanges/%2F')) as Array<{ name: string }>).map((entry) => entry.name);
  assert.ok(!names.includes('old'));
});

test('consume and purge of a missing queue fail with the server\'s code and exit 1', async () => {
  for (const args of [['consume', 'ghost', '--count', '1'], ['purge', 'ghost']]) {
    const run = await runFerry(args, { environment });
    assert.equal(run.code, 1, args.join(' '));
    assert.equal(run.stderr.trimEnd().split('\n').length, 1, 'one line');
    assert.match(run.stderr, /^ferry: QUEUE_NOT_FOUND: /);
  }
});
