import { randomBytes } from 'node:crypto';
import { FerryError } from '../../lib/ferry-error.js';
import { AmqpBenchmark, redactedUrl, type AmqpBenchmarkResult, type AmqpBenchmarkSettings, type BenchmarkSnapshot } from '../bench/amqp-benchmark.js';
import type { LatencySummary } from '../bench/latency-histogram.js';
import { ProgressBar } from '../bench/progress-bar.js';
import type { CommandArguments } from '../command-arguments.js';
import { defineCommand } from '../define-command.js';
import { EXIT_CODES } from '../exit-codes.js';
import { formatDuration } from '../format-duration.js';
import { formatNumber, formatTable } from '../format-table.js';
import { TerminalStyle } from '../terminal-style.js';

const PROGRESS_INTERVAL_MS = 250;
const STALL_TIMEOUT_MS = 30_000;

/** `ferry bench`: a throughput and latency run over AMQP 0-9-1 against any Ferry (or RabbitMQ). */
export const benchCommand = defineCommand({
  name: 'bench',
  synopsis: '[flags]',
  description: `Measures throughput and latency over AMQP 0-9-1 (amqplib) against a running
Ferry, or any AMQP 0-9-1 broker. It declares a temporary queue ferry-bench-*,
starts --consumers connections that consume it with manual acks, and
--publishers connections that publish to it on confirm channels, for --seconds
or until --messages messages are published and consumed. Then it deletes the
queue, also when stopped with Ctrl-C (which prints what was measured so far
and exits 130).

While it runs, a progress line on stderr (when stderr is a terminal) shows the
elapsed time and the current rates. At the end it prints a table: messages and
messages per second published (confirmed) and consumed, and latency
percentiles in ms: for published, publish to confirm; for consumed, publish to
delivery (every body carries its send time, so publishers and consumers run in
this process).`,
  flags: {
    'amqp-url': { type: 'string', valueName: 'URL', description: 'broker to measure, with user, password and vhost', environment: 'FERRY_AMQP_URL', defaultValue: 'amqp://guest:guest@127.0.0.1:5672' },
    seconds: { type: 'string', short: 's', valueName: 'N', description: 'publish for N seconds', defaultValue: '10' },
    messages: { type: 'string', short: 'm', valueName: 'N', description: 'publish N messages and consume them all, instead of --seconds' },
    size: { type: 'string', valueName: 'BYTES', description: 'message body size, 8 or more', defaultValue: '100' },
    publishers: { type: 'string', valueName: 'N', description: 'publishing connections', defaultValue: '1' },
    consumers: { type: 'string', valueName: 'N', description: 'consuming connections; 0 measures publishing alone', defaultValue: '1' },
    'confirm-window': { type: 'string', valueName: 'N', description: 'most unconfirmed messages per publisher', defaultValue: '256' },
    prefetch: { type: 'string', valueName: 'N', description: 'prefetch count per consumer', defaultValue: '256' },
    transient: { type: 'boolean', description: 'transient queue and messages (default: durable queue, persistent messages, so a confirm means on disk)' },
    json: { type: 'boolean', description: 'print the results as one JSON object' },
  },
  positionals: { min: 0, max: 0 },
  examples: ['ferry bench', 'ferry bench --messages 100000 --size 1024 --publishers 4 --consumers 4', 'ferry bench --amqp-url amqp://guest:guest@127.0.0.1:5672/%2F --seconds 30 --json'],
  async run(parsed, context) {
    const settings = settingsOf(parsed);
    const benchmark = new AmqpBenchmark(settings);
    const interrupted = context.interruption();
    const progress = context.stderrIsTerminal ? new ProgressBar(context.streams.stderr) : null;
    let previous: BenchmarkSnapshot = benchmark.snapshot();
    const timer = progress
      ? setInterval(() => {
          const current = benchmark.snapshot();
          progress.draw(fractionOf(settings, current), progressText(current, previous));
          previous = current;
        }, PROGRESS_INTERVAL_MS)
      : undefined;
    let result: AmqpBenchmarkResult;
    try {
      result = await benchmark.run(interrupted);
    } finally {
      clearInterval(timer);
      progress?.clear();
    }
    if (parsed.boolean('json')) {
      context.streams.stdout(`${JSON.stringify(jsonOf(settings, result))}\n`);
    } else {
      context.streams.stdout(summaryOf(settings, result, TerminalStyle.for(context.stdoutIsTerminal, context.environment)));
    }
    return result.completed ? EXIT_CODES.success : EXIT_CODES.interrupted;
  },
});

function settingsOf(parsed: CommandArguments): AmqpBenchmarkSettings {
  const amqpUrl = parsed.requiredString('amqp-url');
  let protocol: string;
  try {
    protocol = new URL(amqpUrl).protocol;
  } catch {
    throw new FerryError('INVALID_USAGE', `--amqp-url ${JSON.stringify(redactedUrl(amqpUrl))} is not a URL`);
  }
  if (protocol !== 'amqp:' && protocol !== 'amqps:') throw new FerryError('INVALID_USAGE', '--amqp-url must start with amqp:// or amqps://');
  const messages = parsed.integer('messages', 1, 1_000_000_000) ?? null;
  // --seconds has a default, so only an explicit one conflicts with --messages.
  if (messages !== null && parsed.given('seconds')) {
    throw new FerryError('INVALID_USAGE', 'give --seconds or --messages, not both');
  }
  const seconds = messages === null ? parsed.integer('seconds', 1, 86_400)! : null;
  return {
    amqpUrl,
    queue: `ferry-bench-${randomBytes(6).toString('hex')}`,
    durationMs: seconds === null ? null : seconds * 1_000,
    messages,
    sizeBytes: parsed.integer('size', 8, 16 * 1024 * 1024)!,
    publishers: parsed.integer('publishers', 1, 100)!,
    consumers: parsed.integer('consumers', 0, 100)!,
    confirmWindow: parsed.integer('confirm-window', 1, 100_000)!,
    prefetch: parsed.integer('prefetch', 1, 65_535)!,
    persistent: !parsed.boolean('transient'),
    stallTimeoutMs: STALL_TIMEOUT_MS,
  };
}

/** How far the run is: by time, or by messages consumed (confirmed when nobody consumes). */
function fractionOf(settings: AmqpBenchmarkSettings, snapshot: BenchmarkSnapshot): number {
  if (settings.durationMs !== null) return snapshot.elapsedMs / settings.durationMs;
  const done = settings.consumers > 0 ? snapshot.consumed : snapshot.confirmed;
  return done / settings.messages!;
}

function progressText(current: BenchmarkSnapshot, previous: BenchmarkSnapshot): string {
  const seconds = (current.elapsedMs - previous.elapsedMs) / 1_000;
  const rate = (now: number, before: number): string => formatNumber(seconds > 0 ? Math.round((now - before) / seconds) : 0);
  return `${formatDuration(current.elapsedMs)}  published ${rate(current.confirmed, previous.confirmed)} msgs/s  consumed ${rate(current.consumed, previous.consumed)} msgs/s`;
}

function summaryOf(settings: AmqpBenchmarkSettings, result: AmqpBenchmarkResult, style: TerminalStyle): string {
  const plural = (count: number, noun: string): string => `${count} ${noun}${count === 1 ? '' : 's'}`;
  const extent = settings.durationMs !== null ? formatDuration(settings.durationMs) : `${formatNumber(settings.messages!)} messages`;
  const heading = [
    `ferry bench: ${plural(settings.publishers, 'publisher')}, ${plural(settings.consumers, 'consumer')}, ${formatNumber(settings.sizeBytes)}-byte ${settings.persistent ? 'persistent' : 'transient'} messages, ${extent}`,
    `against ${redactedUrl(settings.amqpUrl)}; ran ${formatDuration(result.durationMs)}${result.completed ? '' : ` (${style.yellow('interrupted')})`}; queue ${settings.queue} deleted`,
  ];
  const round = (value: number): number => Math.round(value * 100) / 100;
  const rows = [
    { name: 'published', messages: result.confirmed, rate: Math.round(result.publishedPerSecond), latency: result.confirmLatencyMs },
    // With no consumers there is nothing to show but zeros.
    ...(settings.consumers > 0 ? [{ name: 'consumed', messages: result.consumed, rate: Math.round(result.consumedPerSecond), latency: result.endToEndLatencyMs }] : []),
  ];
  const table = formatTable(
    [
      { header: '', value: (row: (typeof rows)[number]) => row.name },
      { header: 'messages', value: (row) => row.messages },
      { header: 'msgs/s', value: (row) => row.rate },
      { header: 'p50 ms', value: (row) => round(row.latency.p50) },
      { header: 'p95 ms', value: (row) => round(row.latency.p95) },
      { header: 'p99 ms', value: (row) => round(row.latency.p99) },
      { header: 'max ms', value: (row) => round(row.latency.max) },
    ],
    rows,
    style,
  );
  const notes = ['latency: published = publish to confirm, consumed = publish to delivery'];
  if (result.nacked > 0) notes.push(style.yellow(`${formatNumber(result.nacked)} messages were refused by the broker (nack)`));
  return `${heading.join('\n')}\n\n${table}\n${notes.join('\n')}\n`;
}

function jsonOf(settings: AmqpBenchmarkSettings, result: AmqpBenchmarkResult): Record<string, unknown> {
  // Microseconds are the finest digit that means anything here.
  const fine = (value: number): number => Math.round(value * 1_000) / 1_000;
  const latency = (summary: LatencySummary): Record<string, number> => ({ p50: fine(summary.p50), p95: fine(summary.p95), p99: fine(summary.p99), max: fine(summary.max) });
  return {
    settings: {
      amqp_url: redactedUrl(settings.amqpUrl),
      seconds: settings.durationMs === null ? null : settings.durationMs / 1_000,
      messages: settings.messages,
      size_bytes: settings.sizeBytes,
      publishers: settings.publishers,
      consumers: settings.consumers,
      confirm_window: settings.confirmWindow,
      prefetch: settings.prefetch,
      persistent: settings.persistent,
    },
    queue: settings.queue,
    completed: result.completed,
    duration_ms: fine(result.durationMs),
    published: { messages: result.published, confirmed: result.confirmed, nacked: result.nacked, per_second: fine(result.publishedPerSecond), confirm_latency_ms: latency(result.confirmLatencyMs) },
    consumed: { messages: result.consumed, per_second: fine(result.consumedPerSecond), latency_ms: latency(result.endToEndLatencyMs) },
  };
}
