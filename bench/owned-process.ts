/**
 * A child process a benchmark started and must not leave behind: `stop()`
 * asks it to end (SIGTERM to its pid, or to a descendant such as RabbitMQ's
 * beam.smp under its start script) and kills it after a bounded wait; should
 * the benchmark exit any other way (an error, SIGINT), every process still
 * running is killed with SIGKILL from a process 'exit' handler. Processes are
 * only ever signalled by the pids recorded here.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/** How a process ended: its exit code, or the signal that ended it. */
export interface ProcessExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A started child process, tracked until it exits. */
export class OwnedProcess {
  private static readonly running = new Set<OwnedProcess>();
  private static exitHookInstalled = false;

  /** Resolves once the process has exited (never rejects). */
  readonly exited: Promise<ProcessExit>;
  /** Descendant pids (such as beam.smp) that an emergency kill must reach too. */
  readonly descendantPids: number[] = [];
  private exit: ProcessExit | null = null;

  /** Tracks `child`, which must have been spawned just now (so its 'exit' cannot have been missed). */
  constructor(
    readonly child: ChildProcess,
    /** For messages: `ferry`, `rabbitmq`, `epmd`, `client 1`. */
    readonly name: string,
  ) {
    // Without a listener, a failed kill or spawn would crash the benchmark with an 'error' event.
    child.on('error', (error) => process.stderr.write(`[bench] ${name}: ${error.message}\n`));
    if (child.pid === undefined) throw new Error(`${name}: the process did not start`);
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        OwnedProcess.running.delete(this);
        resolve(this.exit);
      });
    });
    OwnedProcess.running.add(this);
    if (!OwnedProcess.exitHookInstalled) {
      OwnedProcess.exitHookInstalled = true;
      process.once('exit', () => OwnedProcess.killAll());
    }
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** How it ended, or null while it runs. */
  get exitStatus(): ProcessExit | null {
    return this.exit;
  }

  /**
   * Sends SIGTERM to `signalPid` (default: the process itself) and waits up to
   * `timeoutMs` for the process to exit; then kills it and its recorded
   * descendants with SIGKILL and waits for that. Resolves with how it ended.
   */
  async stop(timeoutMs: number, signalPid: number = this.pid): Promise<ProcessExit> {
    if (this.exit !== null) return this.exit;
    signal(signalPid, 'SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      this.exited.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), timeoutMs))),
    ]).finally(() => clearTimeout(timer));
    if (timedOut) {
      process.stderr.write(`[bench] ${this.name} (pid ${this.pid}) did not stop within ${timeoutMs} ms: killing it\n`);
      this.kill();
    }
    return this.exited;
  }

  /** SIGKILL to the recorded descendants and the process, now. */
  kill(): void {
    for (const pid of this.descendantPids) signal(pid, 'SIGKILL');
    if (this.exit === null) signal(this.pid, 'SIGKILL');
  }

  /** Kills every tracked process still running (the process 'exit' hook). */
  static killAll(): void {
    for (const owned of OwnedProcess.running) owned.kill();
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Already gone.
  }
}

/**
 * Starts `node <nodeArguments>` (a script, or `-e` and source) whose first line on stdout is the
 * port it listens on; resolves with the port once that line is out, rejects if it exits first.
 */
export async function startBareServer(name: string, nodeArguments: readonly string[]): Promise<{ port: number; process: OwnedProcess }> {
  const child = spawn(process.execPath, nodeArguments, { stdio: ['ignore', 'pipe', 'inherit'] });
  const owned = new OwnedProcess(child, name);
  const port = await new Promise<number>((resolve, reject) => {
    void owned.exited.then(() => reject(new Error(`the ${name} exited while starting`)));
    createInterface({ input: child.stdout! }).once('line', (text) => resolve(Number(text)));
  });
  return { port, process: owned };
}
