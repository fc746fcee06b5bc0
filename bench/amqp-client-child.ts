/**
 * The client half of amqp.bench.ts: one forked process running amqplib
 * against one broker, so the clients' CPU time is neither the broker's nor the
 * benchmark driver's. A process may publish, consume, both (each on its own
 * connection), or hold idle connections. Nothing goes to stdout.
 *
 * IPC conversation (parent → child / child → parent):
 *
 *   plan ──────────▶              connects, declares nothing, starts consumers
 *        ◀────────── ready         (idle: once every connection is open)
 *   go ────────────▶              publisher starts (the clock starts here)
 *        ◀────────── progress      consumers: messages every queue has had, every 20 ms
 *   consumed ──────▶              publishers: the least progress over all consumers
 *        ◀────────── published     every publish sent (and confirmed)
 *   expect ────────▶              how many messages each publisher sent
 *        ◀────────── report        consumers have them all (or timed out)
 *   close ─────────▶              closes its connections and exits 0
 *
 * Publishers stay at most `backlogMax` messages ahead of the consumers (as
 * reported through the parent), so a consumer slower than its publisher meets
 * a short queue, not an ever-longer one, and the run ends in bounded time.
 * Any failure is sent as `failed` and the process exits 1.
 *
 * Every message body starts with a 16-byte header, the rest is filler:
 *
 *   0        4          8                  16
 *   ┌────────┬──────────┬──────────────────┬──────────────┐
 *   │ pub id │ sequence │ sent at (ns, f64) │ filler ...   │
 *   └────────┴──────────┴──────────────────┴──────────────┘
 *   u32 LE    u32 LE     CLOCK_MONOTONIC (process.hrtime), shared by all
 *                        processes on the machine, so latency can cross them
 *
 * Consumers keep a seen-bitmap per queue and publisher and count duplicates
 * and, once told how many were published, lost messages.
 */
import { once } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import * as amqp from 'amqplib';
import { patternBytes, quantile, round, SampleBuffer } from './scenario-runner.js';

/** What one client process does; the first IPC message. */
export interface ClientPlan {
  readonly port: number;
  readonly publish?: PublishPlan;
  readonly consume?: ConsumePlan;
  /** Connections to open and leave idle (no channel) until `close`. */
  readonly idleConnections?: number;
  /**
   * Latencies (publish to delivery, publish to confirm) are sampled only for messages sent at
   * least this long after `go`: a fresh client process runs amqplib unoptimised at first, and
   * its stalls then are the measuring instrument warming up, not the broker. Default 0.
   */
  readonly latencyFromMs?: number;
}

/** One publisher on its own connection and channel. */
export interface PublishPlan {
  /** Written into every message, so consumers can tell publishers apart. */
  readonly publisherId: number;
  readonly exchange: string;
  readonly routingKey: string;
  /** When given, message `sequence` goes to `routingKeys[sequence % length]` (round-robin) instead of `routingKey`. */
  readonly routingKeys?: readonly string[];
  /** delivery-mode 2 when true, 1 otherwise. */
  readonly persistent: boolean;
  /** Most publishes awaiting their confirm; 0 publishes on a channel without confirms. */
  readonly confirmWindow: number;
  readonly bodyBytes: number;
  /** Publishing stops after this long or `countMax` messages, whichever comes first. */
  readonly durationMs: number;
  readonly countMax: number;
  /** Steady publish rate in messages per second; 0 publishes as fast as the broker takes them. */
  readonly ratePerSecond: number;
  /** Most messages published but not yet consumed from every queue (this publisher's share when there are several). */
  readonly backlogMax: number;
  /** Publishers sharing the consumers; each takes this share of the consumed count. */
  readonly publishers: number;
}

/** Consumers on one connection, one channel each. */
export interface ConsumePlan {
  readonly queues: readonly string[];
  /** basic.qos prefetch count of each channel. */
  readonly prefetch: number;
  /** Publisher ids that feed the queues are 0 .. publishers-1, each sending at most `countMaxPerPublisher`. */
  readonly publishers: number;
  readonly countMaxPerPublisher: number;
  /** How long to wait after `expect` for the last message before reporting it lost. */
  readonly drainTimeoutMs: number;
  /**
   * Deliveries per basic.ack: 1 acks each delivery; n > 1 acks every n-th with
   * `multiple` (and what is left at the end of each event-loop turn).
   */
  readonly ackEvery: number;
  /**
   * True when the publishers send round-robin over the queues (PublishPlan.routingKeys, in
   * the same order): message `sequence` is expected on queue `sequence % queues.length` only,
   * instead of on every queue.
   */
  readonly roundRobin?: boolean;
}

/** What a publisher did, in the `published` message. */
export interface PublishResult {
  readonly publisherId: number;
  readonly published: number;
  /** process.hrtime of the first publish and of the last confirm (or send), in ns. */
  readonly startNs: number;
  readonly endNs: number;
  /** Publish-to-confirm latency; null without confirms. */
  readonly confirmP50Ms: number | null;
  readonly confirmP99Ms: number | null;
  readonly nacked: number;
}

/** What the consumers of one process saw, in the `report` message. */
export interface ConsumeResult {
  readonly deliveries: number;
  /** Distinct (queue, publisher, sequence) triples delivered. */
  readonly unique: number;
  readonly duplicates: number;
  /** Expected (queue, publisher, sequence) triples never delivered. */
  readonly lost: number;
  /** Deliveries of ids that were never published (corruption). */
  readonly unexpected: number;
  readonly redelivered: number;
  /** process.hrtime of the delivery that completed the set (or the last one), in ns. */
  readonly lastDeliveryNs: number;
  /** Publish-to-delivery latency. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

/** The final `report`: results and the process's own CPU time from `go` (idle: from the first connect) to the report. */
export interface ClientReport {
  readonly published: PublishResult | null;
  readonly consumed: ConsumeResult | null;
  /** Idle connections opened and how long opening them took. */
  readonly idleOpened: number | null;
  readonly idleOpenSeconds: number | null;
  readonly cpuSeconds: number;
}

/** Messages from the parent. */
export type ToClient =
  | { readonly kind: 'plan'; readonly plan: ClientPlan }
  | { readonly kind: 'go' }
  | { readonly kind: 'consumed'; readonly count: number }
  | { readonly kind: 'expect'; readonly perPublisher: readonly number[] }
  | { readonly kind: 'close' };

/** Messages to the parent. */
export type FromClient =
  | { readonly kind: 'ready' }
  | { readonly kind: 'progress'; readonly consumed: number }
  | { readonly kind: 'published'; readonly result: PublishResult }
  | { readonly kind: 'report'; readonly report: ClientReport }
  | { readonly kind: 'failed'; readonly message: string };

const HEADER_BYTES = 16;
/**
 * Idle connections opened at once: more than a broker verifies logins in
 * parallel (Ferry runs scrypt on libuv's 4 pool threads) only makes each wait longer.
 */
const OPEN_CONCURRENCY = 16;
/** How long the consumers keep listening, once complete, for duplicates that arrive late. */
const DUPLICATE_WATCH_MS = 200;
/** Longest wait for outstanding confirms once publishing stops. */
const CONFIRM_TIMEOUT_MS = 60_000;
/** How often consumers report their progress. */
const PROGRESS_INTERVAL_MS = 20;
/** Longest a publisher held back by the backlog sleeps before it looks at its deadline again. */
const BACKLOG_WAIT_MS_MAX = 100;

function nowNs(): number {
  return Number(process.hrtime.bigint());
}

function connect(port: number): Promise<amqp.ChannelModel> {
  // noDelay: amqplib turns Nagle's algorithm on otherwise, which adds delayed-ACK stalls to latency.
  // The timeout covers the handshake only: a login queued behind others at a busy broker is slow, not lost.
  return amqp.connect({ protocol: 'amqp', hostname: '127.0.0.1', port, username: 'guest', password: 'guest' }, { noDelay: true, timeout: 60_000 });
}

/** Publishes per `plan` on its own connection; resolves once every publish is sent and (with confirms) confirmed. */
async function publish(connection: amqp.ChannelModel, plan: PublishPlan, latencyFromNs: number): Promise<PublishResult> {
  const confirming = plan.confirmWindow > 0;
  const channel: amqp.Channel | amqp.ConfirmChannel = confirming ? await connection.createConfirmChannel() : await connection.createChannel();
  const filler = Buffer.from(patternBytes(plan.bodyBytes, plan.publisherId + 3));
  const options: amqp.Options.Publish = { persistent: plan.persistent };
  const confirmLatenciesMs = new SampleBuffer();
  let inFlight = 0;
  let nacked = 0;
  let windowOpened: (() => void) | null = null;
  let allConfirmed: (() => void) | null = null;
  const onConfirm = (sentNs: number) => (error: unknown) => {
    if (error) nacked++;
    if (sentNs >= latencyFromNs) confirmLatenciesMs.push((nowNs() - sentNs) / 1e6);
    inFlight--;
    if (windowOpened !== null) {
      const wake = windowOpened;
      windowOpened = null;
      wake();
    }
    if (inFlight === 0 && allConfirmed !== null) allConfirmed();
  };

  const startNs = nowNs();
  const deadlineNs = startNs + plan.durationMs * 1e6;
  const routingKeys = plan.routingKeys ?? [plan.routingKey];
  let sequence = 0;
  while (sequence < plan.countMax) {
    const sentNs = nowNs();
    if (sentNs >= deadlineNs) break;
    if (plan.ratePerSecond > 0) {
      // Steady rate: publish what is due by now, then sleep a millisecond.
      const due = Math.floor(((sentNs - startNs) / 1e9) * plan.ratePerSecond) + 1;
      if (sequence >= due) {
        await delay(1);
        continue;
      }
    }
    if (confirming && inFlight >= plan.confirmWindow) {
      await new Promise<void>((resolve) => (windowOpened = resolve));
      continue;
    }
    if (sequence - consumedByAll / plan.publishers >= plan.backlogMax) {
      await consumedMoved(BACKLOG_WAIT_MS_MAX);
      continue;
    }
    const body = Buffer.allocUnsafe(plan.bodyBytes);
    filler.copy(body);
    body.writeUInt32LE(plan.publisherId, 0);
    body.writeUInt32LE(sequence, 4);
    body.writeDoubleLE(sentNs, 8);
    const routingKey = routingKeys[sequence % routingKeys.length]!;
    sequence++;
    let writable: boolean;
    if (confirming) {
      inFlight++;
      writable = (channel as amqp.ConfirmChannel).publish(plan.exchange, routingKey, body, options, onConfirm(sentNs));
    } else {
      writable = channel.publish(plan.exchange, routingKey, body, options);
    }
    if (!writable) await once(channel, 'drain');
  }
  if (confirming && inFlight > 0) {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((resolve) => (allConfirmed = resolve)),
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${inFlight} publishes unconfirmed after ${CONFIRM_TIMEOUT_MS} ms`)), CONFIRM_TIMEOUT_MS))),
    ]).finally(() => clearTimeout(timer));
  }
  const endNs = nowNs();
  const confirms = confirmLatenciesMs.view();
  return {
    publisherId: plan.publisherId,
    published: sequence,
    startNs,
    endNs,
    confirmP50Ms: confirming ? round(quantile(confirms, 0.5)) : null,
    confirmP99Ms: confirming ? round(quantile(confirms, 0.99)) : null,
    nacked,
  };
}

/** Consumers on every queue of the plan, acking each delivery; see {@link ConsumeResult}. */
class Consumers {
  private readonly seen: Uint8Array[][];
  private readonly latenciesMs = new SampleBuffer();
  /** Distinct messages delivered per queue. */
  private readonly uniqueByQueue: number[];
  private deliveries = 0;
  private unique = 0;
  private duplicates = 0;
  private unexpected = 0;
  private redelivered = 0;
  private lastDeliveryNs = 0;
  private completedNs = 0;
  private expected: readonly number[] | null = null;
  private expectedUnique = Number.POSITIVE_INFINITY;
  private completed: (() => void) | null = null;
  private failure: Error | null = null;
  /** Per queue, with `ackEvery` > 1: the last delivery not yet acked. */
  private readonly pendingAcks: { channel: amqp.Channel; last: amqp.ConsumeMessage | null; count: number; scheduled: boolean }[] = [];

  private constructor(private readonly plan: ConsumePlan) {
    // Round-robin: one set of ids for all queues (each id belongs to one queue).
    const sets = plan.roundRobin === true ? 1 : plan.queues.length;
    this.seen = Array.from({ length: sets }, () => Array.from({ length: plan.publishers }, () => new Uint8Array(plan.countMaxPerPublisher)));
    this.uniqueByQueue = plan.queues.map(() => 0);
  }

  /** See {@link ClientPlan.latencyFromMs}. */
  private latencyFromNs = 0;

  sampleLatencyFrom(sentNs: number): void {
    this.latencyFromNs = sentNs;
  }

  /** Messages every queue has had (round-robin: messages consumed): what the publishers' backlog is measured against. */
  progress(): number {
    return this.plan.roundRobin === true ? this.unique : Math.min(...this.uniqueByQueue);
  }

  /** Opens one channel per queue on `connection` and starts consuming with manual acks. */
  static async start(connection: amqp.ChannelModel, plan: ConsumePlan): Promise<Consumers> {
    const consumers = new Consumers(plan);
    for (let index = 0; index < plan.queues.length; index++) {
      const channel = await connection.createChannel();
      await channel.prefetch(plan.prefetch);
      await channel.consume(plan.queues[index]!, (message) => consumers.onDelivery(channel, index, message), { noAck: false });
    }
    return consumers;
  }

  private onDelivery(channel: amqp.Channel, queueIndex: number, message: amqp.ConsumeMessage | null): void {
    if (message === null) {
      this.fail(new Error(`the broker cancelled the consumer of ${this.plan.queues[queueIndex]}`));
      return;
    }
    const arrivedNs = nowNs();
    this.deliveries++;
    if (message.fields.redelivered) this.redelivered++;
    this.acknowledge(channel, queueIndex, message);
    const content = message.content;
    const publisherId = content.length >= HEADER_BYTES ? content.readUInt32LE(0) : -1;
    const sequence = content.length >= HEADER_BYTES ? content.readUInt32LE(4) : -1;
    const roundRobin = this.plan.roundRobin === true;
    const seen = this.seen[roundRobin ? 0 : queueIndex]![publisherId];
    if (seen === undefined || sequence < 0 || sequence >= seen.length || (roundRobin && sequence % this.plan.queues.length !== queueIndex)) {
      this.unexpected++;
      return;
    }
    const sentNs = content.readDoubleLE(8);
    if (sentNs >= this.latencyFromNs) this.latenciesMs.push((arrivedNs - sentNs) / 1e6);
    if (seen[sequence] !== 0) {
      this.duplicates++;
      return;
    }
    seen[sequence] = 1;
    this.unique++;
    this.uniqueByQueue[queueIndex]!++;
    this.lastDeliveryNs = arrivedNs;
    if (this.unique >= this.expectedUnique) this.complete();
  }

  private acknowledge(channel: amqp.Channel, queueIndex: number, message: amqp.ConsumeMessage): void {
    if (this.plan.ackEvery <= 1) {
      channel.ack(message);
      return;
    }
    const pending = (this.pendingAcks[queueIndex] ??= { channel, last: null, count: 0, scheduled: false });
    pending.last = message;
    if (++pending.count >= this.plan.ackEvery) {
      channel.ack(message, true);
      pending.last = null;
      pending.count = 0;
    } else if (!pending.scheduled) {
      pending.scheduled = true;
      setImmediate(() => {
        pending.scheduled = false;
        if (pending.last !== null) pending.channel.ack(pending.last, true);
        pending.last = null;
        pending.count = 0;
      });
    }
  }

  private complete(): void {
    if (this.completedNs === 0) this.completedNs = this.lastDeliveryNs;
    this.completed?.();
  }

  private fail(error: Error): void {
    this.failure ??= error;
    this.completed?.();
  }

  /**
   * Resolves once every queue has every message the publishers sent
   * (`perPublisher[id]` each), plus a short watch for late duplicates, or
   * after the drain timeout; rejects when a consumer was cancelled.
   */
  async whenComplete(perPublisher: readonly number[]): Promise<ConsumeResult> {
    this.expected = perPublisher;
    this.expectedUnique = (this.plan.roundRobin === true ? 1 : this.plan.queues.length) * perPublisher.reduce((sum, count) => sum + count, 0);
    if (this.unique >= this.expectedUnique) this.complete();
    if (this.completedNs === 0 && this.failure === null) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.completed = resolve;
        timer = setTimeout(resolve, this.plan.drainTimeoutMs);
      }).finally(() => clearTimeout(timer));
    }
    if (this.failure !== null) throw this.failure;
    await delay(DUPLICATE_WATCH_MS);
    return this.result();
  }

  private result(): ConsumeResult {
    let lost = 0;
    let unexpected = this.unexpected;
    for (const queue of this.seen) {
      for (let publisherId = 0; publisherId < queue.length; publisherId++) {
        const seen = queue[publisherId]!;
        const expected = this.expected?.[publisherId] ?? 0;
        for (let sequence = 0; sequence < expected; sequence++) if (seen[sequence] === 0) lost++;
        // Delivered ids at or past the published count were never published.
        for (let sequence = expected; sequence < seen.length; sequence++) if (seen[sequence] !== 0) unexpected++;
      }
    }
    const latencies = this.latenciesMs.view();
    return {
      deliveries: this.deliveries,
      unique: this.unique,
      duplicates: this.duplicates,
      lost,
      unexpected,
      redelivered: this.redelivered,
      lastDeliveryNs: this.completedNs !== 0 ? this.completedNs : this.lastDeliveryNs,
      p50Ms: round(quantile(latencies, 0.5)),
      p99Ms: round(quantile(latencies, 0.99)),
      maxMs: round(latencies.reduce((max, value) => Math.max(max, value), 0)),
    };
  }
}

/** Opens `count` connections, OPEN_CONCURRENCY at a time. */
async function openIdle(port: number, count: number): Promise<amqp.ChannelModel[]> {
  const connections: amqp.ChannelModel[] = [];
  let next = 0;
  const opener = async (): Promise<void> => {
    while (next < count) {
      next++;
      const connection = await connect(port);
      connection.on('error', () => undefined);
      connections.push(connection);
    }
  };
  await Promise.all(Array.from({ length: Math.min(OPEN_CONCURRENCY, count) }, opener));
  return connections;
}

/** Closes `connections`, OPEN_CONCURRENCY at a time, each bounded to 5 s. */
async function closeAll(connections: readonly amqp.ChannelModel[]): Promise<void> {
  let next = 0;
  const closer = async (): Promise<void> => {
    while (next < connections.length) {
      const connection = connections[next++]!;
      // An unreferenced timer: once every close is done, it must not hold the process for 5 s.
      await Promise.race([connection.close().catch(() => undefined), delay(5_000, undefined, { ref: false })]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(OPEN_CONCURRENCY, connections.length) }, closer));
}

function send(message: FromClient): Promise<void> {
  return new Promise((resolve, reject) => process.send!(message, (error: Error | null) => (error ? reject(error) : resolve())));
}

/** Messages from the parent not yet asked for: IPC drops a message that arrives while nobody listens. */
const inbox: ToClient[] = [];
let inboxWaiter: (() => void) | null = null;
let parentGone = false;
/** The consumers' least progress, as the parent last reported it (`consumed` messages bypass the inbox). */
let consumedByAll = 0;
let consumedWaiter: (() => void) | null = null;
process.on('message', (message: ToClient) => {
  if (message.kind === 'consumed') {
    consumedByAll = Math.max(consumedByAll, message.count);
    consumedWaiter?.();
    return;
  }
  inbox.push(message);
  inboxWaiter?.();
});

/** Resolves when the parent reports more consumed messages, or after `timeoutMs`. */
async function consumedMoved(timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await new Promise<void>((resolve) => {
    consumedWaiter = resolve;
    timer = setTimeout(resolve, timeoutMs);
  });
  clearTimeout(timer);
  consumedWaiter = null;
}
process.once('disconnect', () => {
  parentGone = true;
  inboxWaiter?.();
});

/** The next IPC message of `kind` from the parent (earlier messages of other kinds are dropped). */
async function nextMessage<K extends ToClient['kind']>(kind: K): Promise<Extract<ToClient, { kind: K }>> {
  for (;;) {
    const message = inbox.shift();
    if (message?.kind === kind) return message as Extract<ToClient, { kind: K }>;
    if (message !== undefined) continue;
    if (parentGone) throw new Error(`the parent went away while this client waited for ${kind}`);
    await new Promise<void>((resolve) => (inboxWaiter = resolve));
    inboxWaiter = null;
  }
}

async function run(): Promise<void> {
  const { plan } = await nextMessage('plan');
  const connections: amqp.ChannelModel[] = [];
  const open = async (): Promise<amqp.ChannelModel> => {
    const connection = await connect(plan.port);
    connection.on('error', (error: Error) => void send({ kind: 'failed', message: `connection error: ${error.message}` }).finally(() => process.exit(1)));
    connections.push(connection);
    return connection;
  };
  let progressTimer: NodeJS.Timeout | null = null;
  try {
    if (plan.idleConnections !== undefined) {
      const cpuBefore = process.cpuUsage();
      const startMs = performance.now();
      const idle = await openIdle(plan.port, plan.idleConnections);
      connections.push(...idle);
      const openSeconds = (performance.now() - startMs) / 1000;
      const cpu = process.cpuUsage(cpuBefore);
      await send({ kind: 'ready' });
      await send({
        kind: 'report',
        report: { published: null, consumed: null, idleOpened: idle.length, idleOpenSeconds: round(openSeconds, 2), cpuSeconds: (cpu.user + cpu.system) / 1e6 },
      });
      await nextMessage('close');
      return;
    }

    const consumers = plan.consume ? await Consumers.start(await open(), plan.consume) : null;
    const publishConnection = plan.publish ? await open() : null;
    await send({ kind: 'ready' });
    await nextMessage('go');
    const latencyFromNs = nowNs() + (plan.latencyFromMs ?? 0) * 1e6;
    consumers?.sampleLatencyFrom(latencyFromNs);
    if (consumers) progressTimer = setInterval(() => void send({ kind: 'progress', consumed: consumers.progress() }).catch(() => undefined), PROGRESS_INTERVAL_MS);
    const cpuBefore = process.cpuUsage();
    let published: PublishResult | null = null;
    if (plan.publish) {
      published = await publish(publishConnection!, plan.publish, latencyFromNs);
      await send({ kind: 'published', result: published });
      if (consumers) {
        const consumed = await consumers.whenComplete((await nextMessage('expect')).perPublisher);
        await report(published, consumed);
      } else {
        await report(published, null);
      }
    } else if (consumers) {
      const consumed = await consumers.whenComplete((await nextMessage('expect')).perPublisher);
      await report(null, consumed);
    }
    clearInterval(progressTimer ?? undefined);
    await nextMessage('close');

    async function report(publishResult: PublishResult | null, consumed: ConsumeResult | null): Promise<void> {
      const cpu = process.cpuUsage(cpuBefore);
      await send({
        kind: 'report',
        report: {
          published: publishResult,
          consumed,
          idleOpened: null,
          idleOpenSeconds: null,
          cpuSeconds: (cpu.user + cpu.system) / 1e6,
        },
      });
    }
  } finally {
    clearInterval(progressTimer ?? undefined);
    await closeAll(connections);
  }
}

if (!process.send) {
  process.stderr.write('amqp-client-child: run by amqp.bench.js through fork()\n');
  process.exit(2);
}
try {
  await run();
  process.disconnect();
} catch (error) {
  await send({ kind: 'failed', message: error instanceof Error ? (error.stack ?? error.message) : String(error) }).catch(() => undefined);
  process.exit(1);
}
