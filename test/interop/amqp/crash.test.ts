/**
 * kill -9 with amqplib: `ferry serve` (bin/ferry.js, a child process) on a
 * data directory; a ConfirmChannel publishes persistent messages to a durable
 * queue while a consumer acks a third of them; the server is SIGKILLed in mid
 * stream, restarted on the same directory, and the queue is read to its end.
 * Every confirmed message that was not acked must be there exactly once;
 * nothing appears twice or that was never published.
 *
 * Needs the build (`npx tsc -p tsconfig.json`). The kill comes after a seeded
 * random number of confirms; replay with SEED=<n> (printed at the start).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as amqp from 'amqplib';
import { SeededRandom } from '../../../src/platform/random.js';
import { waitUntil } from './wait-until.js';

// Compiled to dist/test/interop/amqp/, so the repository root is four folders up.
const BIN = fileURLToPath(new URL('../../../../bin/ferry.js', import.meta.url));
const SEED = process.env['SEED'] !== undefined ? Number(process.env['SEED']) : (Date.now() ^ (process.pid << 16)) >>> 0;
const QUEUE = 'crash-durable';
const READY_TIMEOUT_MS = 15_000;
const PUBLISH_WINDOW = 200;

const children = new Set<ChildProcess>();
const directories: string[] = [];

after(() => {
  for (const child of children) {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
  }
  for (const directory of directories) rmSync(directory, { recursive: true, force: true });
});

interface Served {
  readonly child: ChildProcess;
  readonly url: string;
  readonly exited: Promise<void>;
}

/** Starts `ferry serve` on `dataDir` and resolves with its AMQP address once it prints it. */
async function serve(dataDir: string): Promise<Served> {
  const child = spawn(process.execPath, [BIN, 'serve', '--data-dir', dataDir, '--amqp-port', '0', '--native-port', '0', '--http-port', '0'], {
    env: Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('FERRY_'))),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const match = /^ferry: amqp listening on (amqp:\/\/\S+)$/m.exec(stdout);
    if (match) return { child, url: match[1]!.replace('amqp://', 'amqp://guest:guest@'), exited };
    if (child.exitCode !== null) assert.fail(`ferry exited with ${child.exitCode}: ${stderr}`);
    if (Date.now() > deadline) assert.fail(`ferry printed no AMQP address within ${READY_TIMEOUT_MS} ms: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test('every confirmed, unacked persistent message survives kill -9 exactly once', { timeout: 45_000 }, async () => {
  console.log(`crash: SEED=${SEED}`);
  const random = new SeededRandom(SEED);
  const killAfterConfirms = 200 + random.int(1_500);
  const dataDir = mkdtempSync(join(tmpdir(), 'ferry-amqp-crash-'));
  directories.push(dataDir);

  const first = await serve(dataDir);
  const publisherConnection = await amqp.connect(first.url);
  const consumerConnection = await amqp.connect(first.url);
  for (const connection of [publisherConnection, consumerConnection]) connection.on('error', () => undefined);
  const publisher = await publisherConnection.createConfirmChannel();
  publisher.on('error', () => undefined);
  await publisher.assertQueue(QUEUE, { durable: true });

  const confirmed = new Set<number>();
  const nacked = new Set<number>();
  const ackStarted = new Set<number>();
  let published = 0;
  let serverGone = false;
  /** After the kill amqplib fails every outstanding confirm: those are not nacks. */
  let killed = false;
  publisherConnection.on('close', () => (serverGone = true));

  const consumer = await consumerConnection.createChannel();
  consumer.on('error', () => undefined);
  await consumer.prefetch(50);
  await consumer.consume(QUEUE, (message) => {
    if (!message) return;
    const id = Number(message.properties.messageId);
    // Ack every third message; the others stay unacked and return to the queue at the crash.
    if (id % 3 === 0) {
      ackStarted.add(id);
      consumer.ack(message);
    }
  });

  // Publish with a window of unconfirmed messages until the kill.
  const publishing = (async () => {
    while (!serverGone) {
      if (published - confirmed.size - nacked.size >= PUBLISH_WINDOW) {
        await new Promise((resolve) => setTimeout(resolve, 1));
        continue;
      }
      const id = published++;
      try {
        publisher.sendToQueue(QUEUE, Buffer.from(`message ${id}`), { persistent: true, messageId: String(id) }, (error) => {
          if (!error) confirmed.add(id);
          else if (!killed) nacked.add(id);
        });
      } catch {
        return; // The channel closed under us: the server is gone.
      }
      if (id % 20 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
  })();

  await waitUntil(() => confirmed.size >= killAfterConfirms, `${killAfterConfirms} confirms`, 20_000);
  killed = true;
  process.kill(first.child.pid!, 'SIGKILL');
  await first.exited;
  await waitUntil(() => serverGone, 'the client sees the connection drop');
  await publishing;
  const confirmedAtKill = new Set(confirmed);
  assert.ok(confirmedAtKill.size >= killAfterConfirms);
  assert.equal(nacked.size, 0, 'no publish was nacked');

  const second = await serve(dataDir);
  const reader = await amqp.connect(second.url);
  reader.on('error', () => undefined);
  const channel = await reader.createChannel();
  const { messageCount } = await channel.checkQueue(QUEUE);
  const seen = new Map<number, number>();
  for (;;) {
    const message = await channel.get(QUEUE, { noAck: true });
    if (!message) break;
    const id = Number(message.properties.messageId);
    assert.equal(message.content.toString(), `message ${id}`, 'the body is as published');
    assert.equal(message.properties.deliveryMode, 2);
    seen.set(id, (seen.get(id) ?? 0) + 1);
  }
  await reader.close();
  process.kill(second.child.pid!, 'SIGKILL');
  await second.exited;

  console.log(`crash: published ${published}, confirmed ${confirmedAtKill.size}, acks started ${ackStarted.size}, found ${seen.size} after restart`);
  const duplicates = [...seen].filter(([, count]) => count > 1).map(([id]) => id);
  assert.deepEqual(duplicates, [], `messages delivered twice (SEED=${SEED})`);
  const unknown = [...seen.keys()].filter((id) => id >= published);
  assert.deepEqual(unknown, [], 'messages that were never published');
  const lost = [...confirmedAtKill].filter((id) => !seen.has(id) && !ackStarted.has(id));
  assert.deepEqual(lost, [], `confirmed, unacked messages lost in the crash (SEED=${SEED}, ${confirmedAtKill.size} confirmed)`);
  assert.equal(messageCount, seen.size, 'queue.declare-ok counted what basic.get then read');
});
