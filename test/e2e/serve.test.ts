// Black-box tests of `ferry serve`: the real bin/ferry.js in a child process.
// Needs the build (dist/) in place: `npx tsc -p tsconfig.json` first.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Compiled to dist/test/e2e/, so the repository root is three folders up.
const BIN = fileURLToPath(new URL('../../../bin/ferry.js', import.meta.url));
const READY_TIMEOUT_MS = 15_000;

const children = new Set<ChildProcess>();
const temporaryDirectories: string[] = [];

after(() => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }
  for (const directory of temporaryDirectories) rmSync(directory, { recursive: true, force: true });
});

function temporaryDirectory(): string {
  const directory = mkdtempSync(join(tmpdir(), 'ferry-serve-'));
  temporaryDirectories.push(directory);
  return directory;
}

interface Ferry {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code once the process has ended. */
  readonly exited: Promise<number | null>;
}

function runFerry(args: readonly string[], options: { cwd?: string } = {}): Ferry {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: options.cwd ?? process.cwd(),
    env: withoutFerryVariables(process.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

/** The test's own FERRY_* variables must not leak into the server under test. */
function withoutFerryVariables(environment: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(environment).filter(([key]) => !key.startsWith('FERRY_')));
}

/** Waits for the ready line and returns the printed HTTP address. */
async function httpAddressOf(ferry: Ferry): Promise<string> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const match = /^ferry: http listening on (http:\/\/\S+)$/m.exec(ferry.stdout());
    if (match) return match[1]!;
    if (ferry.child.exitCode !== null) assert.fail(`ferry exited with ${ferry.child.exitCode}: ${ferry.stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.fail(`ferry printed no address within ${READY_TIMEOUT_MS} ms; stderr: ${ferry.stderr()}`);
}

async function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function assertOneLineError(stderr: string, pattern: RegExp): void {
  const lines = stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `expected one line on stderr, got: ${stderr}`);
  assert.match(lines[0]!, /^ferry: /);
  assert.match(lines[0]!, pattern);
}

test('serve answers health and readiness, then shuts down cleanly on SIGTERM with a checkpoint', async () => {
  const dataDirectory = join(temporaryDirectory(), 'data');
  const ferry = runFerry(['serve', '--data-dir', dataDirectory, '--http-port', '0', '--amqp-port', '0', '--native-port', '0']);
  const address = await httpAddressOf(ferry);
  assert.match(address, /^http:\/\/127\.0\.0\.1:[1-9][0-9]*$/);
  const lines = ferry.stdout().trimEnd().split('\n');
  assert.equal(lines.length, 3, 'one line per listener: amqp, native and http');
  assert.match(lines[0]!, /^ferry: amqp listening on amqp:\/\/127\.0\.0\.1:[1-9][0-9]*$/);
  assert.match(lines[1]!, /^ferry: native listening on ferry:\/\/127\.0\.0\.1:[1-9][0-9]*$/);

  const health = await fetch(`${address}/healthz`);
  assert.equal(health.status, 200);
  assert.deepEqual(await health.json(), { status: 'ok' });
  const readiness = await fetch(`${address}/readyz`);
  assert.equal(readiness.status, 200);
  const missing = await fetch(`${address}/nowhere`);
  assert.equal(missing.status, 404);
  assert.equal(((await missing.json()) as { error: { code: string } }).error.code, 'NOT_FOUND');

  ferry.child.kill('SIGTERM');
  assert.equal(await withTimeout(ferry.exited, 'shutdown'), 0, ferry.stderr());
  assert.ok(existsSync(join(dataDirectory, 'checkpoint')), 'graceful shutdown leaves a checkpoint');
  assert.ok(!existsSync(join(dataDirectory, 'LOCK')), 'graceful shutdown releases the lock');
  for (const line of ferry.stderr().trimEnd().split('\n')) JSON.parse(line); // logs are JSON lines
});

test('a second serve on a data directory in use fails with DATA_DIR_LOCKED', async () => {
  const dataDirectory = join(temporaryDirectory(), 'data');
  const first = runFerry(['serve', '--data-dir', dataDirectory, '--http-port', '0', '--amqp-port', '0', '--native-port', '0']);
  await httpAddressOf(first);

  const second = runFerry(['serve', '--data-dir', dataDirectory, '--http-port', '0', '--amqp-port', '0', '--native-port', '0']);
  assert.equal(await withTimeout(second.exited, 'the second serve'), 1);
  assertOneLineError(second.stderr(), /DATA_DIR_LOCKED/);
  assert.ok(second.stderr().includes(dataDirectory), 'the message names the data directory');
  assert.equal(second.stdout(), '');

  first.child.kill('SIGTERM');
  assert.equal(await withTimeout(first.exited, 'shutdown'), 0);
});

test('an HTTP port already in use fails naming http-port and the port', async () => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const port = (blocker.address() as AddressInfo).port;
  try {
    const ferry = runFerry(['serve', '--memory', '--http-port', String(port), '--amqp-port', '0', '--native-port', '0'], { cwd: temporaryDirectory() });
    assert.equal(await withTimeout(ferry.exited, 'serve'), 1);
    assertOneLineError(ferry.stderr(), new RegExp(`PORT_IN_USE: http-port ${port}\\b`));
  } finally {
    await new Promise((resolve) => blocker.close(resolve));
  }
});

test('an invalid port value fails naming the setting', async () => {
  const ferry = runFerry(['serve', '--memory', '--http-port', 'abc'], { cwd: temporaryDirectory() });
  assert.equal(await withTimeout(ferry.exited, 'serve'), 1);
  assertOneLineError(ferry.stderr(), /INVALID_CONFIG: invalid setting http-port from --http-port: "abc" is not a port number/);
});

test('a config file with invalid JSON fails naming the file', async () => {
  const directory = temporaryDirectory();
  const configFile = join(directory, 'ferry.json');
  writeFileSync(configFile, '{ "http-port": ');
  const ferry = runFerry(['serve', '--config', configFile], { cwd: directory });
  assert.equal(await withTimeout(ferry.exited, 'serve'), 1);
  assertOneLineError(ferry.stderr(), /INVALID_CONFIG: invalid setting config from --config: .* is not valid JSON/);
  assert.ok(ferry.stderr().includes(configFile), 'the message names the file');
});

test('an unknown command or flag is a usage error with exit code 2', async () => {
  const command = runFerry(['launch']);
  assert.equal(await withTimeout(command.exited, 'ferry launch'), 2);
  assertOneLineError(command.stderr(), /unknown command "launch"/);
  const flag = runFerry(['serve', '--bogus']);
  assert.equal(await withTimeout(flag.exited, 'ferry serve --bogus'), 2);
  assertOneLineError(flag.stderr(), /--bogus/);
});

test('--help prints usage and exits 0', async () => {
  const ferry = runFerry(['serve', '--help']);
  assert.equal(await withTimeout(ferry.exited, 'ferry serve --help'), 0);
  assert.match(ferry.stdout(), /^Usage: ferry serve/);
  assert.match(ferry.stdout(), /--http-port/);
});

test('--memory starts without creating a data directory', async () => {
  const directory = temporaryDirectory();
  const ferry = runFerry(['serve', '--memory', '--http-port', '0', '--amqp-port', '0', '--native-port', '0'], { cwd: directory });
  const address = await httpAddressOf(ferry);
  assert.equal((await fetch(`${address}/readyz`)).status, 200);
  ferry.child.kill('SIGTERM');
  assert.equal(await withTimeout(ferry.exited, 'shutdown'), 0, ferry.stderr());
  assert.ok(!existsSync(join(directory, 'data')), 'no ./data in the working directory');
});
