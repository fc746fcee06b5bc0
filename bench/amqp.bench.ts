/**
 * AMQP macro benchmark (issue 7): the same amqplib workloads against Ferry
 * and against a real RabbitMQ on the same machine, in one run. One JSON line
 * per scenario on stdout and nothing else there; progress goes to stderr:
 *
 *   {"scenario": …, "cores": …, "quick": …, "ferry": {…}, "rabbitmq": {…} | null,
 *    "ratio": {…} | null, "target": …, "met": true | false | null}
 *
 *   node dist/bench/amqp.bench.js [--quick] [--scenario name[,name...]]
 *
 * Processes: Ferry runs as `node bin/ferry.js serve` (durability `always`, on
 * a temporary data directory) and RabbitMQ as a private node (see
 * rabbitmq-process.ts), both for the whole run and bound to 127.0.0.1; the
 * amqplib clients run in forked amqp-client-child.js processes. So the CPU
 * time each broker spent (utime + stime of its process from /proc, sampled
 * right before the clients start and right after they report) is its own, and
 * each client reports its own CPU time too. `steady-5k` also runs its flow
 * through bare-amqp-server.js (a process that frames AMQP and nothing else),
 * reported as `"bare"`: the latency floor of this client on this machine. When RabbitMQ is not installed (or
 * FERRY_BENCH_RABBITMQ=off, or it fails to start) the lines carry
 * `"rabbitmq": null` and `"rabbitmqSkipped"` with the reason, and targets that
 * compare with it are unjudged (`met` null).
 *
 * Every flow runs against Ferry first, then RabbitMQ, on fresh durable queues;
 * full-size flows get an unmeasured warm-up first. Publishers stop after a
 * fixed time or message count and stay at most BACKLOG_MAX messages ahead of
 * the consumers (who report their progress every 20 ms), so the queue stays
 * short for both brokers and the drain is bounded; the clock runs from the
 * first publish until the consumers hold every message published, so rates
 * are end to end. Consumers check every message id (lost, duplicated) and ack
 * every delivery with its own basic.ack, as most applications do
 * (FERRY_BENCH_ACK_EVERY=n acks every n-th with `multiple`, to investigate);
 * latency is from the publish call to the delivery callback, across processes
 * on CLOCK_MONOTONIC.
 *
 * `bottleneck` names what limited a flow: `client` when a client process used
 * 90% or more of a core (amqplib is single-threaded: the broker could have
 * gone faster), `machine` when all cores were busy between broker and clients,
 * `broker` when the broker used 90% or more of a core, else `waiting` (fsync,
 * round trips). `--quick` runs tiny flows for CI; its figures are not
 * comparable with the targets, so quick lines carry `"met": null`.
 *
 * Profiling: FERRY_BENCH_NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof"
 * passes flags to Ferry's node process (the profile is written when it stops).
 *
 * Units: rates per second of wall time; CPU per message in microseconds; MB is 2^20 bytes.
 */
import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as amqp from 'amqplib';
import type { ClientPlan, ClientReport, ConsumeResult, FromClient, PublishResult, ToClient } from './amqp-client-child.js';
import { FerryProcess } from './ferry-process.js';
import { OwnedProcess, startBareServer } from './owned-process.js';
import { processUsage } from './process-usage.js';
import { RabbitMqProcess } from './rabbitmq-process.js';
import { progress, round, runScenarios, scenarioWithTargets, type ScenarioSettings } from './scenario-runner.js';

const MB = 1024 * 1024;
const CLIENT_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'amqp-client-child.js');
/** Longest a client may take to answer one step (connect, publish, drain) before the flow fails. */
const CLIENT_STEP_TIMEOUT_MS = 180_000;
/** Consumers report messages still missing this long after the last publish as lost. */
const DRAIN_TIMEOUT_MS = 60_000;
/** A process using at least this share of one core is taken as saturated. */
const SATURATED_CORE_SHARE = 0.9;
const PREFETCH = 1_000;
const CONFIRM_WINDOW = 1_000;
const BODY_BYTES = 256;
/** The most messages one publisher sends in a flow (bounds the consumers' seen-bitmaps too). */
const PUBLISH_COUNT_MAX = 3_000_000;
/** The same for --quick, so a slow broker cannot stretch a CI run. */
const QUICK_COUNT_MAX = 1_000;
/**
 * Most messages a publisher runs ahead of its consumers: 5 prefetch windows,
 * far more than flow in one 20 ms progress interval at any rate seen here, so
 * both sides stay busy, and few enough that the queue stays short.
 */
const BACKLOG_MAX = 5_000;
const STEADY_RATE_PER_SECOND = 5_000;
/** The first 2 s of a steady-rate run are not sampled for latency (see ClientPlan.latencyFromMs). */
const STEADY_LATENCY_FROM_MS = 2_000;
/** Deliveries per basic.ack (1: each delivery, as most applications do); FERRY_BENCH_ACK_EVERY=n acks every n-th with `multiple`. */
const ACK_EVERY = Number(process.env['FERRY_BENCH_ACK_EVERY'] ?? 1) || 1;
/** Queues of the many-queue flow of `queues-1000` (fewer with --quick: declaring them is most of a quick run). */
const MANY_QUEUES = 1_000;
const MANY_QUEUES_QUICK = 50;

// ---------------------------------------------------------------- brokers

/** A broker process under test: where to connect and whose CPU and memory to read. */
interface BrokerUnderTest {
  /** `bare`: the bare AMQP server of bare-amqp-server.ts, the floor of steady-5k. */
  readonly name: 'ferry' | 'rabbitmq' | 'bare';
  readonly pid: number;
  readonly amqpPort: number;
}

/** The brokers of this run; RabbitMQ is null (with the reason) when it cannot run here. */
interface Brokers {
  readonly ferry: BrokerUnderTest;
  readonly rabbitmq: BrokerUnderTest | null;
  readonly rabbitmqSkipped: string | null;
  /** Server version each announced in connection.start. */
  readonly versions: Record<string, string>;
}

let brokers: Brokers | null = null;

function brokersOf(): Brokers {
  if (brokers === null) throw new Error('brokers not started');
  return brokers;
}

/** Opens an amqplib channel on `broker` for set-up and clean-up, runs `work`, closes. */
async function withAdmin<T>(broker: BrokerUnderTest, work: (channel: amqp.Channel, connection: amqp.ChannelModel) => Promise<T>): Promise<T> {
  const connection = await amqp.connect({ protocol: 'amqp', hostname: '127.0.0.1', port: broker.amqpPort, username: 'guest', password: 'guest' }, { timeout: 10_000 });
  connection.on('error', () => undefined);
  try {
    return await work(await connection.createChannel(), connection);
  } finally {
    await connection.close().catch(() => undefined);
  }
}

// ---------------------------------------------------------------- client processes

/** A forked amqp-client-child.js, with an inbox of its IPC messages. */
class ClientProcess {
  /** The consumers' latest progress report (messages every queue has had). */
  consumed = 0;
  /** Called on each progress report. */
  onProgress: (() => void) | null = null;
  private readonly inbox: FromClient[] = [];
  private waiter: (() => void) | null = null;
  private readonly owned: OwnedProcess;

  constructor(
    readonly name: string,
    readonly plan: ClientPlan,
  ) {
    const child = fork(CLIENT_SCRIPT, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    this.owned = new OwnedProcess(child, name);
    child.on('message', (message: FromClient) => {
      if (message.kind === 'progress') {
        this.consumed = message.consumed;
        this.onProgress?.();
        return;
      }
      this.inbox.push(message);
      this.waiter?.();
    });
    void this.owned.exited.then(() => this.waiter?.());
    this.send({ kind: 'plan', plan });
  }

  send(message: ToClient): void {
    if (this.owned.exitStatus === null && this.owned.child.connected) this.owned.child.send(message);
  }

  /** The next message of `kind`; rejects when the client fails, exits, or takes longer than `timeoutMs`. */
  async next<K extends FromClient['kind']>(kind: K, timeoutMs = CLIENT_STEP_TIMEOUT_MS): Promise<Extract<FromClient, { kind: K }>> {
    const deadlineMs = performance.now() + timeoutMs;
    for (;;) {
      const message = this.inbox.shift();
      if (message?.kind === 'failed') throw new Error(`${this.name} failed: ${message.message}`);
      if (message?.kind === kind) return message as Extract<FromClient, { kind: K }>;
      if (message !== undefined) continue;
      const exit = this.owned.exitStatus;
      if (exit !== null) throw new Error(`${this.name} exited (code ${exit.code}, signal ${exit.signal}) before sending ${kind}`);
      const remainingMs = deadlineMs - performance.now();
      if (remainingMs <= 0) throw new Error(`${this.name} sent no ${kind} within ${timeoutMs} ms`);
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
        timer = setTimeout(resolve, remainingMs);
      }).finally(() => clearTimeout(timer));
      this.waiter = null;
    }
  }

  /** Asks the client to close its connections and exit; killed after 60 s (closing 10,000 connections takes a while). */
  async close(): Promise<void> {
    this.send({ kind: 'close' });
    let timer: NodeJS.Timeout | undefined;
    const exited = await Promise.race([
      this.owned.exited.then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), 60_000))),
    ]).finally(() => clearTimeout(timer));
    if (!exited) await this.owned.stop(5_000);
  }
}

// ---------------------------------------------------------------- flows

/** The queues (durable) and optional exchange a flow declares, fresh, before it runs. */
interface Topology {
  readonly queues: readonly string[];
  /** Bound to every queue with an empty routing key. */
  readonly exchange?: { readonly name: string; readonly type: 'fanout' | 'direct' };
}

/** One run of a workload against one broker: its topology and its client processes (each without the port). */
interface FlowSpec {
  readonly topology: Topology;
  readonly clients: readonly Omit<ClientPlan, 'port'>[];
}

/** What one flow measured, before it is shaped into a result line. */
interface FlowOutcome {
  readonly published: number;
  readonly deliveries: number;
  readonly lost: number;
  readonly duplicates: number;
  readonly unexpected: number;
  readonly redelivered: number;
  readonly nacked: number;
  /** From the first publish until the consumers held every message. */
  readonly elapsedSeconds: number;
  readonly brokerCpuSeconds: number;
  readonly brokerRssBytes: number;
  readonly clients: readonly ClientReport[];
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly confirmP50Ms: number | null;
  readonly confirmP99Ms: number | null;
}

async function declareTopology(broker: BrokerUnderTest, topology: Topology): Promise<void> {
  await withAdmin(broker, async (channel) => {
    await deleteTopologyOn(channel, topology);
    if (topology.exchange) await channel.assertExchange(topology.exchange.name, topology.exchange.type, { durable: true });
    for (const queue of topology.queues) {
      await channel.assertQueue(queue, { durable: true });
      if (topology.exchange) await channel.bindQueue(queue, topology.exchange.name, '');
    }
  });
}

async function deleteTopologyOn(channel: amqp.Channel, topology: Topology): Promise<void> {
  for (const queue of topology.queues) await channel.deleteQueue(queue);
  if (topology.exchange) await channel.deleteExchange(topology.exchange.name);
}

/**
 * Runs `spec` against `broker`: declares the topology, starts the clients,
 * starts the clock and the publishers together, tells the consumers how many
 * messages to expect once every publisher is done, and reads the broker's CPU
 * time around all of it. Clients and topology are cleaned up even on failure.
 */
async function runFlow(broker: BrokerUnderTest, spec: FlowSpec): Promise<FlowOutcome> {
  await declareTopology(broker, spec.topology);
  const clients = spec.clients.map((plan, index) => new ClientProcess(`${broker.name} client ${index + 1}`, { ...plan, port: broker.amqpPort }));
  try {
    await Promise.all(clients.map((client) => client.next('ready')));
    const publishers = clients.filter((client) => client.plan.publish);
    const consumers = clients.filter((client) => client.plan.consume);
    // Publishers learn the consumers' least progress, for their backlog bound.
    let consumedSent = 0;
    const forwardProgress = (): void => {
      const consumed = Math.min(...consumers.map((client) => client.consumed));
      if (consumed <= consumedSent) return;
      consumedSent = consumed;
      for (const publisher of publishers) publisher.send({ kind: 'consumed', count: consumed });
    };
    for (const consumer of consumers) consumer.onProgress = forwardProgress;
    const before = processUsage(broker.pid);
    for (const client of clients) client.send({ kind: 'go' });
    const published: PublishResult[] = (await Promise.all(publishers.map((client) => client.next('published')))).map((message) => message.result);
    const perPublisher: number[] = [];
    for (const result of published) perPublisher[result.publisherId] = result.published;
    for (const client of consumers) client.send({ kind: 'expect', perPublisher: Array.from(perPublisher, (count) => count ?? 0) });
    const reports = (await Promise.all(clients.map((client) => client.next('report')))).map((message) => message.report);
    const after = processUsage(broker.pid);

    const consumed = reports.map((report) => report.consumed).filter((result): result is ConsumeResult => result !== null);
    const sum = (values: readonly number[]) => values.reduce((total, value) => total + value, 0);
    const startNs = Math.min(...published.map((result) => result.startNs));
    const endNs = Math.max(...consumed.map((result) => result.lastDeliveryNs), ...published.map((result) => result.endNs));
    // Latency quantiles are per consumer process; with several, the worst is reported.
    const worst = (values: readonly (number | null)[]) => (values.some((value) => value !== null) ? Math.max(...values.filter((value): value is number => value !== null)) : null);
    return {
      published: sum(published.map((result) => result.published)),
      deliveries: sum(consumed.map((result) => result.unique)),
      lost: sum(consumed.map((result) => result.lost)),
      duplicates: sum(consumed.map((result) => result.duplicates)),
      unexpected: sum(consumed.map((result) => result.unexpected)),
      redelivered: sum(consumed.map((result) => result.redelivered)),
      nacked: sum(published.map((result) => result.nacked)),
      elapsedSeconds: (endNs - startNs) / 1e9,
      brokerCpuSeconds: after.cpuSeconds - before.cpuSeconds,
      brokerRssBytes: after.rssBytes,
      clients: reports,
      p50Ms: worst(consumed.map((result) => result.p50Ms)) ?? Number.NaN,
      p99Ms: worst(consumed.map((result) => result.p99Ms)) ?? Number.NaN,
      confirmP50Ms: worst(published.map((result) => result.confirmP50Ms)),
      confirmP99Ms: worst(published.map((result) => result.confirmP99Ms)),
    };
  } finally {
    await Promise.all(clients.map((client) => client.close()));
    await withAdmin(broker, (channel) => deleteTopologyOn(channel, spec.topology)).catch((error: unknown) => progress(`${broker.name}: clean-up failed: ${String(error)}`));
  }
}

/** What limited a flow; see the file comment. */
function bottleneckOf(outcome: FlowOutcome): { bottleneck: string; clientCpuPercent: number[]; brokerCpuPercent: number } {
  // Over the whole flow, not each client's own busy time: a publisher that finished early did not limit the flow.
  const clientCpuPercent = outcome.clients.map((report) => round((100 * report.cpuSeconds) / outcome.elapsedSeconds, 1));
  const brokerCpuPercent = round((100 * outcome.brokerCpuSeconds) / outcome.elapsedSeconds, 1);
  const busyCores = (outcome.brokerCpuSeconds + outcome.clients.reduce((sum, report) => sum + report.cpuSeconds, 0)) / outcome.elapsedSeconds;
  let bottleneck = 'waiting';
  if (clientCpuPercent.some((percent) => percent >= 100 * SATURATED_CORE_SHARE)) bottleneck = 'client';
  else if (busyCores >= SATURATED_CORE_SHARE * os.availableParallelism()) bottleneck = 'machine';
  else if (brokerCpuPercent >= 100 * SATURATED_CORE_SHARE) bottleneck = 'broker';
  return { bottleneck, clientCpuPercent, brokerCpuPercent };
}

/** The result fields of a throughput flow for one broker. */
function throughputFields(outcome: FlowOutcome, queues: number): Record<string, unknown> {
  const fields: Record<string, unknown> = {
    msgsPerSec: Math.round(outcome.published / outcome.elapsedSeconds),
    ...(queues > 1 ? { deliveriesPerSec: Math.round(outcome.deliveries / outcome.elapsedSeconds) } : {}),
    messages: outcome.published,
    deliveries: outcome.deliveries,
    lost: outcome.lost,
    duplicates: outcome.duplicates,
    ...(outcome.unexpected > 0 ? { unexpected: outcome.unexpected } : {}),
    ...(outcome.redelivered > 0 ? { redelivered: outcome.redelivered } : {}),
    ...(outcome.nacked > 0 ? { nacked: outcome.nacked } : {}),
    seconds: round(outcome.elapsedSeconds, 2),
    p50Ms: round(outcome.p50Ms, 2),
    p99Ms: round(outcome.p99Ms, 2),
    ...(outcome.confirmP50Ms !== null ? { confirmP50Ms: round(outcome.confirmP50Ms, 2), confirmP99Ms: round(outcome.confirmP99Ms ?? Number.NaN, 2) } : {}),
    brokerCpuPerMessageUs: round((1e6 * outcome.brokerCpuSeconds) / outcome.published, 1),
    ...(queues > 1 ? { brokerCpuPerDeliveryUs: round((1e6 * outcome.brokerCpuSeconds) / outcome.deliveries, 1) } : {}),
    brokerCpuSeconds: round(outcome.brokerCpuSeconds, 2),
    brokerRssMB: round(outcome.brokerRssBytes / MB, 1),
    ...bottleneckOf(outcome),
  };
  return fields;
}

/** `ferry / other` of each named field (other: RabbitMQ, or the bare server), or null without it. */
function ratios(ferry: Record<string, unknown>, other: Record<string, unknown> | null, names: readonly string[]): Record<string, number> | null {
  if (other === null) return null;
  const result: Record<string, number> = {};
  for (const name of names) {
    const numerator = ferry[name];
    const denominator = other[name];
    if (typeof numerator === 'number' && typeof denominator === 'number' && denominator !== 0) result[name] = round(numerator / denominator, 3);
  }
  return result;
}

/** The fields every line carries about the brokers. */
function brokerInfo(): Record<string, unknown> {
  const { versions, rabbitmqSkipped } = brokersOf();
  return { versions, ...(rabbitmqSkipped !== null ? { rabbitmqSkipped } : {}) };
}

/** How long (and at most how many messages) publishers publish in a flow. */
interface FlowSize {
  readonly warmupMs: number;
  readonly measureMs: number;
  readonly countMax: number;
}

function flowSize(settings: ScenarioSettings, measureMs = 10_000): FlowSize {
  return settings.quick ? { warmupMs: 0, measureMs: 1_000, countMax: QUICK_COUNT_MAX } : { warmupMs: 2_000, measureMs, countMax: PUBLISH_COUNT_MAX };
}

/**
 * Runs `specOf(durationMs, countMax)` against each broker (warm-up first when asked), Ferry first;
 * then against `floor` when given, whose fields are reported under its name.
 */
async function compare(
  { warmupMs, measureMs, countMax }: FlowSize,
  specOf: (durationMs: number, countMax: number) => FlowSpec,
  fieldsOf: (outcome: FlowOutcome) => Record<string, unknown>,
  ratioNames: readonly string[],
  floor: BrokerUnderTest | null = null,
): Promise<Record<string, unknown>> {
  const results: Record<string, Record<string, unknown> | null> = { ferry: null, rabbitmq: null };
  for (const broker of [brokersOf().ferry, brokersOf().rabbitmq, floor]) {
    if (broker === null) continue;
    if (warmupMs > 0) {
      progress(`  ${broker.name}: warm-up`);
      await runFlow(broker, specOf(warmupMs, countMax));
    }
    progress(`  ${broker.name}: measuring`);
    const fields = fieldsOf(await runFlow(broker, specOf(measureMs, countMax)));
    progress(`  ${broker.name}: ${JSON.stringify(fields)}`);
    results[broker.name] = fields;
  }
  const ferry = results['ferry']!;
  const rabbitmq = results['rabbitmq'] ?? null;
  const floorFields = floor === null ? {} : { [floor.name]: results[floor.name] };
  return { ferry, rabbitmq, ...floorFields, ratio: ratios(ferry, rabbitmq, ratioNames), ...brokerInfo() };
}

// ---------------------------------------------------------------- scenarios

/** One publisher on the default exchange into `queue`, as fast as the broker takes it (or at a steady rate). */
function publishPlan(queue: string, persistent: boolean, confirms: boolean, durationMs: number, countMax: number, ratePerSecond = 0): NonNullable<ClientPlan['publish']> {
  return {
    publisherId: 0,
    publishers: 1,
    backlogMax: BACKLOG_MAX,
    exchange: '',
    routingKey: queue,
    persistent,
    confirmWindow: confirms ? CONFIRM_WINDOW : 0,
    bodyBytes: BODY_BYTES,
    durationMs,
    countMax,
    ratePerSecond,
  };
}

function consumePlan(queues: readonly string[], publishers = 1): NonNullable<ClientPlan['consume']> {
  return { queues, prefetch: PREFETCH, publishers, countMaxPerPublisher: PUBLISH_COUNT_MAX, drainTimeoutMs: DRAIN_TIMEOUT_MS, ackEvery: ACK_EVERY };
}

/** Scenario 1: persistent 256 B messages with confirms into one durable queue, one client process. */
function persistentConfirms(settings: ScenarioSettings): Promise<Record<string, unknown>> {
  const queue = 'bench-persistent';
  return compare(
    flowSize(settings),
    (durationMs, countMax) => ({ topology: { queues: [queue] }, clients: [{ publish: publishPlan(queue, true, true, durationMs, countMax), consume: consumePlan([queue]) }] }),
    (outcome) => throughputFields(outcome, 1),
    ['msgsPerSec', 'brokerCpuPerMessageUs'],
  );
}

/** Scenario 2: the same with transient messages and no confirms, one client process (publisher and consumer). */
function transient(settings: ScenarioSettings): Promise<Record<string, unknown>> {
  const queue = 'bench-transient';
  return compare(
    flowSize(settings),
    (durationMs, countMax) => ({ topology: { queues: [queue] }, clients: [{ publish: publishPlan(queue, false, false, durationMs, countMax), consume: consumePlan([queue]) }] }),
    (outcome) => throughputFields(outcome, 1),
    ['msgsPerSec', 'brokerCpuPerMessageUs'],
  );
}

/** Scenario 2, second variant: publisher and consumer in two client processes. */
function transientTwoClients(settings: ScenarioSettings): Promise<Record<string, unknown>> {
  const queue = 'bench-transient-2';
  return compare(
    flowSize(settings),
    (durationMs, countMax) => ({ topology: { queues: [queue] }, clients: [{ publish: publishPlan(queue, false, false, durationMs, countMax) }, { consume: consumePlan([queue]) }] }),
    (outcome) => throughputFields(outcome, 1),
    ['msgsPerSec', 'brokerCpuPerMessageUs'],
  );
}

/** Scenario 3: persistent messages with confirms through a fanout exchange to 4 durable queues. */
function fanout4(settings: ScenarioSettings): Promise<Record<string, unknown>> {
  const queues = ['bench-fanout-1', 'bench-fanout-2', 'bench-fanout-3', 'bench-fanout-4'];
  const exchange = 'bench-fanout';
  return compare(
    flowSize(settings),
    (durationMs, countMax) => ({
      topology: { queues, exchange: { name: exchange, type: 'fanout' } },
      // The consumers of 4 queues get 4 deliveries per publish: in the publisher's process they would starve it.
      clients: [{ publish: { ...publishPlan('', true, true, durationMs, countMax), exchange } }, { consume: consumePlan(queues) }],
    }),
    (outcome) => throughputFields(outcome, queues.length),
    ['deliveriesPerSec', 'brokerCpuPerDeliveryUs'],
  );
}

/**
 * Issue 3's queues-1000 over AMQP, for both brokers: persistent 256 B messages with confirms published
 * round-robin over 1,000 durable queues, and the same flow into one queue; each broker's
 * `ratioToSingleQueue` divides its many-queue rate by its one-queue rate. The publisher and the
 * consumers (a channel per queue, each delivery acked) are two client processes. Issue 3 judges the
 * in-process ratio (bench:core); this line shows where the peer stands on the same flow.
 */
async function queues1000(settings: ScenarioSettings): Promise<Record<string, unknown>> {
  const size = flowSize(settings);
  const count = settings.quick ? MANY_QUEUES_QUICK : MANY_QUEUES;
  const flowOf = (queues: readonly string[]) => (durationMs: number, countMax: number): FlowSpec => ({
    topology: { queues },
    clients: [{ publish: { ...publishPlan(queues[0]!, true, true, durationMs, countMax), routingKeys: queues } }, { consume: { ...consumePlan(queues), roundRobin: true } }],
  });
  const fields = (outcome: FlowOutcome) => throughputFields(outcome, 1);
  const single = await compare(size, flowOf(['bench-one-of-many']), fields, []);
  const many = await compare(size, flowOf(Array.from({ length: count }, (_, index) => `bench-many-${index}`)), fields, ['msgsPerSec', 'brokerCpuPerMessageUs']);
  const side = (name: 'ferry' | 'rabbitmq'): Record<string, unknown> | null => {
    const one = single[name] as Record<string, unknown> | null;
    const all = many[name] as Record<string, unknown> | null;
    if (one === null || all === null) return null;
    return { queues: count, ratioToSingleQueue: round(Number(all['msgsPerSec']) / Number(one['msgsPerSec']), 3), single: one, many: all };
  };
  // ratio: Ferry over RabbitMQ on the many-queue flow.
  return { ferry: side('ferry'), rabbitmq: side('rabbitmq'), ratio: many['ratio'], ...brokerInfo() };
}

/**
 * Scenario 4: 5,000 persistent messages per second with confirms; latency is the point. The same
 * flow also runs through the bare AMQP server (bare-amqp-server.ts: no storage, no queue, a publish
 * is written to the consumer at once), whose latency is the floor any broker has here with this
 * client; `ferryToBare` divides Ferry's quantiles by it.
 */
async function steadyRate(settings: ScenarioSettings): Promise<Record<string, unknown>> {
  const queue = 'bench-steady';
  const bare = await startBareServer('bare AMQP server', [fileURLToPath(new URL('./bare-amqp-server.js', import.meta.url))]);
  try {
    const result = await compare(
      flowSize(settings, 20_000),
      (durationMs, countMax) => ({
        topology: { queues: [queue] },
        clients: [
          {
            publish: publishPlan(queue, true, true, durationMs, countMax, STEADY_RATE_PER_SECOND),
            consume: consumePlan([queue]),
            latencyFromMs: settings.quick ? 0 : STEADY_LATENCY_FROM_MS,
          },
        ],
      }),
      (outcome) => throughputFields(outcome, 1),
      ['p50Ms', 'p99Ms', 'confirmP50Ms', 'confirmP99Ms', 'brokerCpuPerMessageUs'],
      { name: 'bare', pid: bare.process.pid, amqpPort: bare.port },
    );
    return { ...result, ferryToBare: ratios(result['ferry'] as Record<string, unknown>, result['bare'] as Record<string, unknown>, ['p50Ms', 'p99Ms']) };
  } finally {
    await bare.process.stop(5_000);
  }
}

/** Scenario 5: idle connections (no channel) held by one client process; the broker's RSS before and after. */
async function idleConnections(settings: ScenarioSettings): Promise<Record<string, unknown>> {
  const count = settings.quick ? 100 : 10_000;
  const settleMs = settings.quick ? 500 : 3_000;
  const results: Record<string, Record<string, unknown> | null> = { ferry: null, rabbitmq: null };
  for (const broker of [brokersOf().ferry, brokersOf().rabbitmq]) {
    if (broker === null) continue;
    progress(`  ${broker.name}: opening ${count} connections`);
    const before = processUsage(broker.pid);
    const client = new ClientProcess(`${broker.name} idle client`, { port: broker.amqpPort, idleConnections: count });
    try {
      // Ferry opens about 30 connections a second here (a scrypt per login): allow 200 ms each.
      await client.next('ready', Math.max(CLIENT_STEP_TIMEOUT_MS, count * 200));
      const report = (await client.next('report')).report;
      const opened = processUsage(broker.pid);
      await new Promise((resolve) => setTimeout(resolve, settleMs));
      const settled = processUsage(broker.pid);
      const rssDeltaBytes = settled.rssBytes - before.rssBytes;
      const fields = {
        connections: report.idleOpened,
        rssPerConnectionKiB: round(rssDeltaBytes / count / 1024, 1),
        rssBeforeMB: round(before.rssBytes / MB, 1),
        rssAfterMB: round(settled.rssBytes / MB, 1),
        openSeconds: report.idleOpenSeconds,
        connectionsPerSec: Math.round(count / (report.idleOpenSeconds ?? Number.NaN)),
        brokerCpuPerConnectionUs: round((1e6 * (opened.cpuSeconds - before.cpuSeconds)) / count, 1),
        idleBrokerCpuPercent: round((100 * (settled.cpuSeconds - opened.cpuSeconds)) / (settleMs / 1000), 1),
        clientCpuSeconds: round(report.cpuSeconds, 2),
      };
      progress(`  ${broker.name}: ${JSON.stringify(fields)}`);
      results[broker.name] = fields;
    } finally {
      await client.close();
    }
  }
  const ferry = results['ferry']!;
  const rabbitmq = results['rabbitmq'] ?? null;
  return { ferry, rabbitmq, ratio: ratios(ferry, rabbitmq, ['rssPerConnectionKiB', 'brokerCpuPerConnectionUs']), ...brokerInfo() };
}

/**
 * Issue 7's scenarios 1 to 5 (and issue 3's queues-1000 over AMQP), with the idle connections first: the RSS
 * delta of brokers fresh from start is not blurred by what earlier flows left
 * to the garbage collector (Node) or in allocators (Erlang).
 */
const SCENARIOS = [
  scenarioWithTargets(
    'idle-connections-10k',
    [
      { field: 'ferry.connections', atLeast: 10_000 },
      { field: 'ratio.rssPerConnectionKiB', atMost: 1 },
    ],
    idleConnections,
  ),
  scenarioWithTargets(
    'persistent-confirms',
    [
      { field: 'ratio.msgsPerSec', atLeast: 2 },
      { field: 'ratio.brokerCpuPerMessageUs', atMost: 0.5 },
      { field: 'ferry.lost', atMost: 0 },
      { field: 'ferry.duplicates', atMost: 0 },
    ],
    persistentConfirms,
  ),
  scenarioWithTargets(
    'transient',
    [
      { field: 'ratio.brokerCpuPerMessageUs', atMost: 1 / 3 },
      { field: 'ferry.lost', atMost: 0 },
      { field: 'ferry.duplicates', atMost: 0 },
    ],
    transient,
  ),
  scenarioWithTargets(
    'transient-2-clients',
    [
      { field: 'ratio.msgsPerSec', atLeast: 1.5 },
      { field: 'ferry.lost', atMost: 0 },
    ],
    transientTwoClients,
  ),
  scenarioWithTargets(
    'fanout-4',
    [
      { field: 'ratio.deliveriesPerSec', atLeast: 2 },
      { field: 'ferry.lost', atMost: 0 },
    ],
    fanout4,
  ),
  // Issue 3's row is judged in process (bench:core); here nothing may be lost or doubled.
  scenarioWithTargets(
    'queues-1000',
    [
      { field: 'ferry.many.lost', atMost: 0 },
      { field: 'ferry.many.duplicates', atMost: 0 },
      { field: 'ferry.single.lost', atMost: 0 },
    ],
    queues1000,
  ),
  // Both must keep the rate for the quantiles to mean something; then Ferry's p50 at most RabbitMQ's, its p99 at most half.
  scenarioWithTargets(
    'steady-5k',
    [
      { field: 'ferry.msgsPerSec', atLeast: STEADY_RATE_PER_SECOND * 0.95 },
      { field: 'rabbitmq.msgsPerSec', atLeast: STEADY_RATE_PER_SECOND * 0.95 },
      { field: 'ratio.p50Ms', atMost: 1 },
      { field: 'ratio.p99Ms', atMost: 0.5 },
    ],
    steadyRate,
  ),
];

// ---------------------------------------------------------------- main

async function versionOf(broker: BrokerUnderTest): Promise<string> {
  return withAdmin(broker, async (_channel, connection) => String(connection.connection.serverProperties.version ?? 'unknown'));
}

async function main(argv: readonly string[]): Promise<void> {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-amqp-bench-brokers-'));
  let ferry: FerryProcess | null = null;
  let rabbitmq: RabbitMqProcess | null = null;
  try {
    const nodeFlags = (process.env['FERRY_BENCH_NODE_FLAGS'] ?? '').split(' ').filter((flag) => flag !== '');
    ferry = await FerryProcess.start({
      dataDirectory: path.join(directory, 'ferry'),
      // 10,000 idle connections plus the benchmark's own.
      flags: ['--connections-max', '20000'],
      nodeFlags,
    });
    // Registered after Ferry's process, so the kill hook runs first on an abnormal exit.
    process.once('exit', () => fs.rmSync(directory, { recursive: true, force: true }));
    progress(`ferry: pid ${ferry.pid}, amqp port ${ferry.amqpPort}`);

    let rabbitmqSkipped: string | null = null;
    const located = process.env['FERRY_BENCH_RABBITMQ'] === 'off' ? { missing: 'FERRY_BENCH_RABBITMQ=off' } : RabbitMqProcess.locate();
    if ('missing' in located) {
      rabbitmqSkipped = located.missing;
    } else {
      try {
        progress('rabbitmq: starting a private node');
        rabbitmq = await RabbitMqProcess.start(path.join(directory, 'rabbitmq'), located);
        progress(`rabbitmq: beam.smp pid ${rabbitmq.pid}, amqp port ${rabbitmq.amqpPort}`);
      } catch (error) {
        rabbitmqSkipped = `rabbitmq-server did not start: ${error instanceof Error ? error.message : String(error)}`;
      }
    }
    if (rabbitmqSkipped !== null) progress(`SKIPPING RabbitMQ: ${rabbitmqSkipped}. Ferry is measured alone; lines carry "rabbitmq": null.`);

    const versions: Record<string, string> = { ferry: await versionOf(ferry) };
    if (rabbitmq !== null) versions['rabbitmq'] = await versionOf(rabbitmq);
    brokers = { ferry, rabbitmq, rabbitmqSkipped, versions };
    await runScenarios('amqp', SCENARIOS, argv);
  } finally {
    await ferry?.stop();
    await rabbitmq?.stop();
    fs.rmSync(directory, { recursive: true, force: true });
  }
}

await main(process.argv.slice(2));
