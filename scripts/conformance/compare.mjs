// Compares the results that run.mjs wrote (DIR/<sweep>/results-rabbitmq.json with results-ferry.json).
// Usage: node scripts/conformance/compare.mjs --out DIR [errors|semantics|all]
//          [--texts] [--ack-multiple] (errors) [--verbose] (semantics)
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

export const SWEEPS = ['semantics', 'errors'];

/** The flags both run.mjs and this script accept for the comparison. */
export const COMPARE_FLAGS = {
  texts: { type: 'boolean', default: false },
  'ack-multiple': { type: 'boolean', default: false },
  verbose: { type: 'boolean', default: false },
};

/** The sweeps named by a positional argument: one of SWEEPS, or all of them (semantics first: its lib patches amqplib as it loads). */
export function sweepsNamed(name = 'all') {
  if (name === 'all') return SWEEPS;
  if (!SWEEPS.includes(name)) throw new Error(`unknown sweep ${name}: ${SWEEPS.join(', ')} or all`);
  return [name];
}

export const resultsFile = (dir, sweep, broker) => path.join(dir, sweep, `results-${broker}.json`);

/** Prints the comparison of one sweep's results in dir; returns its counts, or null when a results file is missing. */
export async function compareSweep(dir, sweep, flags) {
  const files = ['rabbitmq', 'ferry'].map((broker) => resultsFile(dir, sweep, broker));
  const missing = files.filter((file) => !fs.existsSync(file));
  if (missing.length > 0) {
    console.log(`# ${sweep}: no comparison, ${missing.join(' and ')} missing`);
    return null;
  }
  const [rabbitmq, ferry] = files.map((file) => JSON.parse(fs.readFileSync(file, 'utf8')));
  console.log(`\n# ${sweep}: rabbitmq ${rabbitmq.server?.version} vs ${ferry.server?.product} ${ferry.server?.version}\n`);
  const { compare } = await import(`./${sweep}/compare.mjs`);
  return compare(rabbitmq, ferry, { texts: flags.texts, ackMultiple: flags['ack-multiple'], verbose: flags.verbose });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { out: { type: 'string' }, ...COMPARE_FLAGS } });
  if (!values.out) {
    console.error('usage: node scripts/conformance/compare.mjs --out DIR [errors|semantics|all] [--texts] [--ack-multiple] [--verbose]');
    process.exit(2);
  }
  for (const sweep of sweepsNamed(positionals[0])) await compareSweep(values.out, sweep, values);
}
