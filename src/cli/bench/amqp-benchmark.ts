import { performance } from 'node:perf_hooks';
import * as amqp from 'amqplib';
import { FerryError, isFerryError } from '../../lib/ferry-error.js';
import { LatencyHistogram, type LatencySummary } from './latency-histogram.js';

/** What {@link AmqpBenchmark} runs. */
export interface AmqpBenchmarkSettings {
  /** `amqp://user:password@host:port/vhost`. */
  readonly amqpUrl: string;
  /** The temporary queue, declared at the start and deleted at the end. */
  readonly queue: string;
  /** Publish for this long, then stop; null when `messages` sets the end. */
  readonly durationMs: number | null;
  /** Publish this many messages and consume them all; null when `durationMs` sets the end. */
  readonly messages: number | null;
  /** Body size; at least 8 (the send time travels in the first 8 bytes). */
  readonly sizeBytes: number;
  /** Connections that publish, each on a confirm channel. */
  readonly publishers: number;
  /** Connections that consume with manual ack; 0 measures publishing alone. */
  readonly consumers: number;
  /** Most unconfirmed messages per publisher before it waits for confirms. */
  readonly confirmWindow: number;
  /** basic.qos prefetch count per consumer. */
  readonly prefetch: number;
  /** Durable queue and persistent messages (a confirm then means on disk), or transient both. */
  readonly persistent: boolean;
  /** With `messages`: fail when consumers receive nothing for this long while messages are outstanding. */
  readonly stallTimeoutMs: number;
}

/** The counters so far, for a progress line. */
export interface BenchmarkSnapshot {
  readonly elapsedMs: number;
  /** Messages published and confirmed by the broker. */
  readonly confirmed: number;
  readonly consumed: number;
}

/** The outcome of a run. */
export interface AmqpBenchmarkResult {
  /** False when the run was stopped early by its abort signal. */
  readonly completed: boolean;
  readonly durationMs: number;
  readonly published: number;
  readonly confirmed: number;
  /** Messages the broker refused (basic.nack). */
  readonly nacked: number;
  readonly consumed: number;
  /** Confirmed messages per second, from the start to the last confirm. */
  readonly publishedPerSecond: number;
  /** Consumed messages per second, from the start to the last delivery. */
  readonly consumedPerSecond: number;
  /** From publish to confirm. */
  readonly confirmLatencyMs: LatencySummary;
  /** From publish to delivery at a consumer. */
  readonly endToEndLatencyMs: LatencySummary;
}

/** Why fetch-like socket errors happened, for messages. */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ETIMEDOUT', 'ECONNRESET', 'EAI_AGAIN']);

/**
 * A throughput and latency run against any AMQP 0-9-1 broker (Ferry, RabbitMQ)
 * with amqplib: publishers on confirm channels and consumers with manual ack
 * share one temporary queue. Each body carries its send time
 * (`performance.now()`, float64 little-endian in the first 8 bytes), so
 * publishers and consumers must run in this one process.
 *
 * Use: `new AmqpBenchmark(settings)`, then `run(signal)`; `snapshot()` may be
 * polled meanwhile for progress. `run` deletes the queue before it settles,
 * whether it completes, fails or is aborted.
 */
export class AmqpBenchmark {
  private readonly confirmLatency = new LatencyHistogram();
  private readonly endToEndLatency = new LatencyHistogram();
  private readonly stop = new AbortController();
  private readonly connections: amqp.ChannelModel[] = [];
  private failure: unknown = null;
  private startMs = 0;
  private claimed = 0;
  private published = 0;
  private confirmed = 0;
  private nacked = 0;
  private consumed = 0;
  private lastConfirmMs = 0;
  private lastConsumeMs = 0;
  /** Wakes whoever waits for consumers to catch up. */
  private onConsumed: (() => void) | null = null;

  constructor(private readonly settings: AmqpBenchmarkSettings) {
    if (settings.sizeBytes < 8) throw new FerryError('INVALID_ARGUMENT', 'sizeBytes must be at least 8: the send time travels in the body');
    if ((settings.durationMs === null) === (settings.messages === null)) throw new FerryError('INVALID_ARGUMENT', 'give exactly one of durationMs and messages');
  }

  snapshot(): BenchmarkSnapshot {
    return { elapsedMs: this.startMs === 0 ? 0 : performance.now() - this.startMs, confirmed: this.confirmed, consumed: this.consumed };
  }

  /**
   * Declares the queue, runs publishers and consumers until the duration is
   * over or every message is consumed (or `signal` aborts), then closes every
   * connection and deletes the queue. Rejects with FerryError
   * `SERVER_UNREACHABLE` when the broker cannot be reached, `BENCHMARK_FAILED`
   * when a login, a channel or a connection fails.
   */
  async run(signal: AbortSignal): Promise<AmqpBenchmarkResult> {
    const { settings } = this;
    const control = await this.connect();
    let aborted = false;
    const onAbort = (): void => {
      aborted = true;
      this.halt();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) onAbort();
    try {
      const channel = await control.createChannel();
      channel.on('error', () => undefined);
      await channel.assertQueue(settings.queue, { durable: settings.persistent, autoDelete: false });
      channel.close().catch(() => undefined);
      let deadline: NodeJS.Timeout | undefined;
      try {
        await Promise.all(Array.from({ length: settings.consumers }, () => this.startConsumer()));
        this.startMs = performance.now();
        if (settings.durationMs !== null) deadline = setTimeout(() => this.halt(), settings.durationMs);
        await Promise.all(Array.from({ length: settings.publishers }, () => this.publish()));
        if (settings.messages !== null && settings.consumers > 0) await this.waitForConsumers();
      } finally {
        clearTimeout(deadline);
        this.halt();
        await Promise.all(this.connections.map((connection) => connection.close().catch(() => undefined)));
        await this.deleteQueue(control);
      }
    } catch (error) {
      this.fail(error);
    } finally {
      signal.removeEventListener('abort', onAbort);
      await control.close().catch(() => undefined);
    }
    if (this.failure !== null) throw asBenchmarkError(this.failure, settings.amqpUrl);
    return this.result(!aborted);
  }

  private result(completed: boolean): AmqpBenchmarkResult {
    const rate = (count: number, untilMs: number): number => (count === 0 || untilMs <= this.startMs ? 0 : count / ((untilMs - this.startMs) / 1_000));
    const endMs = Math.max(this.lastConfirmMs, this.lastConsumeMs, this.startMs);
    return {
      completed,
      durationMs: this.startMs === 0 ? 0 : endMs - this.startMs,
      published: this.published,
      confirmed: this.confirmed,
      nacked: this.nacked,
      consumed: this.consumed,
      publishedPerSecond: rate(this.confirmed, this.lastConfirmMs),
      consumedPerSecond: rate(this.consumed, this.lastConsumeMs),
      confirmLatencyMs: this.confirmLatency.summary(),
      endToEndLatencyMs: this.endToEndLatency.summary(),
    };
  }

  /** Stops publishing (and consuming): the duration is over, the run is aborted or it failed. */
  private halt(): void {
    this.stop.abort();
    this.onConsumed?.();
  }

  private fail(error: unknown): void {
    if (this.failure === null) this.failure = error;
    this.halt();
  }

  private async connect(): Promise<amqp.ChannelModel> {
    let connection: amqp.ChannelModel;
    try {
      connection = await amqp.connect(this.settings.amqpUrl);
    } catch (error) {
      throw asBenchmarkError(error, this.settings.amqpUrl);
    }
    // An 'error' event without a listener would end the process; the failure is reported by run().
    connection.on('error', (error: Error) => this.fail(error));
    connection.on('close', () => {
      if (!this.stop.signal.aborted) this.fail(new Error('the broker closed the connection'));
    });
    return connection;
  }

  private claim(): boolean {
    if (this.stop.signal.aborted) return false;
    if (this.settings.messages !== null && this.claimed >= this.settings.messages) return false;
    this.claimed++;
    return true;
  }

  /** One publisher: its own connection and confirm channel, at most `confirmWindow` messages unconfirmed. */
  private async publish(): Promise<void> {
    const connection = await this.connect();
    this.connections.push(connection);
    const channel = await connection.createConfirmChannel();
    channel.on('error', (error: Error) => this.fail(error));
    let unconfirmed = 0;
    let wake: (() => void) | null = null;
    const settled = (): void => {
      unconfirmed--;
      wake?.();
    };
    const waitUntil = async (condition: () => boolean): Promise<void> => {
      while (!condition()) await new Promise<void>((resolve) => (wake = resolve));
      wake = null;
    };
    const channelClosed = new Promise<void>((resolve) => channel.once('close', () => resolve()));
    while (this.claim()) {
      if (unconfirmed >= this.settings.confirmWindow) await waitUntil(() => unconfirmed < this.settings.confirmWindow);
      const body = Buffer.alloc(this.settings.sizeBytes);
      const sentMs = performance.now();
      body.writeDoubleLE(sentMs, 0);
      unconfirmed++;
      const writable = channel.publish('', this.settings.queue, body, { persistent: this.settings.persistent }, (error) => {
        if (error === null || error === undefined) {
          this.confirmed++;
          this.lastConfirmMs = performance.now();
          this.confirmLatency.record(this.lastConfirmMs - sentMs);
        } else if (error instanceof Error && error.message === 'message nacked') {
          this.nacked++;
        }
        settled();
      });
      this.published++;
      // The socket's buffer is full: wait for it to drain (or the channel to go).
      if (!writable) await Promise.race([new Promise<void>((resolve) => channel.once('drain', () => resolve())), channelClosed]);
    }
    // Closing the channel fails what is still unconfirmed, so wait for it (a closed channel settles them all).
    await waitUntil(() => unconfirmed <= 0);
  }

  /** One consumer: its own connection and channel, manual ack of every message. */
  private async startConsumer(): Promise<void> {
    const connection = await this.connect();
    this.connections.push(connection);
    const channel = await connection.createChannel();
    channel.on('error', (error: Error) => this.fail(error));
    await channel.prefetch(this.settings.prefetch);
    await channel.consume(
      this.settings.queue,
      (message) => {
        if (message === null) {
          if (!this.stop.signal.aborted) this.fail(new Error(`the broker cancelled the consumer of ${this.settings.queue}`));
          return;
        }
        if (this.stop.signal.aborted && this.settings.durationMs !== null) return;
        this.lastConsumeMs = performance.now();
        this.endToEndLatency.record(this.lastConsumeMs - message.content.readDoubleLE(0));
        this.consumed++;
        channel.ack(message);
        this.onConsumed?.();
      },
      { noAck: false },
    );
  }

  /** With `messages`: waits until every confirmed message is consumed, failing after `stallTimeoutMs` without progress. */
  private async waitForConsumers(): Promise<void> {
    while (!this.stop.signal.aborted && this.consumed < this.confirmed) {
      const before = this.consumed;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.settings.stallTimeoutMs);
        this.onConsumed = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.onConsumed = null;
      if (this.consumed === before && !this.stop.signal.aborted) {
        throw new FerryError(
          'BENCHMARK_FAILED',
          `consumers received nothing for ${this.settings.stallTimeoutMs} ms with ${this.confirmed - this.consumed} confirmed messages outstanding`,
        );
      }
    }
  }

  /** Deletes the queue on the control connection, or on a new one when that one is gone. */
  private async deleteQueue(control: amqp.ChannelModel): Promise<void> {
    const attempt = async (connection: amqp.ChannelModel): Promise<void> => {
      const channel = await connection.createChannel();
      channel.on('error', () => undefined);
      await channel.deleteQueue(this.settings.queue);
      await channel.close().catch(() => undefined);
    };
    try {
      await attempt(control);
    } catch {
      let fresh: amqp.ChannelModel | null = null;
      try {
        fresh = await amqp.connect(this.settings.amqpUrl);
        fresh.on('error', () => undefined);
        await attempt(fresh);
      } catch (error) {
        this.fail(new FerryError('BENCHMARK_FAILED', `could not delete the queue ${this.settings.queue}: ${messageOf(error)}`));
      } finally {
        await fresh?.close().catch(() => undefined);
      }
    }
  }
}

/** The broker address without its password, for messages. */
export function redactedUrl(amqpUrl: string): string {
  try {
    const url = new URL(amqpUrl);
    if (url.password !== '') url.password = '***';
    return url.toString();
  } catch {
    return '(an invalid URL)';
  }
}

function asBenchmarkError(error: unknown, amqpUrl: string): FerryError {
  if (isFerryError(error)) return error;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && UNREACHABLE_CODES.has(code)) {
    return new FerryError('SERVER_UNREACHABLE', `cannot reach ${redactedUrl(amqpUrl)}: ${messageOf(error)}`, { cause: error });
  }
  return new FerryError('BENCHMARK_FAILED', `${messageOf(error)} (${redactedUrl(amqpUrl)})`, { cause: error });
}

function messageOf(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text === '' && error instanceof AggregateError ? error.errors.map(messageOf).join('; ') : text;
}
