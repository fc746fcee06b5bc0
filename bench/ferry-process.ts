/**
 * `ferry serve` in its own process for benchmarks that compare brokers over
 * the wire: its CPU time and memory are then its own (see process-usage.ts),
 * not mixed with the clients'. Start it with {@link FerryProcess.start}, stop
 * it with `stop()`; it binds only 127.0.0.1, on free ports.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { OwnedProcess } from './owned-process.js';

/** How long `ferry serve` may take to print its AMQP address. */
const START_TIMEOUT_MS = 30_000;
/** How long a graceful shutdown may take before the process is killed. */
const STOP_TIMEOUT_MS = 15_000;

/** What to start Ferry with beyond the defaults (durability `always`). */
export interface FerryProcessOptions {
  /** The data directory (created by Ferry). */
  readonly dataDirectory: string;
  /** More `ferry serve` flags, such as `['--connections-max', '20000']`. */
  readonly flags?: readonly string[];
  /** Node flags for the broker process, such as `['--cpu-prof', '--cpu-prof-dir', DIR]`. */
  readonly nodeFlags?: readonly string[];
  /** Listeners to wait for (their ports are in `ports`); default `['amqp']`. */
  readonly listeners?: readonly string[];
}

/**
 * The Node flags on the `#!` line of bin/ferry.js (`#!/usr/bin/env -S node FLAGS`): the
 * broker is measured as `npx ferry serve` runs it.
 */
export function serverNodeFlags(): string[] {
  const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'ferry.js');
  const first = readFileSync(bin, 'utf8').split('\n', 1)[0]!;
  const match = /^#!\/usr\/bin\/env (?:-S )?node((?: --\S+)*)$/.exec(first);
  if (!match) throw new Error(`${bin}: a first line of "#!/usr/bin/env -S node [flags]" was expected, not "${first}"`);
  return match[1]!.split(' ').filter((flag) => flag !== '');
}

/** A running `ferry serve` process. */
export class FerryProcess {
  readonly name = 'ferry';

  private constructor(
    private readonly process: OwnedProcess,
    /** The port of each listener waited for (`amqp`, `http`, `native`), on 127.0.0.1. */
    readonly ports: ReadonlyMap<string, number>,
  ) {}

  /** The AMQP port it listens on, on 127.0.0.1. */
  get amqpPort(): number {
    return this.port('amqp');
  }

  /** The port of listener `protocol` (one of `listeners` given to start). */
  port(protocol: string): number {
    const port = this.ports.get(protocol);
    if (port === undefined) throw new Error(`ferry was not started waiting for its ${protocol} listener`);
    return port;
  }

  /** The pid whose CPU time and memory are the broker's. */
  get pid(): number {
    return this.process.pid;
  }

  /** Starts `ferry serve` (the CLI of the compiled tree this file belongs to) and resolves once the listeners asked for are bound. */
  static async start(options: FerryProcessOptions): Promise<FerryProcess> {
    // This file runs as <tree>/bench/ferry-process.js: run the CLI of the same compiled tree
    // (what bin/ferry.js does for dist/), so a benchmark built elsewhere measures its own broker.
    const cli = pathToFileURL(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js')).href;
    const entry = `const { main } = await import(${JSON.stringify(cli)}); process.exitCode = await main(process.argv.slice(1)); setTimeout(() => process.exit(process.exitCode), 2000).unref();`;
    const args = [
      ...serverNodeFlags(),
      ...(options.nodeFlags ?? []),
      '--input-type=module',
      '-e',
      entry,
      'serve',
      '--data-dir', options.dataDirectory,
      '--host', '127.0.0.1',
      '--amqp-port', '0',
      '--http-port', '0',
      '--native-port', '0',
      '--log-level', 'warn',
      ...(options.flags ?? []),
    ];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    const owned = new OwnedProcess(child, 'ferry');
    try {
      const wanted = new Set(options.listeners ?? ['amqp']);
      const ports = await new Promise<Map<string, number>>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`ferry printed no ${[...wanted].join(' / ')} address within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
        void owned.exited.then((exit) => reject(new Error(`ferry exited while starting (code ${exit.code}, signal ${exit.signal})`)));
        const lines = createInterface({ input: child.stdout! });
        const found = new Map<string, number>();
        lines.on('line', (line) => {
          // The CLI prints one line per listener once ready: `ferry: amqp listening on amqp://127.0.0.1:PORT`.
          const match = /^ferry: (\w+) listening on \w+:\/\/[^ ]*:(\d+)$/.exec(line);
          if (match && wanted.has(match[1]!)) found.set(match[1]!, Number(match[2]));
          if (found.size === wanted.size) {
            clearTimeout(timer);
            resolve(found);
          }
        });
      });
      return new FerryProcess(owned, ports);
    } catch (error) {
      await owned.stop(STOP_TIMEOUT_MS);
      throw error;
    }
  }

  /** Graceful shutdown (SIGTERM), killed if it takes longer than 15 s. */
  async stop(): Promise<void> {
    await this.process.stop(STOP_TIMEOUT_MS);
  }
}
