/**
 * Runs a crash-test child process and, optionally, kills it with SIGKILL a
 * given time after it printed a chosen line. Complete lines only are
 * returned: a line cut by the kill is dropped, as it may be partial. Children
 * print with report-synchronously.ts, so every complete line was true.
 */
import { spawn, type ChildProcess } from 'node:child_process';

/** What a child printed and how it ended. */
export interface ChildRun {
  readonly lines: readonly string[];
  readonly killed: boolean;
  readonly exitCode: number | null;
  readonly stderr: string;
}

/** Options of {@link runChild}. */
export interface ChildRunOptions {
  /** Kill this long after `startKillTimerOn` matched a line (or after the start when it is absent). */
  readonly killAfterMs?: number;
  readonly startKillTimerOn?: (line: string) => boolean;
  /** A child still running after this long is killed and the run rejects. */
  readonly timeoutMs: number;
}

/** Children still running, killed by {@link killRunningChildren} (call it from an `after` hook). */
const running = new Set<ChildProcess>();

export function killRunningChildren(): void {
  for (const child of running) if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
}

/** Runs `node <path> ...args` until it exits or is killed as `options` says. */
export function runChild(path: string, args: readonly string[], options: ChildRunOptions): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    const lines: string[] = [];
    let pending = '';
    let stderr = '';
    let killTimer: NodeJS.Timeout | undefined;
    let timedOut = false;
    const kill = (): void => {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
    };
    const armKill = (): void => {
      if (killTimer === undefined && options.killAfterMs !== undefined) killTimer = setTimeout(kill, options.killAfterMs);
    };
    if (options.startKillTimerOn === undefined) armKill();
    const timeout = setTimeout(() => {
      timedOut = true;
      kill();
    }, options.timeoutMs);
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      pending += chunk;
      const complete = pending.split('\n');
      pending = complete.pop()!;
      for (const line of complete) {
        lines.push(line);
        if (options.startKillTimerOn?.(line)) armKill();
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      running.delete(child);
      clearTimeout(timeout);
      clearTimeout(killTimer);
      if (timedOut) reject(new Error(`child ${path} ran longer than ${options.timeoutMs} ms; stderr: ${stderr}`));
      else resolve({ lines, killed: signal === 'SIGKILL', exitCode: code, stderr });
    });
  });
}
