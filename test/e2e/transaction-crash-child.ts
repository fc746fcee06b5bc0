/**
 * The process transaction-crash.test.ts kills: a consume-transform-produce
 * loop on an embedded Broker (durability `always`) that must be effectively
 * once. Two pipelines run side by side:
 *
 * - stream → stream: a consumer-group member reads `input` from its
 *   committed offset and, per batch, appends `out:<body>` to `output` and
 *   commits the next offset, in one transaction;
 * - queue → queue: it pulls from `jobs` and, per batch, publishes
 *   `done:<body>` to `results` and acks the inputs, in one transaction.
 *
 * On its first run it loads INPUT_COUNT inputs into both. It prints
 * `ready`, then `committed <pipeline> <count>` after each commit, and `done`
 * once both inputs are exhausted (then exits 0).
 *
 * Usage: node transaction-crash-child.js <directory> <seed>
 */
import { pathToFileURL } from 'node:url';
import { Broker } from '../../src/server/broker.js';
import { SeededRandom } from '../../src/platform/random.js';
import { reportErrorSynchronously, reportSynchronously } from './report-synchronously.js';

export const INPUT_COUNT = 2_000;
const BATCH_MAX = 10;
const MEMBER = 'worker';
const GROUP = 'transformers';

async function main(directory: string, seed: number): Promise<void> {
  const random = new SeededRandom(seed);
  const broker = await Broker.start({ dataDir: directory, durability: 'always' });
  const fresh = broker.vhost().findStream('input') === undefined;
  await broker.declareStream('input');
  await broker.declareStream('output');
  await broker.declareQueue('jobs');
  await broker.declareQueue('results');
  if (fresh) {
    // The parent kills only after `ready`, so loading always completes.
    for (let at = 0; at < INPUT_COUNT; at += 500) {
      const count = Math.min(500, INPUT_COUNT - at);
      await broker.appendToStream('input', Array.from({ length: count }, (_, index) => ({ body: `s${at + index}` })));
      await Promise.all(Array.from({ length: count }, (_, index) => broker.publish('', { body: `q${at + index}`, routingKey: 'jobs' })));
    }
    reportSynchronously('loaded\n');
  }
  reportSynchronously('ready\n');
  const group = broker.consumerGroup('input', GROUP);
  group.join(MEMBER, { onAssigned: () => undefined, onRevoked: (partitions) => group.revoked(MEMBER, partitions) });

  const streamLoop = async (): Promise<void> => {
    for (;;) {
      const from = group.committed(0) ?? 0;
      const entries = await broker.readStream('input', { from, max: 1 + random.int(BATCH_MAX) });
      if (entries.length === 0) return;
      const transaction = await broker.transaction();
      for (const entry of entries) transaction.appendToStream('output', { body: `out:${new TextDecoder().decode(entry.message.body)}` });
      transaction.commitOffset('input', GROUP, MEMBER, 0, entries[entries.length - 1]!.offset + 1);
      await transaction.commit();
      reportSynchronously(`committed stream ${entries[entries.length - 1]!.offset + 1}\n`);
    }
  };
  const queueLoop = async (): Promise<void> => {
    for (;;) {
      const deliveries = await broker.get('jobs', { max: 1 + random.int(BATCH_MAX) });
      if (deliveries.length === 0) return;
      const transaction = await broker.transaction();
      for (const delivery of deliveries) transaction.publish('', { body: `done:${new TextDecoder().decode(delivery.message.body)}`, routingKey: 'results' });
      transaction.ack(deliveries);
      await transaction.commit();
      reportSynchronously(`committed queue ${deliveries.length}\n`);
    }
  };
  await Promise.all([streamLoop(), queueLoop()]);
  reportSynchronously('done\n');
  await broker.close();
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [directory, seed] = process.argv.slice(2);
  if (directory === undefined || seed === undefined) {
    reportErrorSynchronously('usage: transaction-crash-child.js <directory> <seed>\n');
    process.exit(2);
  }
  main(directory, Number(seed)).catch((error: unknown) => {
    reportErrorSynchronously(`child failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
