/**
 * `npm run sim`: runs the broker simulation for many seeds (SIM_RUNS, default
 * 200; SIM_STEPS steps each, default 400), or one seed with SEED=n. Prints a
 * JSON summary line; on failure prints the seed and exits 1.
 */
import { simulate, SimulationFailure } from './broker-simulation.js';

const single = process.env['SEED'];
const runs = single !== undefined ? 1 : Number(process.env['SIM_RUNS'] ?? 200);
const steps = Number(process.env['SIM_STEPS'] ?? 400);
const firstSeed = single !== undefined ? Number(single) : Math.floor(Math.random() * 2 ** 31);
let totals = { published: 0, delivered: 0, crashes: 0 };
for (let run = 0; run < runs; run++) {
  const seed = single !== undefined ? firstSeed : (firstSeed + run * 7919) % 2 ** 31;
  try {
    const result = await simulate(seed, steps);
    totals = { published: totals.published + result.published, delivered: totals.delivered + result.delivered, crashes: totals.crashes + result.crashes };
  } catch (error) {
    if (error instanceof SimulationFailure) {
      console.error(error.message);
    } else {
      console.error(`seed ${seed}: unexpected error (replay with SEED=${seed} npm run sim)`, error);
    }
    process.exit(1);
  }
}
console.log(JSON.stringify({ runs, steps, firstSeed, ...totals }));
