/**
 * CPU time and resident memory of another process, read from Linux's /proc,
 * so a benchmark can charge a broker running in its own process (Ferry's
 * node, RabbitMQ's beam.smp) for the work it did: sample before and after a
 * run and subtract.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';

/** What a process has used so far: CPU over its whole life, memory now. */
export interface ProcessUsage {
  /** User plus system CPU time of every thread, in seconds (10 ms resolution on most kernels). */
  readonly cpuSeconds: number;
  /** Resident set size now, in bytes. */
  readonly rssBytes: number;
}

let clockTicksPerSecond: number | null = null;

/** The kernel's USER_HZ, the unit of /proc/<pid>/stat times (100 unless `getconf` says otherwise). */
function ticksPerSecond(): number {
  if (clockTicksPerSecond === null) {
    try {
      clockTicksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicksPerSecond = 100;
    }
  }
  return clockTicksPerSecond;
}

/** The usage of process `pid`; throws when it does not exist (or this is not Linux). */
export function processUsage(pid: number): ProcessUsage {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // proc(5): "pid (comm) state ppid ..."; comm may hold spaces and parentheses, so split after the last ')'.
  // Fields from state on: state is field 3, utime field 14, stime field 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[14 - 3]) + Number(fields[15 - 3]);
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKiB = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1] ?? Number.NaN);
  return { cpuSeconds: ticks / ticksPerSecond(), rssBytes: rssKiB * 1024 };
}
