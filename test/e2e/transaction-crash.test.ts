/**
 * Effectively-once across kill -9: a child runs consume-transform-produce
 * loops in transactions (transaction-crash-child.ts: stream → stream with
 * consumer-group offsets, queue → queue with acks) and is killed with
 * SIGKILL at random instants, then restarted on the same directory, until it
 * reports both inputs exhausted. Then the outputs must hold every input
 * exactly once: nothing lost by a crash, nothing produced twice by a retry.
 *
 * SEED=<n> replays the random choices; TRANSACTION_CRASH_ROUNDS bounds the
 * number of kills (default 15).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Broker } from '../../src/server/broker.js';
import { SeededRandom } from '../../src/platform/random.js';
import { killRunningChildren, runChild } from './child-process-run.js';
import { INPUT_COUNT } from './transaction-crash-child.js';

const SEED = process.env['SEED'] !== undefined ? Number(process.env['SEED']) : (Date.now() ^ (process.pid << 16)) >>> 0;
const ROUNDS = Number(process.env['TRANSACTION_CRASH_ROUNDS'] ?? 15);
const CHILD_PATH = fileURLToPath(new URL('./transaction-crash-child.js', import.meta.url));
const directory = mkdtempSync(join(tmpdir(), 'ferry-transaction-crash-'));

after(() => {
  killRunningChildren();
  rmSync(directory, { recursive: true, force: true });
});

test('consume-transform-produce in transactions yields every input exactly once across repeated kill -9', { timeout: 300_000 }, async () => {
  console.log(`transaction-crash: SEED=${SEED}`);
  const random = new SeededRandom(SEED);
  let kills = 0;
  let commitsSeen = 0;
  for (let round = 1; ; round++) {
    const killing = kills < ROUNDS;
    const run = await runChild(CHILD_PATH, [directory, String(random.int(0x1_0000_0000))], {
      ...(killing ? { killAfterMs: 20 + random.int(400) } : {}),
      startKillTimerOn: (line) => line === 'ready',
      timeoutMs: 120_000,
    });
    commitsSeen += run.lines.filter((line) => line.startsWith('committed ')).length;
    if (run.lines.includes('done')) {
      // The kill may land after the child printed `done` and before it exited: that is one more
      // crash, and the output check below reads what recovery kept, as after any other.
      if (run.killed) kills++;
      else assert.equal(run.exitCode, 0, `the last run failed: ${run.stderr}`);
      break;
    }
    assert.ok(run.killed, `run ${round} ended by itself without finishing (exit ${run.exitCode}): ${run.stderr}`);
    kills++;
  }
  console.log(`transaction-crash: ${kills} kills, ${commitsSeen} commits reported`);
  assert.ok(kills > 0, 'the child was never killed mid-work');

  const broker = await Broker.start({ dataDir: directory, durability: 'always' });
  try {
    const decoder = new TextDecoder();
    const output: string[] = [];
    for (let offset = 0; ; ) {
      const entries = await broker.readStream('output', { from: offset, max: 1_000 });
      if (entries.length === 0) break;
      for (const entry of entries) output.push(decoder.decode(entry.message.body));
      offset = entries[entries.length - 1]!.offset + 1;
    }
    assert.deepEqual(output, Array.from({ length: INPUT_COUNT }, (_, index) => `out:s${index}`), 'stream output: each input once, in order');
    assert.equal(broker.consumerGroup('input', 'transformers').committed(0), INPUT_COUNT);

    const results: string[] = [];
    for (;;) {
      const deliveries = await broker.get('results', { max: 1_000 });
      if (deliveries.length === 0) break;
      for (const delivery of deliveries) results.push(decoder.decode(delivery.message.body));
    }
    assert.equal(results.length, INPUT_COUNT, 'queue output: one result per input');
    assert.deepEqual([...results].sort(), Array.from({ length: INPUT_COUNT }, (_, index) => `done:q${index}`).sort(), 'queue output: each input once');
    assert.equal(broker.vhost().queue('jobs').messageCount(), 0, 'every input was acked');
  } finally {
    await broker.close();
  }
});
