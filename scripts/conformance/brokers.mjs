// Shared by the conformance sweeps: the repository's paths and amqplib, the two brokers
// (a `ferry serve --memory` and a private RabbitMQ node, both on 127.0.0.1), bounded
// waits and the normalisation of server-generated names.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
/** `require` as the repository's own code resolves it (amqplib comes from its node_modules). */
export const repoRequire = createRequire(path.join(repoRoot, 'package.json'));

/** The file of a module of amqplib's lib/ folder (`defs`, `frame`, `codec`), which its package exports do not expose. */
export const amqplibFile = (name) => path.join(path.dirname(repoRequire.resolve('amqplib')), 'lib', `${name}.js`);
export const amqplibInternal = (name) => repoRequire(amqplibFile(name));

/** How long Ferry may take to print its AMQP address, and to stop after SIGTERM. */
const FERRY_START_MS = 20000;
const FERRY_STOP_MS = 10000;

// ---------------------------------------------------------------- waits

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Races a promise against a timer: its value, or a rejection with Error('timeout: label') whose `timeout` is true. */
export function within(promise, ms = 5000, label = 'operation') {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(Object.assign(new Error(`timeout: ${label}`), { timeout: true })), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Polls fn until it returns something truthy or ms pass; returns its last value. */
export async function waitFor(fn, ms = 3000, stepMs = 20) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await fn();
    if (value || Date.now() > deadline) return value;
    await sleep(stepMs);
  }
}

// ---------------------------------------------------------------- normalisation

/** Describes a generated name by its prefix and the length and alphabet of its random part. */
export function nameFormat(s, prefix) {
  if (typeof s !== 'string') return s;
  if (!s.startsWith(prefix)) return `<not ${prefix}: ${s}>`;
  const rest = s.slice(prefix.length);
  const alphabet = /^[A-Za-z0-9_-]*$/.test(rest) ? 'b64url' : /^[A-Za-z0-9+/=_.-]*$/.test(rest) ? 'b64' : 'other';
  return `${prefix}<${rest.length}:${alphabet}>`;
}

/** Replaces the server-generated names in a string (queue names, consumer tags, reply-to addresses) by their format. */
export function normNames(s) {
  return s
    .replace(/amq\.gen-[A-Za-z0-9_\-+/=.]+/g, (m) => nameFormat(m, 'amq.gen-'))
    .replace(/amq\.ctag-[A-Za-z0-9_\-+/=.]+/g, (m) => nameFormat(m, 'amq.ctag-'))
    .replace(/amq\.rabbitmq\.reply-to\.[A-Za-z0-9_\-+/=.]+/g, 'amq.rabbitmq.reply-to.<token>');
}

/** An amqplib-decoded value as plain JSON with sorted keys and generated names normalised; x-death `time` stamps become '<T>'. */
export function normValue(v, key) {
  if (v === undefined) return '<undefined>';
  if (v === null) return null;
  if (Buffer.isBuffer(v)) return { buffer: v.toString('hex') };
  if (typeof v === 'bigint') return { bigint: String(v) };
  if (typeof v === 'string') return normNames(v);
  if (Array.isArray(v)) return v.map((x) => normValue(x, key));
  if (typeof v === 'object') {
    if (v['!'] === 'timestamp') return { timestamp: key === 'time' ? '<T>' : v.value };
    const out = {};
    for (const k of Object.keys(v).sort()) out[k] = normValue(v[k], k);
    return out;
  }
  return v;
}

// ---------------------------------------------------------------- brokers

/**
 * The directory for results, logs and RabbitMQ's data: `--out DIR` (created if need be),
 * else a new one under the system's temporary directory.
 */
export function workDirectory(out) {
  if (out) {
    fs.mkdirSync(out, { recursive: true });
    return path.resolve(out);
  }
  return fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-conformance-'));
}

/** Starts `kind` ('ferry' or 'rabbitmq') with its files under dir; resolves to { name, amqpPort, log, stop() }. */
export function startBroker(kind, dir) {
  if (kind === 'ferry') return startFerry(dir);
  if (kind === 'rabbitmq') return startRabbit(dir);
  throw new Error(`unknown broker ${kind} (ferry or rabbitmq)`);
}

/** `ferry serve --memory` on free ports of 127.0.0.1; its output goes to dir/ferry.log. */
export async function startFerry(dir) {
  const { OwnedProcess } = await benchModule('owned-process');
  const args = ['serve', '--memory', '--host', '127.0.0.1', '--amqp-port', '0', '--http-port', '0', '--native-port', '0'];
  const child = spawn(process.execPath, [path.join(repoRoot, 'bin', 'ferry.js'), ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  // OwnedProcess signals only this pid, and kills it should this process exit without stopping it.
  const owned = new OwnedProcess(child, 'ferry');
  const log = path.join(dir, 'ferry.log');
  const logStream = fs.createWriteStream(log);
  child.stderr.pipe(logStream, { end: false });
  child.once('close', () => logStream.end()); // both outputs are drained by then
  const stop = () => owned.stop(FERRY_STOP_MS);
  try {
    const amqpPort = await within(
      new Promise((resolve, reject) => {
        let seen = '';
        child.stdout.on('data', (data) => {
          logStream.write(data);
          seen += data;
          const match = /amqp listening on amqp:\/\/127\.0\.0\.1:(\d+)/.exec(seen);
          if (match) resolve(Number(match[1]));
        });
        void owned.exited.then((exit) => reject(new Error(`ferry exited while starting (code ${exit.code}, signal ${exit.signal}); see ${log}`)));
      }),
      FERRY_START_MS,
      'ferry start',
    );
    return { name: 'ferry', amqpPort, log, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** A private RabbitMQ node (dist/bench/rabbitmq-process.js) with its data and logs under dir/rabbitmq. */
export async function startRabbit(dir) {
  const { RabbitMqProcess } = await benchModule('rabbitmq-process');
  const found = RabbitMqProcess.locate();
  if ('missing' in found) throw new Error(found.missing);
  const data = path.join(dir, 'rabbitmq');
  fs.rmSync(data, { recursive: true, force: true });
  const node = await RabbitMqProcess.start(data, found);
  return { name: 'rabbitmq', amqpPort: node.amqpPort, log: path.join(data, 'output.txt'), stop: () => node.stop() };
}

/** A compiled module of the repository's bench/ folder (built by `npm install` / `npm run build`). */
async function benchModule(name) {
  const file = path.join(repoRoot, 'dist', 'bench', `${name}.js`);
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: run npm install (or npm run build) first`);
  return import(pathToFileURL(file).href);
}
