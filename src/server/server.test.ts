import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
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
