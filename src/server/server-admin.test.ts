import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseMetrics } from '../admin/admin-test-client.js';
import { isFerryError } from '../lib/ferry-error.js';
import { loadConfig } from './config.js';
import { Logger } from './logger.js';
import { startServer } from './server.js';

const GUEST = { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` };

function quietLogger(): Logger {
  return new Logger({ level: 'error', write: () => undefined });
}

function temporaryDirectory(): string {
  return mkdtempSync(join(tmpdir(), 'ferry-server-admin-'));
}

test('--definitions, FERRY_DEFINITIONS and the config key name the definitions file; none by default', () => {
  assert.equal(loadConfig([], {}, () => '').definitionsFile, null);
  assert.equal(loadConfig(['--definitions', 'topology.json'], {}, () => '').definitionsFile, 'topology.json');
  assert.equal(loadConfig([], { FERRY_DEFINITIONS: 'from-env.json' }, () => '').definitionsFile, 'from-env.json');
  assert.equal(loadConfig(['--config', 'ferry.json'], {}, () => '{ "definitions": "from-file.json" }').definitionsFile, 'from-file.json');
});

test('serve imports --definitions at start, serves the API on the HTTP port and feeds the fsync histogram', async () => {
  const directory = temporaryDirectory();
  const definitions = join(directory, 'definitions.json');
  writeFileSync(
    definitions,
    JSON.stringify({
      exchanges: [{ vhost: '/', name: 'orders', type: 'direct' }],
      queues: [{ vhost: '/', name: 'orders-eu', policies: { max_length: 10 } }],
      bindings: [{ vhost: '/', source: 'orders', destination: 'orders-eu', destination_type: 'queue', routing_key: 'eu' }],
    }),
  );
  const config = loadConfig(['--data-dir', join(directory, 'data'), '--http-port', '0', '--amqp-port', '0', '--native-port', '0', '--definitions', definitions], {}, () => '');
  const server = await startServer(config, { logger: quietLogger() });
  try {
    const http = server.addresses.find((address) => address.protocol === 'http')!.url;
    const queue = (await (await fetch(`${http}/api/queues/%2F/orders-eu`, { headers: GUEST })).json()) as { policies: { max_length: number } };
    assert.equal(queue.policies.max_length, 10);
    const published = await fetch(`${http}/api/exchanges/%2F/orders/publish`, {
      method: 'POST',
      headers: { ...GUEST, 'content-type': 'application/json' },
      body: JSON.stringify({ routing_key: 'eu', payload: 'hello' }),
    });
    assert.deepEqual(await published.json(), { routed: true, rejected_by: [] });
    const overview = (await (await fetch(`${http}/api/overview`, { headers: GUEST })).json()) as { listeners: Array<{ protocol: string; url: string }>; ferry_version: string; storage_bytes: number };
    assert.deepEqual(overview.listeners.map((listener) => listener.protocol), ['amqp', 'native', 'http']);
    assert.equal(overview.listeners[2]!.url, http);
    assert.match(overview.ferry_version, /^\d+\.\d+\.\d+/);
    assert.ok(overview.storage_bytes > 0);
    const metrics = parseMetrics(await (await fetch(`${http}/metrics`)).text());
    assert.equal(metrics.get('ferry_queue_messages_ready{vhost="/",queue="orders-eu"}'), 1);
    assert.ok((metrics.get('ferry_storage_fsync_duration_seconds_count') ?? 0) > 0, 'durable writes were timed');
    assert.ok((metrics.get('ferry_storage_bytes') ?? 0) > 0);
  } finally {
    await server.close();
    rmSync(directory, { recursive: true, force: true });
  }
});

test('a definitions file that is missing, not JSON, invalid or conflicting fails the start and releases the data directory', async () => {
  const directory = temporaryDirectory();
  try {
    const cases: Array<[string | null, string, RegExp]> = [
      [null, 'INVALID_CONFIG', /invalid setting definitions from --definitions: cannot read file/],
      ['{ "queues": ', 'INVALID_DEFINITIONS', /is not valid JSON/],
      ['{ "queues": [{ "name": "q" }] }', 'INVALID_DEFINITIONS', /queues\[0\]\.vhost is required/],
      ['{ "queues": [{ "vhost": "nowhere", "name": "q" }] }', 'VHOST_NOT_FOUND', /definitions file .* queues\[0\] q/],
    ];
    for (const [index, [content, code, message]] of cases.entries()) {
      const file = join(directory, `definitions-${index}.json`);
      if (content !== null) writeFileSync(file, content);
      const config = loadConfig(['--data-dir', join(directory, 'data'), '--http-port', '0', '--amqp-port', '0', '--native-port', '0', '--definitions', file], {}, () => '');
      await assert.rejects(startServer(config, { logger: quietLogger() }), (error: unknown) => {
        assert.ok(isFerryError(error, code), `${code}: ${String(error)}`);
        assert.match(error.message, message);
        return true;
      });
      assert.ok(!existsSync(join(directory, 'data', 'LOCK')), 'the lock was released');
    }
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
});
