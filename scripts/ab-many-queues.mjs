// Compares two builds on the many-queue flow of bench:core queues-1000, in one process at a time:
//   node scripts/ab-many-queues.mjs DIST_A DIST_B [pairs]
// (DIST_x: a copy of dist/ with node_modules reachable from it.) Each run starts one broker per
// build (1,000 durable queues each; QUEUES overrides), then alternates 1 s flows between them,
// so that both meet the same phases of a shared machine, whose speed drifts 20-30% within a
// minute. The broker started second runs slower (a few percent, once 20%), so the script runs
// both orders in two child processes and prints one JSON line: B/A as the geometric mean of
// the two medians (the order's effect cancels out), and that effect.
import { fork } from 'node:child_process';
import { rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const QUEUES = Number(process.env.QUEUES ?? 1000);
const FLOW_MS = 1000;

if (process.argv[2] === '--child') {
  const roots = process.argv.slice(3, 5);
  const pairs = Number(process.argv[5]);
  const sides = [];
  for (const [index, root] of roots.entries()) {
    const { Broker } = await import(`${resolve(root)}/src/server/broker.js`);
    const dataDir = `/tmp/ferry-ab-${process.pid}-${index}`;
    const broker = await Broker.start({ dataDir, durability: 'always' });
    const side = { broker, dataDir, delivered: 0, toAck: [], ackScheduled: false, names: [] };
    for (let queue = 0; queue < QUEUES; queue++) {
      const name = `queue-${queue}`;
      side.names.push(name);
      await broker.declareQueue(name, { durable: true });
      broker.consume(name, (delivery) => {
        side.delivered++;
        side.toAck.push(delivery);
        if (side.ackScheduled) return;
        side.ackScheduled = true;
        setImmediate(() => {
          side.ackScheduled = false;
          const deliveries = side.toAck;
          side.toAck = [];
          for (let at = 0; at < deliveries.length; at += 1000) broker.ack(deliveries.slice(at, at + 1000), { lazy: true }).catch(() => undefined);
        });
      }, { autoAck: false, prefetch: 1000 });
    }
    sides.push(side);
  }
  const body = Buffer.alloc(256, 1);
  const flow = async (side) => {
    let sequence = 0;
    const startDelivered = side.delivered;
    const startMs = performance.now();
    const endMs = startMs + FLOW_MS;
    const publisher = async () => {
      while (performance.now() < endMs) {
        const index = sequence++;
        await side.broker.publish('', { body, routingKey: side.names[index % side.names.length], persistent: true, properties: { messageId: String(index) } });
      }
    };
    await Promise.all(Array.from({ length: 1000 }, publisher));
    for (let turns = 0; turns < 100_000 && side.delivered - startDelivered < sequence; turns++) await new Promise((done) => setImmediate(done));
    return sequence / ((performance.now() - startMs) / 1000);
  };
  for (const side of sides) await flow(side);
  const ratios = [];
  for (let pair = 0; pair < pairs; pair++) {
    const rates = [];
    for (const index of pair % 2 === 0 ? [0, 1] : [1, 0]) rates[index] = await flow(sides[index]);
    ratios.push(rates[1] / rates[0]);
  }
  for (const side of sides) {
    await side.broker.close();
    rmSync(side.dataDir, { recursive: true, force: true });
  }
  ratios.sort((x, y) => x - y);
  process.send(ratios[Math.floor(ratios.length / 2)]);
} else {
  const [a, b, pairs = '10'] = process.argv.slice(2);
  if (!a || !b) {
    console.error('usage: node scripts/ab-many-queues.mjs DIST_A DIST_B [pairs]');
    process.exit(2);
  }
  const run = (first, second) =>
    new Promise((done, fail) => {
      let median;
      const child = fork(fileURLToPath(import.meta.url), ['--child', first, second, pairs], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      child.on('message', (message) => (median = message));
      child.on('exit', (code) => (code === 0 && median !== undefined ? done(median) : fail(new Error(`child exited with ${code}`))));
    });
  const bSecond = await run(a, b);
  const aSecond = await run(b, a);
  const round = (value) => Math.round(value * 1000) / 1000;
  console.log(JSON.stringify({ a, b, queues: QUEUES, pairs: Number(pairs), bOverA: round(Math.sqrt(bSecond / aSecond)), secondStartedEffect: round(Math.sqrt(bSecond * aSecond)) }));
}
