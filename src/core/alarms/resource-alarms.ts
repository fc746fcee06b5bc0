import type { Clock, TimerHandle } from '../../platform/clock.js';
import type { ResourceProbe } from '../../platform/resource-probe.js';

/** The alarms the broker raises. */
export type AlarmKind = 'memory' | 'disk';

/** Watermarks and how often they are checked; each has a default and a config key. */
export interface AlarmSettings {
  /** Publishers are blocked while the process uses more memory than this. */
  readonly memoryHighWatermarkBytes: number;
  /** Publishers are blocked while the data directory's disk has less free space than this. */
  readonly diskFreeLimitBytes: number;
  readonly checkIntervalMs: number;
}

/** Defaults of {@link AlarmSettings}: 4 GiB of memory, 1 GiB of free disk, checked every second. */
export const ALARM_DEFAULTS: AlarmSettings = {
  memoryHighWatermarkBytes: 4 * 1024 ** 3,
  diskFreeLimitBytes: 50 * 1024 ** 2,
  checkIntervalMs: 1_000,
};

/**
 * Memory and disk alarms. While any alarm is on, publishing is blocked:
 * front ends stop reading from publishing connections (AMQP sends
 * connection.blocked) and the embedded API waits in `whenClear()`. Consumers
 * keep running, which is what clears a memory alarm.
 */
export class ResourceAlarms {
  private readonly active = new Set<AlarmKind>();
  private readonly listeners = new Set<(active: ReadonlySet<AlarmKind>) => void>();
  private waiters: Array<() => void> = [];
  private timer: TimerHandle | null = null;
  private stopped = false;

  constructor(
    private readonly probe: ResourceProbe,
    private readonly clock: Clock,
    private readonly dataDirectory: string | null,
    readonly settings: AlarmSettings = ALARM_DEFAULTS,
  ) {}

  /** Starts periodic checks (the first one runs now). */
  async start(): Promise<void> {
    await this.check();
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.clock.setTimer(this.settings.checkIntervalMs, () => {
      void this.check().finally(() => this.schedule());
    });
  }

  /** Reads the probe once and raises or clears alarms. */
  async check(): Promise<void> {
    this.set('memory', this.probe.memoryUsedBytes() > this.settings.memoryHighWatermarkBytes);
    if (this.dataDirectory !== null) {
      try {
        this.set('disk', (await this.probe.diskFreeBytes(this.dataDirectory)) < this.settings.diskFreeLimitBytes);
      } catch {
        // The disk cannot be read: keep the last state; storage errors surface on their own.
      }
    }
  }

  private set(kind: AlarmKind, on: boolean): void {
    if (on === this.active.has(kind)) return;
    if (on) this.active.add(kind);
    else this.active.delete(kind);
    for (const listener of this.listeners) listener(this.active);
    if (this.active.size === 0) {
      const waiters = this.waiters;
      this.waiters = [];
      for (const wake of waiters) wake();
    }
  }

  /** Alarms now on. */
  activeAlarms(): ReadonlySet<AlarmKind> {
    return this.active;
  }

  /** True while publishing is blocked. */
  blocked(): boolean {
    return this.active.size > 0;
  }

  /** Resolves at once when no alarm is on, else when the last one clears. */
  whenClear(): Promise<void> {
    if (this.active.size === 0 || this.stopped) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Calls `listener` whenever the set of active alarms changes; returns an unsubscribe function. */
  onChange(listener: (active: ReadonlySet<AlarmKind>) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stops checking and releases every waiter. */
  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}
