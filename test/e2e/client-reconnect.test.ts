/**
 * The client across server crashes: a real server (native-server-child.ts,
 * `ferry serve` on a data directory) is killed with SIGKILL and restarted on
 * the same directory and port, several times, while publishers and
 * consumers of one client run. The client reconnects by itself each time.
 * Afterwards:
 *
 * - every message whose send was confirmed arrived at least once at the
 *   consumer of a plain durable queue (at-least-once publishing and
 *   consuming across reconnects);
 * - the idempotent stream publisher's stream holds every confirmed message
 *   exactly once (re-sent batches recognised as duplicates), and the stream
 *   reader, resumed after each reconnect, saw every confirmed one;
 * - the queue with a deduplication window holds every confirmed message
 *   exactly once (re-sent messages carry the same message id).
 *
 * SEED=<n> replays the random kill instants (printed at the start).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import { SeededRandom } from '../../src/platform/random.js';
import { connect, type FerryClient, type ReceivedMessage } from '../../src/client/index.js';

const SEED = process.env['SEED'] !== undefined ? Number(process.env['SEED']) : (Date.now() ^ (process.pid << 16)) >>> 0;
const KILLS = Number(process.env['CLIENT_RECONNECT_KILLS'] ?? 3);
const CHILD_PATH = fileURLToPath(new URL('./native-server-child.js', import.meta.url));
const READY_TIMEOUT_MS = 20_000;
const DRAIN_TIMEOUT_MS = 30_000;

const children = new Set<ChildProcess>();
const directories: string[] = [];

after(() => {
  for (const child of children) if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
  for (const directory of directories) rmSync(directory, { recursive: true, force: true });
});

interface RunningServer {
  readonly child: ChildProcess;
  readonly port: number;
  readonly exited: Promise<void>;
}

/** Starts the server child and resolves once it prints its port. */
function startServerChild(directory: string, port: number): Promise<RunningServer> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD_PATH, directory, String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    const exited = new Promise<void>((done) => child.on('close', () => done()));
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => reject(new Error(`the server printed no ready line within ${READY_TIMEOUT_MS} ms; stderr: ${stderr}`)), READY_TIMEOUT_MS);
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      const match = /^ready (\d+)$/m.exec(stdout);
      if (match) {
        clearTimeout(timer);
        resolve({ child, port: Number(match[1]), exited });
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('close', (code, signal) => {
      children.delete(child);
      clearTimeout(timer);
      reject(new Error(`the server exited before it was ready (code ${code}, signal ${signal}); stderr: ${stderr}`));
    });
  });
}

async function killServer(server: RunningServer): Promise<void> {
  process.kill(server.child.pid!, 'SIGKILL');
  await server.exited;
}

/** Sends ids 0, 1, 2, … through `send` until `running()` is false, keeping up to `window` unconfirmed. */
async function produce(send: (id: number) => Promise<unknown>, running: () => boolean, confirmed: Set<number>, failures: unknown[]): Promise<void> {
  let next = 0;
  const inFlight = new Set<Promise<void>>();
  while (running()) {
    const id = next++;
    const sending = send(id).then(
      () => void confirmed.add(id),
      (error: unknown) => void failures.push(error),
    );
    inFlight.add(sending);
    void sending.finally(() => inFlight.delete(sending));
    if (inFlight.size >= 200) await Promise.race(inFlight);
    // A few messages per turn, so batches of several messages are in flight when the server dies.
    if (id % 20 === 19) await delay(2);
  }
  await Promise.all(inFlight);
}

test(
  'confirmed messages survive SIGKILL restarts of the server: at least once, exactly once with idempotence and deduplication',
  { timeout: 180_000 },
  async () => {
    console.log(`client-reconnect: SEED=${SEED} KILLS=${KILLS}`);
    const random = new SeededRandom(SEED);
    const directory = mkdtempSync(join(tmpdir(), 'ferry-client-reconnect-'));
    directories.push(directory);
    let server = await startServerChild(directory, 0);
    const port = server.port;
    const client: FerryClient = await connect({ url: `ferry://127.0.0.1:${port}`, reconnect: { delayMsInitial: 20, delayMsMax: 200, durationMsMax: 60_000 } });
    const reconnects: string[] = [];
    client.on('reconnecting', (error) => reconnects.push(error.code));
    client.on('error', (error) => console.log(`client-reconnect: client error ${error.code}: ${error.message}`));
    try {
      await client.declareStream('events', { partitions: 2 });
      await client.declareQueue('jobs', { deduplicationWindowMs: 10 * 60_000 });
      await client.declareQueue('plain');

      const streamPublisher = client.publisher({ stream: 'events' });
      const jobsPublisher = client.publisher({ queue: 'jobs' });
      const plainPublisher = client.publisher({ queue: 'plain' });
      const confirmed = { events: new Set<number>(), jobs: new Set<number>(), plain: new Set<number>() };
      const failures: unknown[] = [];
      let producing = true;
      let duplicates = 0;
      const producers = [
        produce(
          (id) =>
            streamPublisher.send({ body: String(id), properties: { key: `key-${id % 7}` } }).then((result) => {
              if (result.status === 'duplicate') duplicates++;
            }),
          () => producing,
          confirmed.events,
          failures,
        ),
        produce((id) => jobsPublisher.send(String(id)), () => producing, confirmed.jobs, failures),
        produce((id) => plainPublisher.send(String(id)), () => producing, confirmed.plain, failures),
      ];

      // Consumers: the plain queue (acking) and both stream partitions (resumed by offset after each reconnect).
      const consumedPlain = new Set<number>();
      let plainDeliveries = 0;
      await client.consume('plain', { prefetch: 500 }, (message: ReceivedMessage) => {
        plainDeliveries++;
        consumedPlain.add(Number(message.bodyText()));
      });
      const readEvents = new Set<number>();
      const readers = await Promise.all([0, 1].map((partition) => client.streamReader('events', { partition, from: 'first', credit: 500 })));
      const reading = readers.map(async (reader) => {
        for await (const entry of reader) readEvents.add(Number(entry.bodyText()));
      });

      for (let kill = 0; kill < KILLS; kill++) {
        await delay(300 + random.int(700));
        await killServer(server);
        await delay(random.int(300));
        server = await startServerChild(directory, port);
      }
      await delay(300);
      producing = false;
      await Promise.all(producers);
      assert.deepEqual(failures, [], 'no send failed: every one was confirmed, across the crashes');
      assert.ok(reconnects.length >= KILLS, `the client reconnected after each kill (${reconnects.join(', ')})`);
      for (const [name, ids] of Object.entries(confirmed)) assert.ok(ids.size > 0, `${name}: something was confirmed`);

      // At least once: every confirmed message reached the consumers.
      const deadline = Date.now() + DRAIN_TIMEOUT_MS;
      while ([...confirmed.plain].some((id) => !consumedPlain.has(id)) || [...confirmed.events].some((id) => !readEvents.has(id))) {
        assert.ok(Date.now() < deadline, 'the consumers received every confirmed message in time');
        await delay(50);
      }
      console.log(
        `client-reconnect: confirmed events=${confirmed.events.size} jobs=${confirmed.jobs.size} plain=${confirmed.plain.size}; plain deliveries=${plainDeliveries} (${plainDeliveries - consumedPlain.size} redelivered); events re-sent and recognised as duplicates=${duplicates}; reconnects=${reconnects.join(',')}`,
      );

      // Exactly once: the stream and the deduplicating queue store each message once.
      const stored = new Map<number, number>();
      for (const partition of [0, 1]) {
        for (let from = 0; ; ) {
          const { entries, nextOffset } = await client.read('events', { partition, from: { offset: from }, max: 1_000 });
          if (entries.length === 0) break;
          for (const entry of entries) stored.set(Number(entry.bodyText()), (stored.get(Number(entry.bodyText())) ?? 0) + 1);
          from = nextOffset;
        }
      }
      const duplicatedEvents = [...stored].filter(([, count]) => count > 1).map(([id]) => id);
      assert.deepEqual(duplicatedEvents, [], 'no event is stored twice');
      assert.deepEqual([...confirmed.events].filter((id) => !stored.has(id)), [], 'every confirmed event is stored');
      const jobs = new Map<number, number>();
      for (;;) {
        const messages = await client.get('jobs', { max: 1_000, autoAck: true });
        if (messages.length === 0) break;
        for (const message of messages) jobs.set(Number(message.bodyText()), (jobs.get(Number(message.bodyText())) ?? 0) + 1);
      }
      assert.deepEqual([...jobs].filter(([, count]) => count > 1).map(([id]) => id), [], 'no job is stored twice');
      assert.deepEqual([...confirmed.jobs].filter((id) => !jobs.has(id)), [], 'every confirmed job is stored');
      for (const reader of readers) await reader.close();
      await Promise.all(reading);
    } finally {
      await client.close();
      await killServer(server);
    }
  },
);
