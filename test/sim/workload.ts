import type { SeededRandom } from '../../src/platform/random.js';
import type { ManualClock } from '../../src/platform/clock.js';
import type { Broker } from '../../src/server/broker.js';

/** How an operation issued to the broker ended, as its client saw it. */
export type Outcome<T> =
  | { readonly kind: 'resolved'; readonly value: T }
  | { readonly kind: 'rejected'; readonly error: unknown }
  /** No reply: the broker crashed first (a resolution after the crash does not count, as the client is gone). */
  | { readonly kind: 'unknown' };

/** An error as a failure message shows it. */
export function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** An operation in progress, whose outcome is recorded as it lands. */
export interface Tracked<T> {
  readonly promise: Promise<unknown>;
  outcome(): Outcome<T>;
}

/** How a broker process ended before a restart. */
export type StopKind = 'clean' | 'power-loss' | 'kill';

/** What the simulation loop gives its workloads. */
export interface SimulationContext {
  readonly random: SeededRandom;
  /** The running broker (a new one after every restart). */
  broker(): Broker;
  /** The running broker's clock (a new one after every restart). */
  clock(): ManualClock;
  /** Operations issued so far: a logical time for order checks. */
  tick(): number;
  /** Bumped at every restart; callbacks of an older broker compare it to know they are stale. */
  incarnation(): number;
  /** True while the loop advances the clock (timers such as session expiry may fire only then). */
  advancingClock(): boolean;
  /** Throws a SimulationFailure that names the seed and step. */
  fail(message: string): never;
  /** Records the outcome of `promise` as its client would see it. */
  track<T>(promise: Promise<T>): Tracked<T>;
  /**
   * Waits for the operations to end, or, when the dice say so (with
   * `crashProbability`, default a few percent), lets them run for a random
   * number of turns and crashes the broker (power loss or kill -9) part-way,
   * restarting it before returning. Resolves with true after a crash.
   */
  settle(operations: readonly Tracked<unknown>[], crashProbability?: number): Promise<boolean>;
  /** Counts an event for the summary. */
  count(counter: string, by?: number): void;
  /** Notes what happens, for a replay with tracing on (SIM_TRACE=1). */
  trace(line: string): void;
}

/**
 * One family of operations of the simulation (queues, streams, groups,
 * transactions) with its reference model. The loop calls `step` when the
 * dice pick it, the restart hooks around every restart, `finish` at the end.
 */
export interface Workload {
  /** Declares what the workload uses, on the first broker. */
  declare(): Promise<void>;
  /** Runs one random operation and checks its outcome against the model. */
  step(): Promise<void>;
  /** The broker is about to stop: detach consumers (synchronously). */
  beforeStop(kind: StopKind): void;
  /** A new broker runs (recovery done): reset in-memory state, check what survived. */
  afterRestart(kind: StopKind): Promise<void>;
  /** Drains and checks the final state. */
  finish(): Promise<void>;
}
