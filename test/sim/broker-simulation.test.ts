import { test } from 'node:test';
import assert from 'node:assert/strict';
import { simulate } from './broker-simulation.js';

// A short run in every test pass; `npm run sim` runs many more seeds.
test('seeded simulations with crashes, restarts and clock jumps keep every broker invariant', { timeout: 120_000 }, async () => {
  const base = Number(process.env['SEED'] ?? 1);
  let crashes = 0;
  for (let run = 0; run < 12; run++) {
    const result = await simulate(base + run, 250);
    assert.ok(result.published > 0 && result.delivered > 0, `seed ${base + run} exercised the broker`);
    crashes += result.crashes;
  }
  assert.ok(crashes > 0, 'some runs crashed and recovered');
});
