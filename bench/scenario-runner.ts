/**
 * The shared driver of Ferry's macro benchmarks: parses `--quick` and
 * `--scenario a,b`, runs each chosen scenario in its own temporary directory
 * (removed afterwards, and on SIGINT/SIGTERM), and prints one JSON line per
 * scenario on stdout; progress and failures go to stderr.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** What a scenario gets: the size to run at and its own directory. */
export interface ScenarioSettings {
  readonly quick: boolean;
  readonly directory: string;
}

/** One benchmark scenario: its name, its work, and how its result meets its target. */
export interface BenchScenario {
  readonly name: string;
  run(settings: ScenarioSettings): Promise<Record<string, unknown>>;
  /** The target in words, printed with the result. */
  readonly target: string;
  /** Whether the full-size result meets the target; null when it cannot be judged (a reference it compares with was not measured). */
  met(fields: Record<string, unknown>): boolean | null;
}

/** Progress for the human watching, on stderr: stdout is reserved for result lines. */
export function progress(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

/** `value` rounded to `digits` decimals, for result lines. */
export function round(value: number, digits = 3): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/** The `fraction` quantile of `values` (sorted in place); NaN when there are none. */
export function quantile(values: Float64Array, fraction: number): number {
  if (values.length === 0) return Number.NaN;
  values.sort();
  return values[Math.min(values.length - 1, Math.floor(fraction * values.length))]!;
}

/** A Float64Array that grows, for per-message samples without boxing. */
export class SampleBuffer {
  private samples = new Float64Array(1 << 16);
  length = 0;

  push(value: number): void {
    if (this.length === this.samples.length) {
      const grown = new Float64Array(this.samples.length * 2);
      grown.set(this.samples);
      this.samples = grown;
    }
    this.samples[this.length++] = value;
  }

  /** Sample `index`. */
  at(index: number): number {
    return this.samples[index]!;
  }

  /** The samples so far, as a view (sorting it sorts the buffer). */
  view(): Float64Array {
    return this.samples.subarray(0, this.length);
  }

  clear(): void {
    this.length = 0;
  }
}

/** Bytes that differ a little from position to position, so nothing compresses them away. */
export function patternBytes(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + seed * 7) & 0xff;
  return bytes;
}

/** Runs the scenarios `argv` asks for (all by default); sets a non-zero exit code when one fails. */
export async function runScenarios(benchmark: string, scenarios: readonly BenchScenario[], argv: readonly string[]): Promise<void> {
  const usage = (): never => {
    process.stderr.write(`usage: node dist/bench/${benchmark}.bench.js [--quick] [--scenario ${scenarios.map((scenario) => scenario.name).join('|')}[,...]]\n`);
    process.exit(2);
  };
  let quick = false;
  const wanted = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const argument = argv[i]!;
    if (argument === '--quick') quick = true;
    else if (argument === '--scenario' && argv[i + 1]) for (const name of argv[++i]!.split(',')) wanted.add(name);
    else usage();
  }
  for (const name of wanted) if (!scenarios.some((scenario) => scenario.name === name)) usage();
  const chosen = scenarios.filter((scenario) => wanted.size === 0 || wanted.has(scenario.name));

  const root = fs.mkdtempSync(path.join(os.tmpdir(), `ferry-${benchmark}-bench-`));
  const cleanUp = (): void => fs.rmSync(root, { recursive: true, force: true });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      cleanUp();
      process.exit(130);
    });
  }
  let failed = false;
  try {
    for (const scenario of chosen) {
      const directory = path.join(root, scenario.name);
      fs.mkdirSync(directory);
      progress(`${scenario.name}: running${quick ? ' (quick)' : ''}`);
      const startMs = performance.now();
      try {
        const fields = await scenario.run({ quick, directory });
        const line = { scenario: scenario.name, cores: os.availableParallelism(), quick, ...fields, target: scenario.target, met: quick ? null : scenario.met(fields) };
        process.stdout.write(`${JSON.stringify(line)}\n`);
      } catch (error) {
        failed = true;
        progress(`${scenario.name}: FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      } finally {
        fs.rmSync(directory, { recursive: true, force: true });
        progress(`${scenario.name}: done in ${((performance.now() - startMs) / 1000).toFixed(1)} s`);
      }
    }
  } finally {
    cleanUp();
  }
  if (failed) process.exitCode = 1;
}

/**
 * A numeric bound on one field of a scenario's result. `field` may be a dotted
 * path into nested objects (`ratio.msgsPerSec`); a value of null there means
 * "not measured", which leaves the target unjudged rather than missed.
 */
export interface Target {
  readonly field: string;
  readonly atLeast?: number;
  readonly atMost?: number;
}

/** The value at dotted `path` in `fields`; undefined when a step is missing. */
function valueAt(fields: Record<string, unknown>, path: string): unknown {
  let value: unknown = fields;
  for (const step of path.split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[step];
  }
  return value;
}

/**
 * A scenario whose target is a list of bounds that must all hold: met is false
 * when one fails, null when none fails but one is not measured, true otherwise.
 */
export function scenarioWithTargets(name: string, targets: readonly Target[], run: BenchScenario['run']): BenchScenario {
  return {
    name,
    run,
    target: targets.map((target) => (target.atLeast !== undefined ? `${target.field} >= ${target.atLeast}` : `${target.field} <= ${target.atMost}`)).join(', '),
    met: (fields) => {
      let judged = true;
      for (const target of targets) {
        const value = valueAt(fields, target.field);
        if (value === null) {
          judged = false;
          continue;
        }
        if (typeof value !== 'number') return false;
        if (target.atLeast !== undefined && value < target.atLeast) return false;
        if (target.atMost !== undefined && value > target.atMost) return false;
      }
      return judged ? true : null;
    },
  };
}
