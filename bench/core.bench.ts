/**
 * Core macro benchmark: the embedded Broker on its on-disk storage
 * (durability `always`), publish → route → queue → consumer → ack, one JSON
 * line per scenario on stdout (`{"scenario": ..., "cores": ..., ...fields}`)
 * and nothing else there; progress goes to stderr.
 *
 *   node dist/bench/core.bench.js [--quick] [--scenario name[,name...]]
 *
 * `--quick` runs every scenario at a tiny size (seconds, for CI, so the
 * benchmark cannot rot); its figures are not comparable with the targets, so
 * quick lines carry `"met": null`. Each scenario gets a fresh broker on a
 * temporary directory under os.tmpdir(), removed after it and on exit.
 *
 * Publishers keep a fixed number of publishes in flight (each awaits its
 * confirm, then publishes again) for a fixed time; the clock stops when every
 * message has been delivered and every ack has resolved, so the figures are
 * end to end. `p50Ms`/`p99Ms` are from the publish() call to the consumer's
 * callback (queues deliver before the write is durable), `confirmP50Ms`/
 * `confirmP99Ms` from the publish() call until it resolved.
 * Manual acks go in batches of at most ACK_BATCH_MAX, one `broker.ack` call
 * per batch, gathered over one event-loop turn.
 *
 * `backlog-2m` and `delayed-1m` measure memory, so they run in child
 * processes (this file again, `--child <scenario> <directory> <count>`,
 * under --expose-gc) where earlier scenarios cannot pollute RSS. A child
 * started by hand prints its report as JSON on stdout (for profiling:
 * `node --cpu-prof dist/bench/core.bench.js --child backlog-2m /tmp/x 200000`).
 *
 * Units: MB is 2^20 bytes; rates are per second of wall time.
 */
import { fork } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Delivery } from '../src/core/queue/delivery.js';
import { Broker } from '../src/server/broker.js';
import { patternBytes, progress, quantile, round, runScenarios, SampleBuffer, scenarioWithTargets } from './scenario-runner.js';

const MB = 1024 * 1024;
const KIB = 1024;
/**
 * Most deliveries acknowledged by one `broker.ack` call: Broker.ack groups by
 * queue by copying the id list once per delivery, so larger batches cost more per delivery.
 */
const ACK_BATCH_MAX = 128;
/** Consumer prefetch for manual-ack consumers. */
const PREFETCH = 2_000;
/** A flow that has not delivered everything this long after its last publish is stuck. */
const DRAIN_TIMEOUT_MS = 60_000;

// ---------------------------------------------------------------- helpers


function startBroker(directory: string): Promise<Broker> {
  return Broker.start({ dataDir: directory, durability: 'always' });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  gc?.();
}

function toMB(bytes: number): number {
  return round(bytes / MB, 1);
}

/** Where the memory is after a fill: V8 heap, off-heap buffers, and what RSS holds beyond them. */
function memoryFields(usage: NodeJS.MemoryUsage): Record<string, number> {
  return {
    heapUsedAfterFillMB: toMB(usage.heapUsed),
    heapTotalAfterFillMB: toMB(usage.heapTotal),
    externalAfterFillMB: toMB(usage.external),
    arrayBuffersAfterFillMB: toMB(usage.arrayBuffers),
  };
}

/** Samples RSS (and off-heap buffers) every `intervalMs` and keeps the highest, for a phase's peak. */
class RssSampler {
  peakBytes = 0;
  arrayBuffersPeakBytes = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(intervalMs = 50) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  sample(): void {
    const usage = process.memoryUsage();
    this.peakBytes = Math.max(this.peakBytes, usage.rss);
    this.arrayBuffersPeakBytes = Math.max(this.arrayBuffersPeakBytes, usage.arrayBuffers);
  }

  stop(): number {
    clearInterval(this.timer);
    this.sample();
    return this.peakBytes;
  }
}

// ---------------------------------------------------------------- consuming

/**
 * Consumers on any number of queues that count deliveries, record
 * publish-to-delivery latency from the publisher's send times, and (without
 * autoAck) ack in batches once per event-loop turn.
 */
class DeliverySink {
  delivered = 0;
  readonly latenciesMs = new SampleBuffer();
  /** publish() call time of message sequence i, set by the publisher; null skips latency. */
  sentAtMs: SampleBuffer | null = null;
  private toAck: Delivery[] = [];
  private ackScheduled = false;
  private readonly acksInFlight = new Set<Promise<void>>();
  private failure: unknown = null;
  private waiter: { count: number; resolve: () => void } | null = null;

  constructor(
    private readonly broker: Broker,
    readonly autoAck: boolean,
  ) {}

  attach(queue: string): void {
    this.broker.consume(queue, (delivery) => this.onDelivery(delivery), { autoAck: this.autoAck, prefetch: this.autoAck ? 0 : PREFETCH });
  }

  private onDelivery(delivery: Delivery): void {
    this.delivered++;
    if (this.sentAtMs !== null) {
      const sequence = Number(delivery.message.properties.messageId);
      this.latenciesMs.push(performance.now() - this.sentAtMs.at(sequence));
    }
    if (!this.autoAck) {
      this.toAck.push(delivery);
      if (!this.ackScheduled) {
        this.ackScheduled = true;
        setImmediate(() => this.ackPending());
      }
    }
    if (this.waiter !== null && this.delivered >= this.waiter.count) {
      this.waiter.resolve();
      this.waiter = null;
    }
  }

  private ackPending(): void {
    this.ackScheduled = false;
    const deliveries = this.toAck;
    this.toAck = [];
    for (let at = 0; at < deliveries.length; at += ACK_BATCH_MAX) {
      // Lazy: this sink does not wait for each ack (as an AMQP consumer does not), only for all at the end.
      const settled: Promise<void> = this.broker
        .ack(deliveries.slice(at, at + ACK_BATCH_MAX), { lazy: true })
        .catch((error: unknown) => void (this.failure ??= error))
        .finally(() => this.acksInFlight.delete(settled));
      this.acksInFlight.add(settled);
    }
  }

  /** Resolves once `count` deliveries arrived (since the start); rejects after DRAIN_TIMEOUT_MS. */
  async whenDelivered(count: number): Promise<void> {
    if (this.delivered < count) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => (this.waiter = { count, resolve })),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`only ${this.delivered} of ${count} deliveries after ${DRAIN_TIMEOUT_MS} ms`)), DRAIN_TIMEOUT_MS);
        }),
      ]).finally(() => clearTimeout(timer));
    }
  }

  /** Resolves once every ack started so far (and any gathered for this turn) resolved. */
  async settled(): Promise<void> {
    while (this.ackScheduled || this.acksInFlight.size > 0) {
      if (this.acksInFlight.size > 0) await Promise.all([...this.acksInFlight]);
      else await new Promise((resolve) => setImmediate(resolve));
    }
    if (this.failure !== null) throw this.failure;
  }
}

// ---------------------------------------------------------------- publishing

interface FlowOptions {
  readonly broker: Broker;
  readonly sink: DeliverySink;
  readonly exchange: string;
  /** Routing keys used in turn, one per publish. */
  readonly routingKeys: readonly string[];
  /** Deliveries each publish leads to (queues it reaches). */
  readonly fanout: number;
  readonly persistent: boolean;
  readonly bodyBytes: number;
  readonly publishesInFlight: number;
  readonly durationMs: number;
  readonly recordLatency: boolean;
}

interface FlowResult {
  readonly published: number;
  readonly delivered: number;
  /** From the first publish until the last delivery arrived and the last ack resolved. */
  readonly elapsedMs: number;
  readonly publishMs: number;
  readonly cpuPercent: number;
  readonly eventLoopUtilization: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Publish-to-confirm latency quantiles. */
  readonly confirmP50Ms: number;
  readonly confirmP99Ms: number;
}

/**
 * Publishes for `durationMs` with `publishesInFlight` publishes awaiting
 * their confirm at any time, then waits until every message is delivered and
 * acked. The sink must already consume every queue the messages reach.
 */
async function runFlow(options: FlowOptions): Promise<FlowResult> {
  const { broker, sink, exchange, routingKeys, persistent } = options;
  const body = patternBytes(options.bodyBytes, 1);
  const sentAtMs = new SampleBuffer();
  const confirmLatenciesMs = new SampleBuffer();
  sink.sentAtMs = options.recordLatency ? sentAtMs : null;
  sink.latenciesMs.clear();
  const deliveredBefore = sink.delivered;
  let sequence = 0;
  const cpuBefore = process.cpuUsage();
  const loopBefore = performance.eventLoopUtilization();
  const startMs = performance.now();
  const deadlineMs = startMs + options.durationMs;
  const publisher = async (): Promise<void> => {
    while (performance.now() < deadlineMs) {
      const messageSequence = sequence++;
      const sentMs = performance.now();
      sentAtMs.push(sentMs);
      await broker.publish(exchange, {
        body,
        routingKey: routingKeys[messageSequence % routingKeys.length]!,
        persistent,
        properties: { messageId: String(messageSequence) },
      });
      if (options.recordLatency) confirmLatenciesMs.push(performance.now() - sentMs);
    }
  };
  await Promise.all(Array.from({ length: options.publishesInFlight }, publisher));
  const publishMs = performance.now() - startMs;
  await sink.whenDelivered(deliveredBefore + sequence * options.fanout);
  await sink.settled();
  const elapsedMs = performance.now() - startMs;
  const cpu = process.cpuUsage(cpuBefore);
  const loop = performance.eventLoopUtilization(loopBefore);
  sink.sentAtMs = null;
  const latencies = sink.latenciesMs.view();
  return {
    published: sequence,
    delivered: sink.delivered - deliveredBefore,
    elapsedMs,
    publishMs,
    cpuPercent: round((100 * (cpu.user + cpu.system)) / 1000 / elapsedMs, 1),
    eventLoopUtilization: round(loop.utilization, 3),
    p50Ms: round(quantile(latencies, 0.5)),
    p99Ms: round(quantile(latencies, 0.99)),
    confirmP50Ms: round(quantile(confirmLatenciesMs.view(), 0.5)),
    confirmP99Ms: round(quantile(confirmLatenciesMs.view(), 0.99)),
  };
}

/** Fields of a flow for the result line. */
function flowFields(result: FlowResult): Record<string, number> {
  const seconds = result.elapsedMs / 1000;
  return {
    msgsPerSec: Math.round(result.published / seconds),
    deliveriesPerSec: Math.round(result.delivered / seconds),
    messages: result.published,
    seconds: round(seconds, 2),
    cpuPercent: result.cpuPercent,
    eventLoopUtilization: result.eventLoopUtilization,
  };
}

// ---------------------------------------------------------------- scenarios

interface BenchSettings {
  readonly quick: boolean;
  /** A fresh directory for this scenario, removed after it. */
  readonly directory: string;
}

/** A field of the result line and its full-size bound. */

/** Publishing time of a measured flow, and of the warm-up before it. */
function durations(settings: BenchSettings): { warmupMs: number; measureMs: number } {
  return settings.quick ? { warmupMs: 100, measureMs: 300 } : { warmupMs: 1_000, measureMs: 5_000 };
}

/**
 * One durable queue, 256 B persistent messages, 1,000 publishes in flight,
 * one consumer acking manually in batches.
 */
async function queuePersistent(settings: BenchSettings): Promise<Record<string, unknown>> {
  const { warmupMs, measureMs } = durations(settings);
  const broker = await startBroker(settings.directory);
  try {
    await broker.declareQueue('bench', { durable: true });
    const sink = new DeliverySink(broker, false);
    sink.attach('bench');
    const flow = (durationMs: number) =>
      runFlow({ broker, sink, exchange: '', routingKeys: ['bench'], fanout: 1, persistent: true, bodyBytes: 256, publishesInFlight: 1_000, durationMs, recordLatency: true });
    await flow(warmupMs);
    const result = await flow(measureMs);
    return { ...flowFields(result), p50Ms: result.p50Ms, p99Ms: result.p99Ms, confirmP50Ms: result.confirmP50Ms, confirmP99Ms: result.confirmP99Ms, bodyBytes: 256, publishesInFlight: 1_000 };
  } finally {
    await broker.close();
  }
}

/** One non-durable queue, 256 B transient messages, 1,000 publishes in flight, an autoAck consumer. */
async function queueTransient(settings: BenchSettings): Promise<Record<string, unknown>> {
  const { warmupMs, measureMs } = durations(settings);
  const broker = await startBroker(settings.directory);
  try {
    await broker.declareQueue('bench', { durable: false });
    const sink = new DeliverySink(broker, true);
    sink.attach('bench');
    const flow = (durationMs: number) =>
      runFlow({ broker, sink, exchange: '', routingKeys: ['bench'], fanout: 1, persistent: false, bodyBytes: 256, publishesInFlight: 1_000, durationMs, recordLatency: true });
    await flow(warmupMs);
    const result = await flow(measureMs);
    return { ...flowFields(result), p50Ms: result.p50Ms, p99Ms: result.p99Ms, confirmP50Ms: result.confirmP50Ms, confirmP99Ms: result.confirmP99Ms, bodyBytes: 256, publishesInFlight: 1_000 };
  } finally {
    await broker.close();
  }
}

/** A fanout exchange bound to 100 non-durable queues, each with an autoAck consumer; transient 256 B messages. */
async function fanout100(settings: BenchSettings): Promise<Record<string, unknown>> {
  const { warmupMs, measureMs } = durations(settings);
  const queueCount = 100;
  const broker = await startBroker(settings.directory);
  try {
    await broker.declareExchange('fan', { type: 'fanout', durable: false });
    const sink = new DeliverySink(broker, true);
    for (let i = 0; i < queueCount; i++) {
      await broker.declareQueue(`fan-${i}`, { durable: false });
      await broker.bind('fan', `fan-${i}`, '');
      sink.attach(`fan-${i}`);
    }
    const flow = (durationMs: number) =>
      runFlow({ broker, sink, exchange: 'fan', routingKeys: [''], fanout: queueCount, persistent: false, bodyBytes: 256, publishesInFlight: 100, durationMs, recordLatency: false });
    await flow(warmupMs);
    const result = await flow(measureMs);
    return { ...flowFields(result), queues: queueCount, bodyBytes: 256, publishesInFlight: 100 };
  } finally {
    await broker.close();
  }
}

/**
 * 1,000 durable queues, each with a manual-ack consumer, persistent 256 B
 * messages published round-robin through the default exchange, against one
 * durable queue on the same broker with the same flow. The two alternate
 * (single, many, single, many) so a noisy neighbour hits both alike.
 */
async function queues1000(settings: BenchSettings): Promise<Record<string, unknown>> {
  const { warmupMs, measureMs } = durations(settings);
  // Quick runs declare 100: declaring 1,000 durable queues alone takes seconds (each is fsynced).
  const queueCount = settings.quick ? 100 : 1_000;
  const broker = await startBroker(settings.directory);
  try {
    const sink = new DeliverySink(broker, false);
    await broker.declareQueue('single', { durable: true });
    sink.attach('single');
    const names: string[] = [];
    const declareStartMs = performance.now();
    for (let i = 0; i < queueCount; i++) {
      names.push(`queue-${i}`);
      await broker.declareQueue(names[i]!, { durable: true });
      sink.attach(names[i]!);
    }
    const declareSeconds = (performance.now() - declareStartMs) / 1000;
    const flow = (routingKeys: readonly string[], durationMs: number) =>
      runFlow({ broker, sink, exchange: '', routingKeys, fanout: 1, persistent: true, bodyBytes: 256, publishesInFlight: 1_000, durationMs, recordLatency: false });
    await flow(['single'], warmupMs);
    await flow(names, warmupMs);
    const single: FlowResult[] = [];
    const many: FlowResult[] = [];
    for (let round = 0; round < 2; round++) {
      single.push(await flow(['single'], measureMs / 2));
      many.push(await flow(names, measureMs / 2));
    }
    const rate = (results: FlowResult[]) => results.reduce((sum, result) => sum + result.published, 0) / (results.reduce((sum, result) => sum + result.elapsedMs, 0) / 1000);
    const singleRate = rate(single);
    const manyRate = rate(many);
    return {
      ratioToSingleQueue: round(manyRate / singleRate),
      msgsPerSec: Math.round(manyRate),
      singleQueueMsgsPerSec: Math.round(singleRate),
      queues: queueCount,
      declareSeconds: round(declareSeconds, 2),
      cpuPercent: round(many.reduce((sum, result) => sum + result.cpuPercent, 0) / many.length, 1),
    };
  } finally {
    await broker.close();
  }
}

// ---------------------------------------------------------------- memory scenarios (child processes)

/** What a memory child reports. */
type ChildReport = Record<string, number | boolean | string>;

/** Runs a memory scenario in a child process (this file, --child) under --expose-gc. */
async function inChild(scenario: string, settings: BenchSettings, count: number): Promise<Record<string, unknown>> {
  const child = fork(fileURLToPath(import.meta.url), ['--child', scenario, path.join(settings.directory, 'broker'), String(count)], {
    execArgv: ['--expose-gc'],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  return new Promise<ChildReport>((resolve, reject) => {
    let report: ChildReport | undefined;
    child.on('message', (message) => (report = message as ChildReport));
    child.once('error', reject);
    child.once('exit', (code, signal) => (report && code === 0 ? resolve(report) : reject(new Error(`${scenario} child exited with ${String(code ?? signal)}`))));
  });
}

/** Publishes `count` messages to `queue` with `inFlight` publishes awaiting their confirm at any time. */
async function fill(broker: Broker, queue: string, count: number, bodyBytes: number, inFlight: number, delayMs?: (sequence: number) => number): Promise<void> {
  const body = patternBytes(bodyBytes, 2);
  let sequence = 0;
  const publisher = async (): Promise<void> => {
    while (sequence < count) {
      const messageSequence = sequence++;
      await broker.publish('', {
        body,
        routingKey: queue,
        persistent: true,
        properties: delayMs ? { messageId: String(messageSequence), delayMs: delayMs(messageSequence) } : { messageId: String(messageSequence) },
      });
      if (messageSequence % 200_000 === 0 && messageSequence > 0) progress(`  ${messageSequence} published, rss ${toMB(process.memoryUsage.rss())} MB`);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, publisher));
}

/**
 * `count` persistent 1 KiB messages into one durable queue with no consumer
 * (1,000 publishes in flight), then drained by one manual-ack consumer.
 * RSS: peak over the fill (sampled), after the fill once garbage is
 * collected, and peak over the drain.
 */
async function backlogChild(directory: string, count: number): Promise<ChildReport> {
  const broker = await startBroker(directory);
  try {
    await broker.declareQueue('backlog', { durable: true });
    collectGarbage();
    const rssBaselineMB = toMB(process.memoryUsage.rss());
    const fillSampler = new RssSampler();
    const fillStartMs = performance.now();
    await fill(broker, 'backlog', count, KIB, 1_000);
    const fillSeconds = (performance.now() - fillStartMs) / 1000;
    const fillPeakBytes = fillSampler.stop();
    // Let segment writes settle, as a broker at rest would.
    await sleep(500);
    collectGarbage();
    const usage = process.memoryUsage();
    const ready = broker.vhost().queue('backlog').messageCount();

    const drainSampler = new RssSampler();
    const sink = new DeliverySink(broker, false);
    const drainStartMs = performance.now();
    sink.attach('backlog');
    await sink.whenDelivered(count);
    await sink.settled();
    const drainSeconds = (performance.now() - drainStartMs) / 1000;
    const drainPeakBytes = drainSampler.stop();
    return {
      rssMB: toMB(Math.max(fillPeakBytes, drainPeakBytes)),
      rssAfterFillMB: toMB(usage.rss),
      rssFillPeakMB: toMB(fillPeakBytes),
      rssDrainPeakMB: toMB(drainPeakBytes),
      arrayBuffersDrainPeakMB: toMB(drainSampler.arrayBuffersPeakBytes),
      rssBaselineMB,
      ...memoryFields(usage),
      messages: count,
      readyAfterFill: ready,
      fillMsgsPerSec: Math.round(count / fillSeconds),
      drainMsgsPerSec: Math.round(count / drainSeconds),
      drainSeconds: round(drainSeconds, 2),
      gcExposed: typeof (globalThis as { gc?: unknown }).gc === 'function',
    };
  } finally {
    await broker.close();
  }
}

/**
 * `count` persistent 256 B messages delayed by one to two hours (so none falls
 * due during the run) into one durable queue, 1,000 publishes in flight.
 */
async function delayedChild(directory: string, count: number): Promise<ChildReport> {
  const broker = await startBroker(directory);
  try {
    await broker.declareQueue('delayed', { durable: true });
    collectGarbage();
    const rssBaselineMB = toMB(process.memoryUsage.rss());
    const sampler = new RssSampler();
    const startMs = performance.now();
    // Due times spread over an hour, not in publish order, so the schedule heap does real work.
    await fill(broker, 'delayed', count, 256, 1_000, (sequence) => 3_600_000 + ((sequence * 7_919) % 3_600_000));
    const seconds = (performance.now() - startMs) / 1000;
    const peakBytes = sampler.stop();
    await sleep(500);
    collectGarbage();
    const usage = process.memoryUsage();
    return {
      rssMB: toMB(Math.max(peakBytes, usage.rss)),
      rssAfterFillMB: toMB(usage.rss),
      rssBaselineMB,
      ...memoryFields(usage),
      messages: count,
      scheduled: broker.vhost().queue('delayed').scheduledCount(),
      publishMsgsPerSec: Math.round(count / seconds),
      gcExposed: typeof (globalThis as { gc?: unknown }).gc === 'function',
    };
  } finally {
    await broker.close();
  }
}

const CHILD_SCENARIOS: Readonly<Record<string, (directory: string, count: number) => Promise<ChildReport>>> = {
  'backlog-2m': backlogChild,
  'delayed-1m': delayedChild,
};

async function runChild(scenario: string, directory: string, count: number): Promise<void> {
  const run = CHILD_SCENARIOS[scenario];
  if (!run || !(count > 0)) throw new Error(`unknown child scenario ${scenario} or count ${count}`);
  const report = await run(directory, count);
  if (process.send) {
    await new Promise<void>((resolve) => process.send!(report, () => resolve()));
    process.disconnect();
  } else {
    process.stdout.write(`${JSON.stringify(report)}\n`);
  }
}

const SCENARIOS = [
  scenarioWithTargets('queue-persistent', [{ field: 'msgsPerSec', atLeast: 300_000 }], queuePersistent),
  scenarioWithTargets('queue-transient', [{ field: 'msgsPerSec', atLeast: 1_000_000 }], queueTransient),
  scenarioWithTargets('fanout-100', [{ field: 'deliveriesPerSec', atLeast: 1_000_000 }], fanout100),
  scenarioWithTargets('queues-1000', [{ field: 'ratioToSingleQueue', atLeast: 0.5 }], queues1000),
  scenarioWithTargets(
    'backlog-2m',
    [
      { field: 'rssMB', atMost: 250 },
      { field: 'drainMsgsPerSec', atLeast: 200_000 },
    ],
    (settings) => inChild('backlog-2m', settings, settings.quick ? 20_000 : 2_000_000),
  ),
  scenarioWithTargets('delayed-1m', [{ field: 'rssMB', atMost: 300 }], (settings) => inChild('delayed-1m', settings, settings.quick ? 10_000 : 1_000_000)),
];

async function main(argv: readonly string[]): Promise<void> {
  if (argv[0] === '--child') {
    if (argv.length !== 4) {
      process.stderr.write(`usage: node dist/bench/core.bench.js --child ${Object.keys(CHILD_SCENARIOS).join('|')} <directory> <count>\n`);
      process.exit(2);
    }
    await runChild(argv[1]!, argv[2]!, Number(argv[3]));
    return;
  }
  await runScenarios('core', SCENARIOS, argv);
}

await main(process.argv.slice(2));
