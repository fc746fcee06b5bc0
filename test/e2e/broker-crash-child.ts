/**
 * The process that broker-crash.test.ts kills with SIGKILL: it starts an
 * embedded Broker (durability `always`) on a data directory, declares a
 * durable queue `work` and a fanout exchange `fan` bound to two durable
 * queues, publishes persistent messages with PUBLISHES_IN_FLIGHT publishes
 * in flight, and consumes all three queues with manual acks, acking about
 * three deliveries in four (in batches of random size) and leaving the rest
 * unsettled, so they must come back after the crash.
 *
 * It prints one line per fact, each in the pipe before the next step runs
 * (report-synchronously.ts), so every printed line is true:
 *
 *   ready <queue>=<ready count> ...   after start and declarations
 *   sent <id>                         just before publish() is called
 *   confirmed <id>                    after publish() resolved (durable)
 *   acking <queue> <id>               just before ack() is called
 *   acked <queue> <id>                after ack() resolved (durable)
 *
 * Usage: node broker-crash-child.js <directory> <run> <seed>
 *
 * Message ids are `run * RUN_ID_STRIDE + sequence`, so they increase within
 * a run and never repeat across runs. The module also exports how a message
 * is built from its id, so the parent can check every message it reads back.
 */
import { pathToFileURL } from 'node:url';
import { Broker } from '../../src/server/broker.js';
import type { Delivery } from '../../src/core/queue/delivery.js';
import { SeededRandom } from '../../src/platform/random.js';
import { reportErrorSynchronously, reportSynchronously } from './report-synchronously.js';

/** The durable queue the child publishes to through the default exchange. */
export const CRASH_WORK_QUEUE = 'work';
/** The fanout exchange and the two durable queues bound to it. */
export const CRASH_FANOUT_EXCHANGE = 'fan';
export const CRASH_FANOUT_QUEUES = ['fan-a', 'fan-b'] as const;
/** Every queue the child declares and consumes. */
export const CRASH_QUEUES: readonly string[] = [CRASH_WORK_QUEUE, ...CRASH_FANOUT_QUEUES];
/** Ids of run `r` are `r * RUN_ID_STRIDE + sequence`. */
export const RUN_ID_STRIDE = 10_000_000;
/** Publishes awaiting their confirm at any time. */
export const PUBLISHES_IN_FLIGHT = 64;
/** The header that carries the publishing run, checked on read-back. */
export const RUN_HEADER = 'x-crash-run';

const ACK_BATCH_MAX = 16;
const encoder = new TextEncoder();

/** A 32-bit hash of a message id, seeding its size and padding. */
function hashId(id: number): number {
  let hash = 0x811c9dc5;
  for (const part of [id % 0x1_0000_0000, Math.floor(id / 0x1_0000_0000)]) {
    hash = Math.imul(hash ^ part, 0x01000193) >>> 0;
    hash = Math.imul(hash ^ (hash >>> 13), 0x5bd1e995) >>> 0;
  }
  return hash;
}

/** The run that published message `id`. */
export function runOf(id: number): number {
  return Math.floor(id / RUN_ID_STRIDE);
}

/** Queues message `id` is published to: one in three goes through the fanout exchange. */
export function crashDestinations(id: number): readonly string[] {
  return id % 3 === 0 ? CRASH_FANOUT_QUEUES : [CRASH_WORK_QUEUE];
}

/**
 * The body of message `id`: its id in text, then padding derived from the id,
 * 16 B to 512 B, and one message in eight 4 KiB to 8 KiB. Deterministic, so
 * the parent rebuilds it to compare.
 */
export function crashBody(id: number): Uint8Array {
  const random = new SeededRandom(hashId(id));
  const large = random.int(8) === 0;
  const size = large ? 4096 + random.int(4097) : 16 + random.int(497);
  const body = new Uint8Array(size);
  const prefix = encoder.encode(`${id}:`);
  body.set(prefix.subarray(0, size));
  for (let at = prefix.byteLength; at < size; at++) body[at] = random.int(256);
  return body;
}

async function main(directory: string, run: number, seed: number): Promise<void> {
  const random = new SeededRandom(seed);
  const broker = await Broker.start({ dataDir: directory, durability: 'always' });
  await broker.declareQueue(CRASH_WORK_QUEUE, { durable: true });
  await broker.declareExchange(CRASH_FANOUT_EXCHANGE, { type: 'fanout', durable: true });
  for (const queue of CRASH_FANOUT_QUEUES) {
    await broker.declareQueue(queue, { durable: true });
    await broker.bind(CRASH_FANOUT_EXCHANGE, queue, '');
  }
  reportSynchronously(`ready ${CRASH_QUEUES.map((queue) => `${queue}=${broker.vhost().queue(queue).messageCount()}`).join(' ')}\n`);

  const fail = (error: unknown): never => {
    reportErrorSynchronously(`child failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  };

  // Deliveries to ack wait here until the end of the turn, then go in batches of random size.
  let toAck: Delivery[] = [];
  let ackScheduled = false;
  const ackPending = (): void => {
    ackScheduled = false;
    const deliveries = toAck;
    toAck = [];
    for (let at = 0; at < deliveries.length; ) {
      const batch = deliveries.slice(at, at + 1 + random.int(ACK_BATCH_MAX));
      at += batch.length;
      reportSynchronously(batch.map((delivery) => `acking ${delivery.queue} ${delivery.message.properties.messageId}\n`).join(''));
      const settled = batch.length === 1 ? broker.ack(batch[0]!) : broker.ack(batch);
      settled.then(
        () => reportSynchronously(batch.map((delivery) => `acked ${delivery.queue} ${delivery.message.properties.messageId}\n`).join('')),
        fail,
      );
    }
  };
  for (const queue of CRASH_QUEUES) {
    broker.consume(
      queue,
      (delivery) => {
        // About one delivery in four stays unsettled until the kill, so it must come back.
        if (random.int(4) === 0) return;
        toAck.push(delivery);
        if (!ackScheduled) {
          ackScheduled = true;
          setImmediate(ackPending);
        }
      },
      { prefetch: 0, autoAck: false },
    );
  }

  let sequence = 0;
  const publisher = async (): Promise<void> => {
    for (;;) {
      if (sequence >= RUN_ID_STRIDE) return;
      const id = run * RUN_ID_STRIDE + sequence++;
      const fanout = crashDestinations(id).length > 1;
      reportSynchronously(`sent ${id}\n`);
      await broker.publish(fanout ? CRASH_FANOUT_EXCHANGE : '', {
        body: crashBody(id),
        routingKey: fanout ? '' : CRASH_WORK_QUEUE,
        persistent: true,
        headers: { [RUN_HEADER]: run },
        properties: { messageId: String(id) },
      });
      reportSynchronously(`confirmed ${id}\n`);
    }
  };
  await Promise.all(Array.from({ length: PUBLISHES_IN_FLIGHT }, publisher)).catch(fail);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [directory, run, seed] = process.argv.slice(2);
  if (directory === undefined || run === undefined || seed === undefined) {
    reportErrorSynchronously('usage: broker-crash-child.js <directory> <run> <seed>\n');
    process.exit(2);
  }
  main(directory, Number(run), Number(seed)).catch((error: unknown) => {
    reportErrorSynchronously(`child failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
