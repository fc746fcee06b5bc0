/**
 * Helpers of the CLI tests: a real Ferry server (in memory, ports 0 on
 * 127.0.0.1) started in the test process, and `runFerry` spawning the real
 * `bin/ferry.js` against it. Needs the build (dist/) in place.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/server/config.js';
import { Logger } from '../../src/server/logger.js';
import { startServer, type RunningServer } from '../../src/server/server.js';

// Compiled to dist/test/cli/, so the repository root is three folders up.
const BIN = fileURLToPath(new URL('../../../bin/ferry.js', import.meta.url));
const RUN_TIMEOUT_MS = 30_000;

/** A running server and where its listeners are. */
export interface TestServer {
  /** `http://127.0.0.1:PORT`, for `--url` / FERRY_URL. */
  readonly httpUrl: string;
  /** `amqp://guest:guest@127.0.0.1:PORT`, for `--amqp-url` and amqplib. */
  readonly amqpUrl: string;
  /** Calls the management API as guest; returns the parsed JSON (undefined for 204). */
  api(method: string, path: string, body?: unknown): Promise<unknown>;
  close(): Promise<void>;
}

/** Starts `ferry serve --memory` in this process, every listener on a free port. */
export async function startTestServer(): Promise<TestServer> {
  const config = loadConfig(['--memory', '--http-port', '0', '--amqp-port', '0', '--native-port', '0', '--log-level', 'error'], {}, () => '');
  const server: RunningServer = await startServer(config, { logger: new Logger({ level: 'error', write: () => undefined }), shutdownGraceMs: 500 });
  const address = (protocol: string): string => {
    const found = server.addresses.find((candidate) => candidate.protocol === protocol);
    if (!found) throw new Error(`the server has no ${protocol} listener`);
    return `${found.host}:${found.port}`;
  };
  const httpUrl = `http://${address('http')}`;
  return {
    httpUrl,
    amqpUrl: `amqp://guest:guest@${address('amqp')}`,
    async api(method, path, body) {
      const response = await fetch(`${httpUrl}${path}`, {
        method,
        headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const text = await response.text();
      if (!response.ok) throw new Error(`${method} ${path}: HTTP ${response.status} ${text}`);
      return text === '' ? undefined : JSON.parse(text);
    },
    close: () => server.close(),
  };
}

/** What a finished `ferry` process left. */
export interface FerryRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** How to spawn `ferry`. */
export interface FerryRunOptions {
  /** FERRY_* variables and others; the test's own FERRY_* never leak in. */
  readonly environment?: Readonly<Record<string, string>>;
  /** Written to stdin, which is then closed; without it stdin is empty. */
  readonly stdin?: string | Buffer;
}

/** A `ferry` process that is still running. */
export interface RunningFerry {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves once the process has ended. */
  readonly finished: Promise<FerryRun>;
}

/** Spawns `node bin/ferry.js ...args`. */
export function spawnFerry(args: readonly string[], options: FerryRunOptions = {}): RunningFerry {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('FERRY_') && key !== 'NO_COLOR'));
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...inherited, ...options.environment }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdin!.on('error', () => undefined);
  child.stdin!.end(options.stdin ?? '');
  const finished = new Promise<FerryRun>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { child, stdout: () => stdout, stderr: () => stderr, finished };
}

/** Runs `ferry ...args` to its end. */
export function runFerry(args: readonly string[], options: FerryRunOptions = {}): Promise<FerryRun> {
  return spawnFerry(args, options).finished;
}

/** Waits until `condition` holds, polling every 20 ms; fails after `timeoutMs`. */
export async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The lines of a table (header first), each split into its columns. */
export function tableRows(text: string): string[][] {
  return text
    .trimEnd()
    .split('\n')
    .map((line) => line.trim().split(/\s{2,}/));
}
