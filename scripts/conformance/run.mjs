// Runs the AMQP 0-9-1 conformance sweeps (amqplib scenarios) against a private RabbitMQ node and
// a `ferry serve --memory`, one broker at a time, each started fresh for each sweep, then compares.
// Usage: node scripts/conformance/run.mjs [errors|semantics|all] [--broker rabbitmq|ferry|both]
//          [--only REGEX] [--port N] [--out DIR] [--progress] [--texts] [--ack-multiple] [--verbose]
//   --only REGEX   scenarios whose name matches (merged into existing results files in --out DIR)
//   --port N       use a broker already listening on 127.0.0.1:N (with one --broker)
//   --progress     print one line per scenario (they always go to DIR/<sweep>/run-<broker>.log)
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { startBroker, within, workDirectory } from './brokers.mjs';
import { COMPARE_FLAGS, compareSweep, resultsFile, sweepsNamed } from './compare.mjs';

/** How long one scenario may take (its own waits are shorter). */
const SCENARIO_MS = 20000;

const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    broker: { type: 'string', default: 'both' },
    only: { type: 'string' },
    port: { type: 'string' },
    out: { type: 'string' },
    progress: { type: 'boolean', default: false },
    ...COMPARE_FLAGS,
  },
});
const brokers = flags.broker === 'both' ? ['rabbitmq', 'ferry'] : [flags.broker];
if (flags.port && brokers.length !== 1) throw new Error('--port needs --broker rabbitmq or --broker ferry');
const only = flags.only ? new RegExp(flags.only) : null;
const sweeps = sweepsNamed(positionals[0]);
const dir = workDirectory(flags.out);
console.log(`results and logs: ${dir}`);

// Scenarios provoke errors on purpose; a late rejection or socket error from one must not end the run.
process.on('unhandledRejection', (e) => {
  if (process.env.DEBUG) console.error('unhandledRejection', e);
});
process.on('uncaughtException', (e) => {
  if (process.env.DEBUG) console.error('uncaughtException', e);
});
// Interrupted: stop the broker this run started (bounded), then exit.
let running = null;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    console.error(`${signal}: stopping ${running?.name ?? 'nothing'}`);
    void Promise.resolve(running?.stop()).finally(() => process.exit(130));
  });
}

async function serverInfo(amqp, port) {
  const connection = await within(amqp.connect(`amqp://guest:guest@127.0.0.1:${port}/%2F`), 5000, 'connect');
  const { product, version, capabilities } = connection.connection.serverProperties;
  await within(connection.close(), 3000, 'close').catch(() => {});
  return { product, version, capabilities };
}

async function runSweep(sweep, broker, lib, scenarios) {
  const selected = scenarios.filter((s) => !only || only.test(s.name));
  const started = flags.port ? null : await startBroker(broker, path.join(dir, sweep));
  running = started;
  const port = started ? started.amqpPort : Number(flags.port);
  const log = fs.createWriteStream(path.join(dir, sweep, `run-${broker}.log`));
  const t0 = Date.now();
  let threw = 0;
  try {
    console.log(`${sweep} on ${broker} (127.0.0.1:${port}${started ? `, log ${started.log}` : ''}): ${selected.length} scenarios`);
    const results = { broker, server: await serverInfo(lib.amqp, port), scenarios: {} };
    for (const [i, s] of selected.entries()) {
      const ctx = lib.newContext(port);
      const t1 = Date.now();
      let outcome;
      try {
        outcome = { value: await within(s.fn(ctx), SCENARIO_MS, s.name) };
      } catch (error) {
        outcome = { error };
        threw++;
      }
      const { record, line } = await lib.recordOf(ctx, outcome);
      results.scenarios[s.name] = record;
      const text = `[${sweep}/${broker}] ${s.name} ${Date.now() - t1}ms ${line}\n`;
      log.write(text);
      if (flags.progress) process.stdout.write(text);
      else if ((i + 1) % 25 === 0) console.log(`  ${i + 1}/${selected.length}`);
    }
    const file = resultsFile(dir, sweep, broker);
    if (only && fs.existsSync(file)) results.scenarios = { ...JSON.parse(fs.readFileSync(file, 'utf8')).scenarios, ...results.scenarios };
    fs.writeFileSync(file, JSON.stringify(results, null, 1));
    console.log(`${sweep} on ${broker}: done in ${Math.round((Date.now() - t0) / 1000)} s, ${threw} scenarios threw; ${file}`);
  } finally {
    log.end();
    if (started) {
      await started.stop();
      console.log(`${broker} stopped`);
    }
    running = null;
  }
}

let failed = false;
try {
  for (const sweep of sweeps) {
    fs.mkdirSync(path.join(dir, sweep), { recursive: true });
    const lib = await import(`./${sweep}/lib.mjs`);
    const { scenarios } = await import(`./${sweep}/scenarios.mjs`);
    for (const broker of brokers) {
      try {
        await runSweep(sweep, broker, lib, scenarios);
      } catch (error) {
        console.error(`${sweep} on ${broker} failed: ${error.stack ?? error}`);
        failed = true;
      }
    }
  }
  for (const sweep of sweeps) await compareSweep(dir, sweep, flags);
} catch (error) {
  console.error(error);
  failed = true;
}
console.log(`\nresults and logs: ${dir}`);
process.exit(failed ? 1 : 0);
