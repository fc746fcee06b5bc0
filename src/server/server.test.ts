import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isFerryError } from '../lib/ferry-error.js';
import { loadConfig } from './config.js';
import { Logger } from './logger.js';
import { startServer } from './server.js';

function quietLogger(lines: string[] = []): Logger {
  return new Logger({ level: 'debug', write: (line) => lines.push(line) });
}

test('a memory server reports its bound port, answers probes and closes once', async () => {
  const lines: string[] = [];
  const config = loadConfig(['--memory', '--http-port', '0', '--amqp-port', '0', '--native-port', '0'], {}, () => '');
  const server = await startServer(config, { logger: quietLogger(lines) });
  const http = server.addresses.find((address) => address.protocol === 'http');
  assert.ok(http !== undefined && http.port > 0);
  assert.equal(http.url, `http://127.0.0.1:${http.port}`);
  assert.equal((await fetch(`${http.url}/healthz`)).status, 200);
  assert.deepEqual(await (await fetch(`${http.url}/readyz`)).json(), { status: 'ready' });
  assert.equal((await fetch(`${http.url}/healthz`, { method: 'POST' })).status, 404);
  const closing = server.close();
  assert.equal(server.close(), closing, 'a second close returns the same promise');
  await closing;
  const messages = lines.map((line) => (JSON.parse(line) as { msg: string }).msg);
  assert.ok(messages.includes('server ready') && messages.includes('server stopped'));
});

test('a failed listen closes the storage it opened, releasing the data directory', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'ferry-server-'));
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  try {
    const port = (blocker.address() as AddressInfo).port;
    const blocked = loadConfig(['--data-dir', directory, '--http-port', String(port), '--amqp-port', '0', '--native-port', '0'], {}, () => '');
    await assert.rejects(startServer(blocked, { logger: quietLogger() }), (error: unknown) => {
      assert.ok(isFerryError(error, 'PORT_IN_USE'));
      assert.match(error.message, new RegExp(`http-port ${port} \\(from --http-port\\)`));
      return true;
    });
    assert.ok(!existsSync(join(directory, 'LOCK')), 'the lock was released');
    const free = loadConfig(['--data-dir', directory, '--http-port', '0', '--amqp-port', '0', '--native-port', '0'], {}, () => '');
    const server = await startServer(free, { logger: quietLogger() });
    await server.close();
  } finally {
    await new Promise((resolve) => blocker.close(resolve));
    rmSync(directory, { recursive: true, force: true });
  }
});

/**
 * Starts a file server in a fresh data directory with `flags`, publishes 64 messages of
 * 512 bytes to a durable queue over the management API, closes it, and returns the most
 * segment files any one log has on disk (logs/<id>/<base>.seg, src/storage/FORMAT.md).
 */
async function segmentFilesOfLargestLog(flags: readonly string[]): Promise<number> {
  const directory = mkdtempSync(join(tmpdir(), 'ferry-server-'));
  try {
    const config = loadConfig(['--data-dir', directory, '--http-port', '0', '--amqp-port', '0', '--native-port', '0', ...flags], {}, () => '');
    const server = await startServer(config, { logger: quietLogger() });
    try {
      const http = server.addresses.find((address) => address.protocol === 'http')!;
      const api = async (method: string, path: string, body: unknown): Promise<void> => {
        const response = await fetch(`${http.url}${path}`, {
          method,
          headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        assert.ok(response.ok, `${method} ${path}: ${response.status} ${await response.text()}`);
      };
      await api('PUT', '/api/queues/%2F/segmented', { durable: true });
      for (let index = 0; index < 64; index++) {
        await api('POST', '/api/exchanges/%2F/amq.default/publish', { routing_key: 'segmented', payload: 'x'.repeat(512) });
      }
    } finally {
      await server.close();
    }
    const logs = join(directory, 'logs');
    return Math.max(...readdirSync(logs).map((log) => readdirSync(join(logs, log)).filter((file) => file.endsWith('.seg')).length));
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

test('storage-segment-bytes-max reaches the file store: a small value splits a queue log into segments', async () => {
  assert.equal(await segmentFilesOfLargestLog([]), 1, 'with the default 64 MiB every log fits one segment');
  assert.ok(await segmentFilesOfLargestLog(['--storage-segment-bytes-max', '4096']) >= 8, '32 KiB of messages fill at least 8 segments of 4 KiB');
});
