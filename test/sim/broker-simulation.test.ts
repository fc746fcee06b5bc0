import { test } from 'node:test';
import assert from 'node:assert/strict';
import { simulate } from './broker-simulation.js';

// A short run in every test pass; `npm run sim` runs many more seeds.
test('seeded simulations with crashes, restarts and clock jumps keep every broker invariant', { timeout: 120_000 }, async () => {
  const base = Number(process.env['SEED'] ?? 1);
  const totals = new Map<string, number>();
  for (let run = 0; run < 12; run++) {
    const result = await simulate(base + run, 250);
    assert.ok(result.published > 0 && result.delivered > 0, `seed ${base + run} exercised the broker`);
    for (const [counter, value] of Object.entries(result)) totals.set(counter, (totals.get(counter) ?? 0) + value);
  }
  // Every workload ran, and crashes hit some of them part-way.
  for (const counter of ['crashes', 'crashesDuringOperations', 'appended', 'duplicatesRecognised', 'offsetCommits', 'shareGroupDeliveries', 'transactionsCommitted', 'transactionsAborted', 'transactionsInDoubt']) {
    assert.ok((totals.get(counter) ?? 0) > 0, `the runs counted some ${counter}: ${JSON.stringify(Object.fromEntries(totals))}`);
  }
});
