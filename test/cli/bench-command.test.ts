// `ferry bench`: a tiny AMQP run against a real server, its JSON and table
// results, and the temporary queue gone afterwards, also after Ctrl-C.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { runFerry, spawnFerry, startTestServer, waitFor, type TestServer } from './cli-harness.js';

let server: TestServer;

before(async () => {
  server = await startTestServer();
});

after(() => server.close());

async function queueNames(): Promise<string[]> {
  return ((await server.api('GET', '/api/queues/%2F')) as Array<{ name: string }>).map((queue) => queue.name);
}

interface BenchJson {
  completed: boolean;
  queue: string;
  settings: { amqp_url: string; messages: number; publishers: number; consumers: number };
  published: { messages: number; confirmed: number; nacked: number; per_second: number; confirm_latency_ms: Record<string, number> };
  consumed: { messages: number; per_second: number; latency_ms: Record<string, number> };
}

test('bench --messages publishes with confirms, consumes them all and prints JSON; the queue is deleted', async () => {
  const run = await runFerry(['bench', '--amqp-url', server.amqpUrl, '--messages', '300', '--publishers', '2', '--consumers', '2', '--size', '64', '--json']);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stderr, '', 'no progress line when stderr is not a terminal');
  const result = JSON.parse(run.stdout) as BenchJson;
  assert.equal(result.completed, true);
  assert.equal(result.published.confirmed, 300);
  assert.equal(result.published.nacked, 0);
  assert.equal(result.consumed.messages, 300);
  assert.ok(result.published.per_second > 0 && result.consumed.per_second > 0);
  const latency = result.consumed.latency_ms;
  assert.ok(latency['p50']! > 0 && latency['p50']! <= latency['p95']! && latency['p95']! <= latency['p99']! && latency['p99']! <= latency['max']!, JSON.stringify(latency));
  assert.match(result.settings.amqp_url, /guest:\*\*\*@/, 'the password is not printed');
  assert.match(result.queue, /^ferry-bench-[0-9a-f]+$/);
  assert.ok(!(await queueNames()).includes(result.queue));
});

test('bench prints a summary table with rates and latency percentiles', async () => {
  const run = await runFerry(['bench', '--messages', '100'], { environment: { FERRY_AMQP_URL: server.amqpUrl } });
  assert.equal(run.code, 0, run.stderr);
  const lines = run.stdout.split('\n');
  assert.match(lines[0]!, /^ferry bench: 1 publisher, 1 consumer, 100-byte persistent messages, 100 messages$/);
  assert.match(run.stdout, /^\s+MESSAGES\s+MSGS\/S\s+P50 MS\s+P95 MS\s+P99 MS\s+MAX MS$/m);
  assert.match(run.stdout, /^published\s+100\s+[\d,]+\s/m);
  assert.match(run.stdout, /^consumed\s+100\s+[\d,]+\s/m);
  assert.deepEqual((await queueNames()).filter((name) => name.startsWith('ferry-bench-')), []);
});

test('bench stopped by SIGINT prints partial results, deletes its queue and exits 130', async () => {
  const bench = spawnFerry(['bench', '--amqp-url', server.amqpUrl, '--seconds', '60', '--json']);
  await waitFor('the bench queue', async () => (await queueNames()).some((name) => name.startsWith('ferry-bench-')));
  await new Promise((resolve) => setTimeout(resolve, 300));
  bench.child.kill('SIGINT');
  const finished = await bench.finished;
  assert.equal(finished.code, 130, finished.stderr);
  const result = JSON.parse(finished.stdout) as BenchJson;
  assert.equal(result.completed, false);
  assert.ok(result.published.confirmed > 0);
  assert.deepEqual((await queueNames()).filter((name) => name.startsWith('ferry-bench-')), []);
});

test('bench with a wrong password exits 1 naming the refusal, without the password', async () => {
  const url = server.amqpUrl.replace('guest:guest', 'guest:wrong');
  const run = await runFerry(['bench', '--amqp-url', url, '--messages', '10']);
  assert.equal(run.code, 1);
  assert.match(run.stderr, /^ferry: BENCHMARK_FAILED: .*ACCESS.REFUSED/);
  assert.ok(!run.stderr.includes('wrong'), run.stderr);
});
