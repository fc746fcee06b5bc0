/**
 * `npm run sim`: runs the broker simulation for many seeds (SIM_RUNS, default
 * 200; SIM_STEPS steps each, default 400), or one seed with SEED=n. Prints a
 * JSON summary line (counters summed over the runs); on failure prints the
 * seed and exits 1. SIM_TRACE=1 prints what each step did (use with SEED).
 */
import { simulate, SimulationFailure } from './broker-simulation.js';

const single = process.env['SEED'];
const runs = single !== undefined ? 1 : Number(process.env['SIM_RUNS'] ?? 200);
const steps = Number(process.env['SIM_STEPS'] ?? 400);
const firstSeed = single !== undefined ? Number(single) : Math.floor(Math.random() * 2 ** 31);
const totals: Record<string, number> = {};
const trace = process.env['SIM_TRACE'] ? (line: string) => console.log(line) : undefined;
const startedMs = Date.now();
for (let run = 0; run < runs; run++) {
  const seed = single !== undefined ? firstSeed : (firstSeed + run * 7919) % 2 ** 31;
  try {
    const result = await simulate(seed, steps, trace ? { trace } : {});
    for (const [counter, value] of Object.entries(result)) totals[counter] = (totals[counter] ?? 0) + value;
  } catch (error) {
    if (error instanceof SimulationFailure) {
      console.error(error.message);
    } else {
      console.error(`seed ${seed}: unexpected error (replay with SEED=${seed} npm run sim)`, error);
    }
    process.exit(1);
  }
}
console.log(JSON.stringify({ runs, steps, firstSeed, durationMs: Date.now() - startedMs, ...totals }));
