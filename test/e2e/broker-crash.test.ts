/**
 * Crash test of the embedded broker on the real disk: a child process
 * (broker-crash-child.ts) publishes persistent messages to a durable queue
 * and, through a fanout exchange, to two more, with many publishes in
 * flight, while consumers ack some deliveries. The parent kills it with
 * SIGKILL at a random instant, opens the Broker on the same directory
 * in-process, reads every queue to its end with `get` (without acking, so
 * the messages stay), closes it and checks:
 *
 * - every confirmed message is in each queue it was routed to, exactly once,
 *   unless an ack for it there was started (an unconfirmed ack may or may not
 *   have landed);
 * - no message whose ack was confirmed comes back, in any later round;
 * - a message found by one verification stays until an ack for it starts;
 * - no duplicates, nothing that was never sent, nothing in a queue it was
 *   not routed to, and every body and header as published;
 * - the child's ready counts after restart equal what the parent read.
 *
 * Then the child runs again on the same directory, for CRASH_ROUNDS rounds
 * (default 12). Replay a failure's random choices with SEED=<n> (printed at
 * the start); KEEP_DATA_DIR=1 keeps the data directory for inspection, and
 * with KEEP_KILLED_COPY=1 also a copy of it as the last kill left it, before
 * recovery (<dir>-killed). Kill instants are wall-clock delays, so a replay draws the same delays but lands
 * them on whatever the child is doing by then.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Broker } from '../../src/server/broker.js';
import { SeededRandom } from '../../src/platform/random.js';
import {
  CRASH_QUEUES,
  crashBody,
  crashDestinations,
  RUN_HEADER,
  RUN_ID_STRIDE,
  runOf,
} from './broker-crash-child.js';

const SEED = process.env['SEED'] !== undefined ? Number(process.env['SEED']) : (Date.now() ^ (process.pid << 16)) >>> 0;
const ROUNDS = Number(process.env['CRASH_ROUNDS'] ?? 12);
/** The kill comes this long after the child's first confirm. */
const KILL_DELAY_MS_MIN = 10;
const KILL_DELAY_MS_MAX = 1_500;
/** A child that has confirmed nothing by then is stuck. */
const FIRST_CONFIRM_TIMEOUT_MS = 15_000;
const GET_BATCH_MAX = 1_000;
const KEEP_DATA_DIR = process.env['KEEP_DATA_DIR'] === '1';
/** With KEEP_DATA_DIR=1: also keep a copy of the directory as the kill left it, before recovery changes it. */
const KEEP_KILLED_COPY = KEEP_DATA_DIR && process.env['KEEP_KILLED_COPY'] === '1';
const CHILD_PATH = fileURLToPath(new URL('./broker-crash-child.js', import.meta.url));

const directories: string[] = [];
const children = new Set<ChildProcess>();

after(() => {
  for (const child of children) if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
  for (const directory of directories) {
    if (KEEP_DATA_DIR) console.log(`broker-crash: kept data directory ${directory}`);
    else rmSync(directory, { recursive: true, force: true });
  }
});

/** Per-queue sets of message ids. */
type IdsByQueue = Map<string, Set<number>>;

function idsByQueue(): IdsByQueue {
  return new Map(CRASH_QUEUES.map((queue) => [queue, new Set<number>()]));
}

/** What one child run printed before it was killed (complete lines only). */
interface RunOutput {
  readonly ready: Map<string, number>;
  readonly sent: Set<number>;
  readonly confirmed: Set<number>;
  readonly acking: IdsByQueue;
  readonly acked: IdsByQueue;
}

/**
 * Starts the child, kills it (by its pid) `killDelayMs` after its first
 * confirm and resolves with what it printed. Rejects when the child exits by
 * itself, prints something unexpected or confirms nothing in time.
 */
function runUntilKilled(directory: string, run: number, childSeed: number, killDelayMs: number): Promise<RunOutput> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD_PATH, directory, String(run), String(childSeed)], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    const output: RunOutput = { ready: new Map(), sent: new Set(), confirmed: new Set(), acking: idsByQueue(), acked: idsByQueue() };
    let readySeen = false;
    let pending = '';
    let stderr = '';
    let failure: string | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    const kill = (): void => {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
    };
    const stuckTimer = setTimeout(() => {
      failure ??= `child of run ${run} confirmed nothing within ${FIRST_CONFIRM_TIMEOUT_MS} ms`;
      kill();
    }, FIRST_CONFIRM_TIMEOUT_MS);
    const queueSet = (map: IdsByQueue, queue: string | undefined, line: string): Set<number> | undefined => {
      const set = queue === undefined ? undefined : map.get(queue);
      if (set === undefined) failure ??= `child of run ${run} printed ${JSON.stringify(line)} for an unknown queue`;
      return set;
    };
    const parseLine = (line: string): void => {
      const parts = line.split(' ');
      const id = Number(parts[parts.length - 1]);
      switch (parts[0]) {
        case 'ready':
          readySeen = true;
          for (const part of parts.slice(1)) {
            const [queue, count] = part.split('=');
            output.ready.set(queue!, Number(count));
          }
          return;
        case 'sent':
          output.sent.add(id);
          return;
        case 'confirmed':
          if (!output.sent.has(id)) failure ??= `child of run ${run} confirmed ${id} before sending it`;
          output.confirmed.add(id);
          if (killTimer === undefined) {
            clearTimeout(stuckTimer);
            killTimer = setTimeout(kill, killDelayMs);
          }
          return;
        case 'acking':
          queueSet(output.acking, parts[1], line)?.add(id);
          return;
        case 'acked':
          if (!output.acking.get(parts[1]!)?.has(id)) failure ??= `child of run ${run} printed ${JSON.stringify(line)} without acking it first`;
          queueSet(output.acked, parts[1], line)?.add(id);
          return;
        default:
          failure ??= `child of run ${run} printed an unexpected line: ${JSON.stringify(line)}`;
      }
    };
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      // The last piece has no newline yet: the kill may have cut it, so it is not trusted.
      pending = lines.pop()!;
      for (const line of lines) parseLine(line);
      if (failure !== undefined) kill();
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      children.delete(child);
      clearTimeout(stuckTimer);
      clearTimeout(killTimer);
      if (failure !== undefined) reject(new Error(`${failure}; stderr: ${stderr}`));
      else if (signal !== 'SIGKILL') reject(new Error(`child of run ${run} exited by itself (code ${code}, signal ${signal}); stderr: ${stderr}`));
      else if (!readySeen) reject(new Error(`child of run ${run} was killed before it was ready; stderr: ${stderr}`));
      else resolve(output);
    });
  });
}

function bytesEqual(actual: Uint8Array, expected: Uint8Array): boolean {
  return Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength).equals(expected);
}

/** What a verification read from the broker. */
interface Found {
  /** Ids per queue, as read; duplicates fail the read. */
  readonly ids: IdsByQueue;
  /** The broker's ready count of each queue right after it opened. */
  readonly readyCounts: Map<string, number>;
  readonly recoveryMs: number;
}

/**
 * Opens the broker on `directory` in-process, reads every queue to its end
 * with `get` (unacked, so nothing is settled), checks each message against
 * what the child publishes, and closes the broker.
 */
async function readBroker(directory: string, sentEver: Set<number>, context: string): Promise<Found> {
  const startedMs = performance.now();
  const broker = await Broker.start({ dataDir: directory, durability: 'always' });
  const recoveryMs = performance.now() - startedMs;
  const found: Found = { ids: idsByQueue(), readyCounts: new Map(), recoveryMs };
  try {
    for (const queue of CRASH_QUEUES) found.readyCounts.set(queue, broker.vhost().queue(queue).messageCount());
    for (const queue of CRASH_QUEUES) {
      const ids = found.ids.get(queue)!;
      for (;;) {
        const deliveries = await broker.get(queue, { max: GET_BATCH_MAX });
        if (deliveries.length === 0) break;
        for (const delivery of deliveries) {
          const where = `${context}: queue ${queue} offset ${delivery.offset}`;
          const id = Number(delivery.message.properties.messageId);
          assert.ok(Number.isSafeInteger(id), `${where}: message id ${String(delivery.message.properties.messageId)} is not one the child sends`);
          assert.ok(sentEver.has(id), `${where}: message ${id} was never sent`);
          assert.ok(crashDestinations(id).includes(queue), `${where}: message ${id} is not routed to this queue`);
          assert.ok(!ids.has(id), `${where}: message ${id} is in the queue twice`);
          assert.ok(delivery.message.persistent, `${where}: message ${id} lost its persistent flag`);
          assert.ok(bytesEqual(delivery.message.body, crashBody(id)), `${where}: the body of message ${id} differs from what was published`);
          assert.equal(delivery.message.headers[RUN_HEADER], runOf(id), `${where}: the ${RUN_HEADER} header of message ${id} differs`);
          ids.add(id);
        }
      }
      assert.equal(broker.vhost().queue(queue).messageCount(), 0, `${context}: queue ${queue} still counts ready messages after get returned none`);
    }
  } finally {
    await broker.close();
  }
  return found;
}

test(
  'confirmed messages and acks survive SIGKILL of a broker at random instants, across repeated crashes',
  { timeout: 180_000 },
  async () => {
  console.log(`broker-crash: SEED=${SEED} CRASH_ROUNDS=${ROUNDS} (replay the random choices with SEED=${SEED})`);
  const random = new SeededRandom(SEED);
  const directory = mkdtempSync(join(tmpdir(), 'ferry-broker-crash-'));
  directories.push(directory);
  /** Every id any child said it was about to publish. */
  const sentEver = new Set<number>();
  /** Per queue, every id whose ack a child saw confirmed: they must never come back. */
  const ackedEver = idsByQueue();
  /** Per queue, what the last verification found: each must stay until an ack for it starts. */
  let present = idsByQueue();
  const totals = { sent: 0, confirmed: 0, acksConfirmed: 0, unconfirmedSurvivors: 0, unconfirmedAcksLanded: 0, messagesVerified: 0, recoveryMsMax: 0 };
  const startedMs = Date.now();

  for (let run = 1; run <= ROUNDS; run++) {
    const killDelayMs = KILL_DELAY_MS_MIN + random.int(KILL_DELAY_MS_MAX - KILL_DELAY_MS_MIN + 1);
    const childSeed = random.int(0x1_0000_0000);
    const context = `SEED=${SEED} run ${run} (killed ${killDelayMs} ms after its first confirm)`;
    const output = await runUntilKilled(directory, run, childSeed, killDelayMs);

    // The child recovered what the last verification read.
    for (const queue of CRASH_QUEUES) {
      assert.equal(output.ready.get(queue), present.get(queue)!.size, `${context}: the child started with ${output.ready.get(queue)} ready in ${queue}, the last verification read ${present.get(queue)!.size}`);
    }
    for (const id of output.sent) {
      assert.equal(runOf(id), run, `${context}: the child sent id ${id}, which is not of this run`);
      assert.ok(id < (run + 1) * RUN_ID_STRIDE, `${context}: id ${id} is out of range`);
      sentEver.add(id);
    }
    totals.sent += output.sent.size;
    totals.confirmed += output.confirmed.size;

    if (KEEP_KILLED_COPY) {
      rmSync(`${directory}-killed`, { recursive: true, force: true });
      cpSync(directory, `${directory}-killed`, { recursive: true });
    }
    const found = await readBroker(directory, sentEver, context);
    totals.recoveryMsMax = Math.max(totals.recoveryMsMax, found.recoveryMs);
    for (const queue of CRASH_QUEUES) {
      const ids = found.ids.get(queue)!;
      const acking = output.acking.get(queue)!;
      const acked = output.acked.get(queue)!;
      for (const id of acked) ackedEver.get(queue)!.add(id);
      totals.acksConfirmed += acked.size;
      assert.equal(found.readyCounts.get(queue), ids.size, `${context}: queue ${queue} counted ${found.readyCounts.get(queue)} ready at open but get read ${ids.size}`);
      for (const id of ids) {
        assert.ok(!ackedEver.get(queue)!.has(id), `${context}: message ${id} came back to ${queue} after its ack was confirmed`);
      }
      // What must be there: what was there before, plus this run's confirmed messages, less what an ack was started for.
      const required = new Set(present.get(queue)!);
      for (const id of output.confirmed) if (crashDestinations(id).includes(queue)) required.add(id);
      for (const id of required) {
        if (acking.has(id)) continue;
        const where = present.get(queue)!.has(id) ? 'read by the last verification' : 'confirmed';
        assert.ok(ids.has(id), `${context}: message ${id}, ${where}, is missing from ${queue}`);
      }
      for (const id of ids) if (!output.confirmed.has(id) && runOf(id) === run) totals.unconfirmedSurvivors++;
      for (const id of acking) if (!acked.has(id) && !ids.has(id)) totals.unconfirmedAcksLanded++;
      totals.messagesVerified += ids.size;
    }
    present = found.ids;
    console.log(
      `broker-crash: run ${run}: killed ${killDelayMs} ms after the first confirm; sent ${output.sent.size}, confirmed ${output.confirmed.size}, ` +
        `acks confirmed ${CRASH_QUEUES.map((queue) => output.acked.get(queue)!.size).join('/')}; ` +
        `ready after restart ${CRASH_QUEUES.map((queue) => present.get(queue)!.size).join('/')} (${CRASH_QUEUES.join('/')}); recovery ${found.recoveryMs.toFixed(0)} ms`,
    );
  }
  assert.ok(totals.confirmed > 0, 'no publish was ever confirmed');
  assert.ok(totals.acksConfirmed > 0, 'no ack was ever confirmed');
  console.log(`broker-crash: ${ROUNDS} rounds in ${((Date.now() - startedMs) / 1000).toFixed(1)} s: ${JSON.stringify(totals)}`);
});
