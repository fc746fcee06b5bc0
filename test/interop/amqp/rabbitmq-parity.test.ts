/**
 * Ferry against RabbitMQ's recorded answers: the two conformance sweeps of
 * scripts/conformance (amqplib scenarios on errors and on message semantics)
 * run against a real `ferry serve --memory`, and what Ferry answers is compared
 * with what RabbitMQ 3.10.8 answered to the same scenarios (recorded in
 * scripts/conformance/recorded). Every difference must be one listed, with its
 * reason, in scripts/conformance/known-differences.json, and every listed one
 * must still differ, so a change that brings Ferry closer to RabbitMQ updates
 * the list and one that moves it away fails here. Reply texts are compared too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const CONFORMANCE = fileURLToPath(new URL('../../../../scripts/conformance/', import.meta.url));
const RECORDED = join(CONFORMANCE, 'recorded', 'rabbitmq-3.10.8');
/** Both sweeps take about a minute on Ferry; the bound is for a loaded CI machine. */
const SWEEPS_TIMEOUT_MS = 6 * 60_000;

interface Results {
  readonly scenarios: Record<string, unknown>;
}
interface Comparison {
  readonly total: number;
  readonly matched: number;
  readonly differing: readonly string[];
  readonly textsDiffering?: readonly string[];
}
type Compare = (rabbitmq: Results, ferry: Results, options: { quiet: boolean; texts?: boolean }) => Comparison;

interface KnownDifferences {
  readonly rabbitmq: string;
  readonly errors: Record<string, string>;
  readonly semantics: Record<string, string>;
}

const readJson = <T>(file: string): T => JSON.parse(readFileSync(file, 'utf8')) as T;

/** Runs both sweeps against a Ferry that run.mjs starts (and stops) itself; resolves with its output. */
function runSweeps(out: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(CONFORMANCE, 'run.mjs'), 'all', '--broker', 'ferry', '--out', out], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (data: Buffer) => (output += data.toString()));
    child.stderr.on('data', (data: Buffer) => (output += data.toString()));
    const timer = setTimeout(() => child.kill('SIGTERM'), SWEEPS_TIMEOUT_MS);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(output);
      else reject(new Error(`the sweeps exited with ${String(code)}:\n${output}`));
    });
  });
}

async function comparatorOf(sweep: string): Promise<Compare> {
  const module = (await import(pathToFileURL(join(CONFORMANCE, sweep, 'compare.mjs')).href)) as { compare: Compare };
  return module.compare;
}

test('Ferry answers the conformance scenarios as RabbitMQ 3.10.8 did, but for the known differences', { timeout: SWEEPS_TIMEOUT_MS + 60_000 }, async () => {
  const known = readJson<KnownDifferences>(join(CONFORMANCE, 'known-differences.json'));
  const out = mkdtempSync(join(tmpdir(), 'ferry-parity-'));
  try {
    const output = await runSweeps(out);
    for (const sweep of ['errors', 'semantics'] as const) {
      const rabbitmq = readJson<Results & { server: { version: string } }>(join(RECORDED, `${sweep}.json`));
      assert.equal(rabbitmq.server.version, known.rabbitmq, 'the recording is of the RabbitMQ the list speaks of');
      const ferry = readJson<Results>(join(out, sweep, 'results-ferry.json'));
      assert.deepEqual(Object.keys(ferry.scenarios).sort(), Object.keys(rabbitmq.scenarios).sort(), `${sweep}: every recorded scenario ran (${output.slice(-2000)})`);
      const comparison = (await comparatorOf(sweep))(rabbitmq, ferry, { quiet: true, texts: true });
      const expected = Object.keys(known[sweep]).sort();
      assert.deepEqual([...comparison.differing].sort(), expected, `${sweep}: differences from RabbitMQ (run node scripts/conformance/compare.mjs --out ${out} ${sweep} to see them)`);
      assert.ok(comparison.matched > 0 && comparison.matched + expected.length === comparison.total, `${sweep}: ${comparison.matched} of ${comparison.total} match`);
      if (comparison.textsDiffering) {
        const unexplained = comparison.textsDiffering.filter((name) => !(name in known[sweep]));
        assert.deepEqual(unexplained, [], `${sweep}: reply texts differ from RabbitMQ's where nothing else does`);
      }
    }
    rmSync(out, { recursive: true, force: true });
  } catch (error) {
    // The results and Ferry's log stay for a look; the message names the directory.
    throw new Error(`${(error as Error).message}\n(results kept in ${out})`, { cause: error });
  }
});
