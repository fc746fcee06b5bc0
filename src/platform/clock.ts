/** A cancellable timer returned by {@link Clock.setTimer}. */
export interface TimerHandle {
  cancel(): void;
}

/**
 * Time as core and storage see it. Inject a {@link SystemClock} in production
 * and a `ManualClock` in tests and simulation, so that TTLs, delays and
 * flush intervals replay exactly.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch (wall time, may jump). */
  nowMs(): number;
  /** Milliseconds on a clock that never goes backwards (for intervals). */
  monotonicMs(): number;
  /**
   * Runs `callback` once after `delayMs`; the handle cancels it. With `keepAlive`, a real
   * clock's timer keeps the process running until then (work somebody may be waiting for).
   */
  setTimer(delayMs: number, callback: () => void, options?: { readonly keepAlive?: boolean }): TimerHandle;
  /**
   * Runs `callback` after the current burst of work (Node's setImmediate):
   * later than promise continuations, before any timer. Group commit uses it
   * to gather every append made in the same turn of the event loop.
   */
  runSoon(callback: () => void): void;
}

/** The real clock, backed by Node's timers. Timers do not keep the process alive, unless asked to. */
export class SystemClock implements Clock {
  nowMs(): number {
    return Date.now();
  }

  monotonicMs(): number {
    return performance.now();
  }

  setTimer(delayMs: number, callback: () => void, options?: { readonly keepAlive?: boolean }): TimerHandle {
    const timer = setTimeout(callback, Math.max(0, delayMs));
    if (options?.keepAlive !== true) timer.unref();
    return { cancel: () => clearTimeout(timer) };
  }

  runSoon(callback: () => void): void {
    setImmediate(callback);
  }
}

/**
 * A clock that moves only when told. `advance(ms)` fires due timers in time
 * order, so a seeded simulation replays identically.
 */
export class ManualClock implements Clock {
  private wallMs: number;
  private elapsedMs = 0;
  private sequence = 0;
  private readonly timers = new Map<number, { dueMs: number; callback: () => void }>();

  constructor(startWallMs = 1_700_000_000_000) {
    this.wallMs = startWallMs;
  }

  nowMs(): number {
    return this.wallMs + this.elapsedMs;
  }

  monotonicMs(): number {
    return this.elapsedMs;
  }

  setTimer(delayMs: number, callback: () => void): TimerHandle {
    const id = this.sequence++;
    this.timers.set(id, { dueMs: this.elapsedMs + Math.max(0, delayMs), callback });
    return { cancel: () => void this.timers.delete(id) };
  }

  runSoon(callback: () => void): void {
    // No time passes: the callback runs once pending promise continuations have.
    void Promise.resolve().then(() => Promise.resolve()).then(callback);
  }

  /** Moves time forward by `ms`, firing every timer that falls due, earliest first. */
  advance(ms: number): void {
    const targetMs = this.elapsedMs + ms;
    for (;;) {
      let nextId = -1;
      let nextDueMs = Infinity;
      for (const [id, timer] of this.timers) {
        if (timer.dueMs <= targetMs && timer.dueMs < nextDueMs) {
          nextId = id;
          nextDueMs = timer.dueMs;
        }
      }
      if (nextId < 0) break;
      const timer = this.timers.get(nextId)!;
      this.timers.delete(nextId);
      this.elapsedMs = Math.max(this.elapsedMs, timer.dueMs);
      timer.callback();
    }
    this.elapsedMs = targetMs;
  }

  /** Jumps wall time (not monotonic time), as an NTP correction would. */
  jumpWall(ms: number): void {
    this.wallMs += ms;
  }

  /** Number of timers not yet fired or cancelled. */
  pendingTimerCount(): number {
    return this.timers.size;
  }
}
