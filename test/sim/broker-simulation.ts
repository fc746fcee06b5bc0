/**
 * Deterministic simulation of the broker: a seeded random mix of queue,
 * stream, consumer-group and transaction operations, clean restarts, power
 * losses (SimulatedFileSystem.crash) and kill -9 (crashAfterKill) between
 * operations or part-way through one, and clock jumps, checked against
 * reference models. The same seed replays the same run exactly.
 *
 * The workloads and what they check:
 * - queues (QueueWorkload): no confirmed message lost, no acked one redelivered, order, priorities, FIFO groups, deduplication;
 * - streams (StreamWorkload, StreamModel): idempotent producers' retries after a lost reply are stored exactly once,
 *   every partition reads in order with offsets that never change, confirmed appends are durable;
 * - consumer groups (ConsumerGroupWorkload, GroupMembership): one holder per partition through joins, leaves and
 *   revocations, committed offsets never go backwards and survive crashes once confirmed;
 * - share groups (ShareGroupWorkload): deliveries match the stream, acked records never come back, none is skipped;
 * - transactions (TransactionWorkload): all of a transaction or none of it, before or after a crash; aborted ones
 *   leave no trace; exactly-once consume-transform-produce from a queue and from a stream.
 */
import { testPasswordHasher } from '../../src/core/test-broker.js';
import { ManualClock } from '../../src/platform/clock.js';
import type { ResourceProbe } from '../../src/platform/resource-probe.js';
import { SeededRandom } from '../../src/platform/random.js';
import { SimulatedFileSystem } from '../../src/platform/simulated-file-system.js';
import { Broker } from '../../src/server/broker.js';
import { ConsumerGroupWorkload } from './consumer-group-workload.js';
import { QueueWorkload } from './queue-workload.js';
import { ShareGroupWorkload } from './share-group-workload.js';
import { SimulationFailure } from './simulation-failure.js';
import { StreamModel } from './stream-model.js';
import { EVENTS_PARTITIONS, EVENTS_STREAM, StreamWorkload } from './stream-workload.js';
import { OUTPUT_STREAM, OUTPUT_STREAM_PARTITIONS, TransactionWorkload } from './transaction-workload.js';
import type { Outcome, SimulationContext, StopKind, Tracked, Workload } from './workload.js';

export { SimulationFailure } from './simulation-failure.js';

/** What a run did, by counter (`published`, `delivered`, `crashes`, `transactionsCommitted`, ...). */
export type SimulationResult = { readonly published: number; readonly delivered: number; readonly crashes: number } & Readonly<Record<string, number>>;

/** The host's memory and disk stay out of the run: no alarm ever blocks, whatever machine replays it. */
const PLENTY: ResourceProbe = { memoryUsedBytes: () => 0, diskFreeBytes: () => Promise.resolve(Number.MAX_SAFE_INTEGER) };

/** Probability that an operation which can be cut short is cut by a crash. */
const CRASH_DURING_OPERATION_PROBABILITY = 0.04;
/** Most promise continuations an operation runs before such a crash (an append takes about 15, a commit about 70). */
const CRASH_TURNS_MAX = 90;

/** Options of {@link simulate}. */
export interface SimulationOptions {
  /** Told what happens at each step (restarts, crashes, operations), to read a failure's story. */
  readonly trace?: (line: string) => void;
}

/** Store thresholds small enough for a few messages to reach them (see simulate). */
const SMALL_GROUP_TUNING = { directWriteBytesMin: 512, groupStartBytes: 1024 } as const;
/**
 * Lazy acks (and first deliveries) held even with one queue waiting, until the clock moves 50 ms
 * or something hurries their queue's batch: every fourth seed, so crashes meet acks held back.
 */
const DEFERRED_ACK_TUNING = { deferredGatherersMin: 1, deferredGatherMsMax: 50 } as const;

/** Runs one seeded simulation of `steps` operations; throws SimulationFailure on a broken invariant. */
export async function simulate(seed: number, steps = 300, options: SimulationOptions = {}): Promise<SimulationResult> {
  const random = new SeededRandom(seed);
  const fileSystem = new SimulatedFileSystem();
  let clock = new ManualClock();
  let step = 0;
  let tick = 0;
  let incarnation = 0;
  let advancingClock = false;
  const counters = new Map<string, number>([
    ['published', 0],
    ['delivered', 0],
    ['crashes', 0],
  ]);
  // Odd seeds shrink the store's group thresholds, so that the simulation's small batches take
  // the large-group paths too: straight to their segment files, and group writes started early.
  const storage = { storage: { ...(seed % 2 === 1 ? SMALL_GROUP_TUNING : {}), ...(seed % 4 >= 2 ? DEFERRED_ACK_TUNING : {}) } };
  const start = () => Broker.start({ dataDir: 'data', fileSystem, clock, durability: 'always', resourceProbe: PLENTY, passwordHasher: testPasswordHasher, ...storage });
  let broker = await start();
  const workloads: Workload[] = [];
  const streamModels: StreamModel[] = [];

  const restart = async (kind: StopKind): Promise<void> => {
    context.trace(`restart after ${kind}`);
    for (const workload of workloads) workload.beforeStop(kind);
    if (kind === 'clean') {
      await broker.close();
    } else {
      counters.set('crashes', counters.get('crashes')! + 1);
      broker.abandon();
      if (kind === 'power-loss') fileSystem.crash(new SeededRandom(random.int(2 ** 31)));
      else fileSystem.crashAfterKill();
    }
    // From here on, replies of the old broker reach no client.
    incarnation++;
    clock = new ManualClock(clock.nowMs());
    broker = await start();
    for (const model of streamModels) await model.readAll();
    for (const workload of workloads) await workload.afterRestart(kind);
    for (const model of streamModels) model.checkComplete();
  };

  const context: SimulationContext = {
    random,
    broker: () => broker,
    clock: () => clock,
    tick: () => ++tick,
    incarnation: () => incarnation,
    advancingClock: () => advancingClock,
    fail(message: string): never {
      throw new SimulationFailure(seed, step, message);
    },
    track<T>(promise: Promise<T>): Tracked<T> {
      const born = incarnation;
      let outcome: Outcome<T> = { kind: 'unknown' };
      const settled = promise.then(
        (value) => {
          if (incarnation === born) outcome = { kind: 'resolved', value };
        },
        (error: unknown) => {
          if (incarnation === born) outcome = { kind: 'rejected', error };
        },
      );
      return { promise: settled, outcome: () => outcome };
    },
    async settle(operations: readonly Tracked<unknown>[], crashProbability = CRASH_DURING_OPERATION_PROBABILITY): Promise<boolean> {
      if (random.next() >= crashProbability) {
        await Promise.all(operations.map((operation) => operation.promise));
        return false;
      }
      const turns = random.int(CRASH_TURNS_MAX);
      for (let turn = 0; turn < turns && operations.some((operation) => operation.outcome().kind === 'unknown'); turn++) await Promise.resolve();
      counters.set('crashesDuringOperations', (counters.get('crashesDuringOperations') ?? 0) + 1);
      await restart(random.next() < 0.7 ? 'power-loss' : 'kill');
      return true;
    },
    count(counter: string, by = 1): void {
      counters.set(counter, (counters.get(counter) ?? 0) + by);
    },
    trace(line: string): void {
      options.trace?.(`${step}: ${line}`);
    },
  };

  const events = new StreamModel(EVENTS_STREAM, EVENTS_PARTITIONS, context);
  const outputStream = new StreamModel(OUTPUT_STREAM, OUTPUT_STREAM_PARTITIONS, context);
  streamModels.push(events, outputStream);
  const queues = new QueueWorkload(context);
  const streams = new StreamWorkload(context, events);
  const groups = new ConsumerGroupWorkload(context, events);
  const shares = new ShareGroupWorkload(context, events);
  const transactions = new TransactionWorkload(context, events, outputStream);
  workloads.push(queues, streams, groups, shares, transactions);
  for (const workload of workloads) await workload.declare();

  for (step = 0; step < steps; step++) {
    const roll = random.next();
    if (roll < 0.36) {
      await queues.step();
    } else if (roll < 0.58) {
      await streams.step();
    } else if (roll < 0.66) {
      await groups.step();
    } else if (roll < 0.71) {
      await shares.step();
    } else if (roll < 0.88) {
      await transactions.step();
    } else if (roll < 0.94) {
      // Timers fire here: message TTLs, session and transaction timeouts.
      advancingClock = true;
      clock.advance(random.int(20_000));
      advancingClock = false;
    } else {
      const kind = random.next();
      await restart(kind < 0.4 ? 'clean' : kind < 0.8 ? 'power-loss' : 'kill');
    }
  }

  // The end: producers retry what is unconfirmed, then everything is read and drained once more.
  step = steps;
  for (const model of streamModels) await model.readAll();
  for (const workload of workloads) await workload.finish();
  for (const model of streamModels) {
    await model.readAll();
    model.checkComplete();
  }
  await broker.close();
  return Object.fromEntries(counters) as SimulationResult;
}
