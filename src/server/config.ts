import { parseArgs } from 'node:util';
import type { Durability } from '../core/ports.js';
import { FerryError } from '../lib/ferry-error.js';
import { LOG_OPTION_DEFAULTS } from '../storage/file-log.js';
import { FILE_LOG_STORE_DEFAULTS } from '../storage/file-log-store.js';
import { BATCH_HEADER_BYTES } from '../storage/record-batch.js';
import type { StorageTuning } from './core-storage.js';
import { LOG_LEVELS, type LogLevel } from './logger.js';

/**
 * The validated settings of one `ferry serve` process. Build it with
 * {@link loadConfig}; every field is set (defaults fill the gaps).
 */
export interface ServerConfig {
  /** Directory of the embedded file storage; ignored when `memory` is true. */
  readonly dataDirectory: string;
  /** Keep everything in memory: nothing is written to disk, nothing survives a restart. */
  readonly memory: boolean;
  /** Interface every listener binds to. */
  readonly host: string;
  /** Port of health, readiness, metrics and the management API; 0 picks a free port. */
  readonly httpPort: number;
  /** AMQP 0-9-1 port; 0 picks a free port. */
  readonly amqpPort: number;
  /** Native protocol port; 0 picks a free port. */
  readonly nativePort: number;
  /** MQTT port; stored only, the listener arrives with its issue. */
  readonly mqttPort: number;
  /** Kafka wire protocol port; stored only, the listener arrives with its issue. */
  readonly kafkaPort: number;
  /** SQS API port; stored only, the listener arrives with its issue. */
  readonly sqsPort: number;
  /** When an append is durable: after fsync (`always`), within the flush interval, or never. */
  readonly durability: Durability;
  /** Log entries below this level are dropped. */
  readonly logLevel: LogLevel;
  /** Largest message body accepted, in bytes. */
  readonly messageBytesMax: number;
  /** Most queues per vhost. */
  readonly queuesMax: number;
  /** Most vhosts. */
  readonly vhostsMax: number;
  /** Publishers block above this memory use; 0 means 40% of the machine's memory. */
  readonly memoryHighWatermarkBytes: number;
  /** Publishers block below this free space on the data directory's disk. */
  readonly diskFreeLimitBytes: number;
  /** Most connections per protocol listener. */
  readonly connectionsMax: number;
  /** Largest AMQP frame offered. */
  readonly amqpFrameMax: number;
  /** Most channels per AMQP connection. */
  readonly amqpChannelMax: number;
  /** AMQP heartbeat interval offered, in seconds. */
  readonly amqpHeartbeatSeconds: number;
  /** Largest native protocol frame accepted, header included. */
  readonly nativeFrameMax: number;
  /** Most channels per native connection. */
  readonly nativeChannelMax: number;
  /** Native heartbeat interval offered, in seconds (0 disables). */
  readonly nativeHeartbeatSeconds: number;
  /** Most consumers and stream subscriptions per native channel. */
  readonly nativeConsumersMax: number;
  /** Most messages (or delivery tags) in one native publish, append, ack or nack; most one pull or stream read returns. */
  readonly nativeBatchMessagesMax: number;
  /** Most messages in one HTTP publish or append request. */
  readonly httpBatchMessagesMax: number;
  /** Most messages one HTTP pull or stream read returns; the largest prefetch of an HTTP queue subscription. */
  readonly httpPullMessagesMax: number;
  /** Longest an HTTP pull or stream read waits for a first message, in milliseconds. */
  readonly httpWaitMsMax: number;
  /** Most HTTP subscriptions (server-sent events and WebSocket) open at once. */
  readonly httpSubscriptionsMax: number;
  /** Tuning of the embedded file storage (`storage-*` settings); ignored when `memory` is true. */
  readonly storage: Required<StorageTuning>;
  /** Keep V8's allocation-site pretenuring on (Broker.start turns it off unless this is true). */
  readonly gcPretenuring: boolean;
  /** A definitions document (JSON, as `GET /api/definitions` exports it) imported at start, after recovery; null for none. */
  readonly definitionsFile: string | null;
  /** The JSON config file read, if any. */
  readonly configFile: string | null;
  /** Where each setting's value came from: `default`, `--flag`, `FERRY_…` or `config file PATH`. */
  readonly sources: Readonly<Record<SettingName, string>>;
}

/** The names of the settings, as used by flags and config file keys (`http-port`). */
export type SettingName =
  | 'data-dir'
  | 'memory'
  | 'gc-pretenuring'
  | 'host'
  | 'http-port'
  | 'amqp-port'
  | 'native-port'
  | 'mqtt-port'
  | 'kafka-port'
  | 'sqs-port'
  | 'durability'
  | 'log-level'
  | 'message-bytes-max'
  | 'queues-max'
  | 'vhosts-max'
  | 'memory-high-watermark-bytes'
  | 'disk-free-limit-bytes'
  | 'connections-max'
  | 'amqp-frame-max'
  | 'amqp-channel-max'
  | 'amqp-heartbeat-seconds'
  | 'native-frame-max'
  | 'native-channel-max'
  | 'native-heartbeat-seconds'
  | 'native-consumers-max'
  | 'native-batch-messages-max'
  | 'http-batch-messages-max'
  | 'http-pull-messages-max'
  | 'http-wait-ms-max'
  | 'http-subscriptions-max'
  | 'definitions'
  | 'storage-journal-bytes-max'
  | 'storage-journal-preallocate-bytes'
  | 'storage-journal-sync-interval-ms'
  | 'storage-checkpoint-interval-ms'
  | 'storage-direct-write-bytes-min'
  | 'storage-group-start-bytes'
  | 'storage-run-record-bytes-max'
  | 'storage-runs-held-ms-max'
  | 'storage-runs-held-bytes-max'
  | 'storage-segment-bytes-max'
  | 'storage-segment-age-ms-max'
  | 'storage-segment-flush-bytes'
  | 'storage-segment-flush-interval-ms'
  | 'storage-segment-writes-in-flight-max'
  | 'storage-index-interval-bytes'
  | 'storage-cache-bytes-max'
  | 'storage-retention-check-interval-ms'
  | 'storage-ack-batch-ms-max'
  | 'storage-ack-batch-queues-min';

type SettingKind = 'path' | 'optional-path' | 'boolean' | 'host' | 'port' | 'durability' | 'log-level' | 'count';

interface SettingSpecification {
  readonly name: SettingName;
  readonly kind: SettingKind;
  readonly defaultValue: string | number | boolean;
  readonly description: string;
  /** Of a `count`: the values accepted, inclusive; without it, any whole number of 0 or more. */
  readonly range?: { readonly minimum: number; readonly maximum: number };
}

/** Node fires a timer of a longer delay at once (TimeoutOverflowWarning), so no interval may exceed it. */
const TIMER_DELAY_MS_MAX = 2 ** 31 - 1;
/** Positive whole numbers, for sizes and counts where 0 means nothing (the store refuses it). */
const POSITIVE = { minimum: 1, maximum: Number.MAX_SAFE_INTEGER };
/** Timer periods of the store: positive, and within what a Node timer can wait. */
const INTERVAL_MS = { minimum: 1, maximum: TIMER_DELAY_MS_MAX };
const WITHOUT_MEMORY = 'no effect with --memory';

const DURABILITIES: readonly Durability[] = ['always', 'interval', 'never'];

/**
 * Every setting with its default, in the order `--help` lists them. The flag is
 * `--<name>`, the environment variable `FERRY_<NAME>` (upper snake case) and the
 * config file key `<name>`.
 */
export const SETTINGS: readonly SettingSpecification[] = [
  { name: 'data-dir', kind: 'path', defaultValue: './data', description: 'directory of the on-disk storage' },
  { name: 'memory', kind: 'boolean', defaultValue: false, description: 'keep everything in memory (nothing on disk)' },
  { name: 'host', kind: 'host', defaultValue: '127.0.0.1', description: 'interface the listeners bind to' },
  { name: 'http-port', kind: 'port', defaultValue: 15672, description: 'HTTP port: health, readiness, metrics, management API; 0 picks a free port' },
  { name: 'amqp-port', kind: 'port', defaultValue: 5672, description: 'AMQP 0-9-1 port; 0 picks a free port' },
  { name: 'native-port', kind: 'port', defaultValue: 7420, description: 'native protocol port; 0 picks a free port' },
  { name: 'mqtt-port', kind: 'port', defaultValue: 1883, description: 'MQTT port (listener not yet available)' },
  { name: 'kafka-port', kind: 'port', defaultValue: 9092, description: 'Kafka port (listener not yet available)' },
  { name: 'sqs-port', kind: 'port', defaultValue: 9324, description: 'SQS API port (listener not yet available)' },
  { name: 'durability', kind: 'durability', defaultValue: 'always', description: 'always | interval | never' },
  { name: 'log-level', kind: 'log-level', defaultValue: 'info', description: 'debug | info | warn | error' },
  { name: 'message-bytes-max', kind: 'count', defaultValue: 16 * 1024 * 1024, description: 'largest message body accepted, in bytes' },
  { name: 'queues-max', kind: 'count', defaultValue: 100_000, description: 'most queues per vhost' },
  { name: 'vhosts-max', kind: 'count', defaultValue: 1_000, description: 'most vhosts' },
  { name: 'memory-high-watermark-bytes', kind: 'count', defaultValue: 0, description: 'publishers block above this memory use; 0 means 40% of the machine' },
  { name: 'disk-free-limit-bytes', kind: 'count', defaultValue: 50 * 1024 * 1024, description: 'publishers block below this free disk space' },
  { name: 'connections-max', kind: 'count', defaultValue: 10_000, description: 'most connections per protocol listener' },
  { name: 'amqp-frame-max', kind: 'count', defaultValue: 131_072, description: 'largest AMQP frame offered in connection.tune (4096 or more)' },
  { name: 'amqp-channel-max', kind: 'count', defaultValue: 2047, description: 'most channels per AMQP connection' },
  { name: 'amqp-heartbeat-seconds', kind: 'count', defaultValue: 60, description: 'AMQP heartbeat interval offered; 0 disables' },
  { name: 'native-frame-max', kind: 'count', defaultValue: 16 * 1024 * 1024 + 64 * 1024, description: 'largest native protocol frame accepted, header included (4096 or more)' },
  { name: 'native-channel-max', kind: 'count', defaultValue: 2047, description: 'most channels per native connection' },
  { name: 'native-heartbeat-seconds', kind: 'count', defaultValue: 60, description: 'native heartbeat interval offered; 0 disables' },
  { name: 'native-consumers-max', kind: 'count', defaultValue: 1024, description: 'most consumers and stream subscriptions per native channel' },
  { name: 'native-batch-messages-max', kind: 'count', defaultValue: 100_000, description: 'most messages in one native publish, append, ack or nack (and returned by one pull or read)' },
  { name: 'http-batch-messages-max', kind: 'count', defaultValue: 1_000, description: 'most messages in one HTTP publish request' },
  { name: 'http-pull-messages-max', kind: 'count', defaultValue: 1_000, description: 'most messages one HTTP pull or stream read returns (and largest subscription prefetch)' },
  { name: 'http-wait-ms-max', kind: 'count', defaultValue: 30_000, description: 'longest wait of an HTTP pull or stream read, in milliseconds' },
  { name: 'http-subscriptions-max', kind: 'count', defaultValue: 1_000, description: 'most HTTP subscriptions (SSE and WebSocket) open at once' },
  {
    name: 'gc-pretenuring',
    kind: 'boolean',
    defaultValue: false,
    description: "keep V8's allocation-site pretenuring, which the broker otherwise turns off: it moves per-message objects to the old generation after a burst, where they slow every later scavenge",
  },
  { name: 'definitions', kind: 'optional-path', defaultValue: '', description: 'definitions JSON file (as GET /api/definitions exports) imported at start' },
  // The embedded file store's tuning (src/storage/file-log-store.ts); defaults are the store's own.
  {
    name: 'storage-journal-bytes-max',
    kind: 'count',
    defaultValue: FILE_LOG_STORE_DEFAULTS.journalBytesMax,
    // A journal holding only its 32-byte header must stay below the limit, or checkpoints would run back to back.
    range: { minimum: 1024, maximum: Number.MAX_SAFE_INTEGER },
    description: `a checkpoint starts when the journal reaches this many bytes (1024 or more); ${WITHOUT_MEMORY}`,
  },
  {
    name: 'storage-journal-preallocate-bytes',
    kind: 'count',
    defaultValue: FILE_LOG_STORE_DEFAULTS.journalPreallocateBytes,
    description: `with durability always, journal files are zero-filled to this many bytes ahead of use (0: never); ${WITHOUT_MEMORY}`,
  },
  {
    name: 'storage-journal-sync-interval-ms',
    kind: 'count',
    defaultValue: FILE_LOG_STORE_DEFAULTS.flushIntervalMs,
    range: INTERVAL_MS,
    description: `with durability interval, how often the journal is fsynced, in milliseconds; ${WITHOUT_MEMORY}`,
  },
  {
    name: 'storage-checkpoint-interval-ms',
    kind: 'count',
    defaultValue: FILE_LOG_STORE_DEFAULTS.checkpointIntervalMs,
    range: INTERVAL_MS,
    description: `a checkpoint starts at least this often while anything was written, in milliseconds; ${WITHOUT_MEMORY}`,
  },
  {
    name: 'storage-direct-write-bytes-min',
    kind: 'count',
    defaultValue: FILE_LOG_STORE_DEFAULTS.directWriteBytesMin,
    range: POSITIVE,
    description: `with durability always, a log's batches of one group commit adding up to this many bytes are fsynced in their segment, the journal only pointing at them; ${WITHOUT_MEMORY}`,
  },
  {
    name: 'storage-group-start-bytes',
    kind: 'count',
    defaultValue: FILE_LOG_STORE_DEFAULTS.groupStartBytes,
    range: POSITIVE,
    description: `a group commit that gathers this many bytes is written at once when a write slot is free, instead of at the end of the event-loop turn; ${WITHOUT_MEMORY}`,
  },
  {
    name: 'storage-run-record-bytes-max',
    kind: 'count',
    defaultValue: FILE_LOG_STORE_DEFAULTS.runRecordBytesMax,
    // The store refuses a run that would not fit a batch of batchBytesMax with its header.
    range: { minimum: 0, maximum: FILE_LOG_STORE_DEFAULTS.batchBytesMax - BATCH_HEADER_BYTES },
    description: `an append whose records take at most this many bytes is journaled as a run shared with other logs' small appends and framed into a batch later (0: every append is a batch); ${WITHOUT_MEMORY}`,
  },
  {
    name: 'storage-runs-held-ms-max',
    kind: 'count',
    defaultValue: FILE_LOG_STORE_DEFAULTS.runsHeldMsMax,
    range: INTERVAL_MS,
    description: `runs are framed into their logs' segments once held this many milliseconds (checked at each segment flush); ${WITHOUT_MEMORY}`,
  },
  {
    name: 'storage-runs-held-bytes-max',
    kind: 'count',
    defaultValue: FILE_LOG_STORE_DEFAULTS.runsHeldBytesMax,
    range: POSITIVE,
    description: `the older half of the runs held is framed into their logs' segments once they add up to this many bytes (their memory is held until then); ${WITHOUT_MEMORY}`,
  },
  {
    name: 'storage-segment-bytes-max',
    kind: 'count',
    defaultValue: LOG_OPTION_DEFAULTS.segmentBytesMax,
    // resolveLogOptions (src/storage/file-log.ts) refuses segments outside 1 KiB to 2 GiB.
    range: { minimum: 1024, maximum: 2 ** 31 },
    description: `segment size, in bytes, of logs created from now on, unless a stream sets its own (1024 to 2147483648); ${WITHOUT_MEMORY}`,
  },
  {
    name: 'storage-segment-age-ms-max',
    kind: 'count',
    defaultValue: LOG_OPTION_DEFAULTS.segmentAgeMsMax,
    range: POSITIVE,
    description: `a segment of a log created from now on is sealed at the first append after its first record is this old, in milliseconds; ${WITHOUT_MEMORY}`,
  },
  {
    name: 'storage-segment-flush-bytes',
    kind: 'count',
    defaultValue: FILE_LOG_STORE_DEFAULTS.segmentFlushBytes,
    range: POSITIVE,
    description: `a log's segment is written once this many bytes wait in memory; ${WITHOUT_MEMORY}`,
  },
  {
    name: 'storage-segment-flush-interval-ms',
    kind: 'count',
    defaultValue: FILE_LOG_STORE_DEFAULTS.segmentFlushIntervalMs,
    range: INTERVAL_MS,
    description: `the segment flush tick, in milliseconds: a log's unwritten segment bytes are written at the tick once they reach 1/16 of storage-segment-flush-bytes, and within 10 ticks whatever their size; ${WITHOUT_MEMORY}`,
  },
  {
    name: 'storage-segment-writes-in-flight-max',
    kind: 'count',
    defaultValue: FILE_LOG_STORE_DEFAULTS.segmentWritesInFlightMax,
    range: POSITIVE,
    description: `segment writes (one log's unwritten bytes each) in flight at once; ${WITHOUT_MEMORY}`,
  },
  {
    name: 'storage-index-interval-bytes',
    kind: 'count',
    defaultValue: FILE_LOG_STORE_DEFAULTS.indexIntervalBytes,
    range: POSITIVE,
    description: `one sparse index entry per this many bytes of a segment; ${WITHOUT_MEMORY}`,
  },
  {
    name: 'storage-cache-bytes-max',
    kind: 'count',
    defaultValue: FILE_LOG_STORE_DEFAULTS.cacheBytesMax,
    range: POSITIVE,
    description: `memory for written batches kept for readers at the tail, shared by all logs (each gets 64 KiB to 4 MiB); ${WITHOUT_MEMORY}`,
  },
  {
    name: 'storage-retention-check-interval-ms',
    kind: 'count',
    defaultValue: FILE_LOG_STORE_DEFAULTS.retentionCheckIntervalMs,
    range: INTERVAL_MS,
    description: `how often retention runs, in milliseconds; ${WITHOUT_MEMORY}`,
  },
  {
    name: 'storage-ack-batch-ms-max',
    kind: 'count',
    defaultValue: FILE_LOG_STORE_DEFAULTS.deferredGatherMsMax,
    range: INTERVAL_MS,
    description: `while storage-ack-batch-queues-min or more queues have acks nobody waits for (AMQP's) to log at once, each queue's are logged together, at most this many milliseconds after the first; ${WITHOUT_MEMORY}`,
  },
  {
    name: 'storage-ack-batch-queues-min',
    kind: 'count',
    defaultValue: FILE_LOG_STORE_DEFAULTS.deferredGatherersMin,
    range: POSITIVE,
    description: `how many queues must have such acks waiting at once before any waits past the next group commit (see storage-ack-batch-ms-max); ${WITHOUT_MEMORY}`,
  },
];

/** The environment variable naming the config file (the `--config` flag wins over it). */
export const CONFIG_FILE_VARIABLE = 'FERRY_CONFIG';

/** The environment variable of a setting: `http-port` → `FERRY_HTTP_PORT`. */
export function environmentVariableOf(name: SettingName): string {
  return `FERRY_${name.toUpperCase().replace(/-/g, '_')}`;
}

/**
 * An invalid configuration: an unreadable or malformed config file, an unknown
 * key or a value out of range. The message is one line naming the setting and
 * where the value came from.
 */
export class ConfigError extends FerryError<'INVALID_CONFIG'> {
  /** The setting at fault (`config` for the config file itself). */
  readonly setting: string;
  /** Where the bad value came from, such as `--http-port` or `FERRY_HOST`. */
  readonly source: string;

  constructor(setting: string, source: string, reason: string, options?: { cause?: unknown }) {
    super('INVALID_CONFIG', oneLine(`invalid setting ${setting} from ${source}: ${reason}`), options);
    this.name = 'ConfigError';
    this.setting = setting;
    this.source = source;
  }
}

/** Reads a whole text file; throws when it cannot. */
export type ReadTextFile = (path: string) => string;

/**
 * Builds the server's configuration from, lowest precedence first: defaults,
 * the JSON config file (`--config FILE` or `FERRY_CONFIG`), `FERRY_*`
 * environment variables, then flags. `argv` holds the arguments after
 * `serve`, without `--help` (the caller handles it).
 *
 * Throws a {@link ConfigError} (`INVALID_CONFIG`) for a bad file, key or value,
 * and a FerryError `INVALID_USAGE` for an unknown flag, a flag without its
 * value or a stray argument.
 */
export function loadConfig(
  argv: readonly string[],
  environment: Readonly<Record<string, string | undefined>>,
  readFile: ReadTextFile,
): ServerConfig {
  const flags = parseFlags(argv);
  const values = new Map<SettingName, unknown>();
  const sources = new Map<SettingName, string>();
  for (const setting of SETTINGS) {
    values.set(setting.name, setting.defaultValue);
    sources.set(setting.name, 'default');
  }

  let configFile: string | null = null;
  const configFlag = flags['config'];
  const configVariable = environment[CONFIG_FILE_VARIABLE];
  if (typeof configFlag === 'string') configFile = readConfigFile(configFlag, '--config', readFile, values, sources);
  else if (configVariable !== undefined && configVariable !== '') {
    configFile = readConfigFile(configVariable, CONFIG_FILE_VARIABLE, readFile, values, sources);
  }

  for (const setting of SETTINGS) {
    const variable = environmentVariableOf(setting.name);
    const raw = environment[variable];
    if (raw === undefined || raw === '') continue;
    values.set(setting.name, parseValue(setting, raw, variable));
    sources.set(setting.name, variable);
  }

  for (const setting of SETTINGS) {
    const raw = flags[setting.name];
    if (raw === undefined) continue;
    values.set(setting.name, parseValue(setting, raw, `--${setting.name}`));
    sources.set(setting.name, `--${setting.name}`);
  }

  const value = <T>(name: SettingName): T => values.get(name) as T;
  return {
    dataDirectory: value<string>('data-dir'),
    memory: value<boolean>('memory'),
    gcPretenuring: value<boolean>('gc-pretenuring'),
    host: value<string>('host'),
    httpPort: value<number>('http-port'),
    amqpPort: value<number>('amqp-port'),
    nativePort: value<number>('native-port'),
    mqttPort: value<number>('mqtt-port'),
    kafkaPort: value<number>('kafka-port'),
    sqsPort: value<number>('sqs-port'),
    durability: value<Durability>('durability'),
    logLevel: value<LogLevel>('log-level'),
    messageBytesMax: value<number>('message-bytes-max'),
    queuesMax: value<number>('queues-max'),
    vhostsMax: value<number>('vhosts-max'),
    memoryHighWatermarkBytes: value<number>('memory-high-watermark-bytes'),
    diskFreeLimitBytes: value<number>('disk-free-limit-bytes'),
    connectionsMax: value<number>('connections-max'),
    amqpFrameMax: Math.max(4096, value<number>('amqp-frame-max')),
    amqpChannelMax: value<number>('amqp-channel-max'),
    amqpHeartbeatSeconds: value<number>('amqp-heartbeat-seconds'),
    nativeFrameMax: Math.max(4096, value<number>('native-frame-max')),
    nativeChannelMax: value<number>('native-channel-max'),
    nativeHeartbeatSeconds: value<number>('native-heartbeat-seconds'),
    nativeConsumersMax: value<number>('native-consumers-max'),
    nativeBatchMessagesMax: Math.max(1, value<number>('native-batch-messages-max')),
    // A batch or pull of none could do nothing: at least one.
    httpBatchMessagesMax: Math.max(1, value<number>('http-batch-messages-max')),
    httpPullMessagesMax: Math.max(1, value<number>('http-pull-messages-max')),
    httpWaitMsMax: value<number>('http-wait-ms-max'),
    httpSubscriptionsMax: value<number>('http-subscriptions-max'),
    definitionsFile: value<string>('definitions') === '' ? null : value<string>('definitions'),
    storage: {
      journalBytesMax: value<number>('storage-journal-bytes-max'),
      journalPreallocateBytes: value<number>('storage-journal-preallocate-bytes'),
      flushIntervalMs: value<number>('storage-journal-sync-interval-ms'),
      checkpointIntervalMs: value<number>('storage-checkpoint-interval-ms'),
      directWriteBytesMin: value<number>('storage-direct-write-bytes-min'),
      groupStartBytes: value<number>('storage-group-start-bytes'),
      runRecordBytesMax: value<number>('storage-run-record-bytes-max'),
      runsHeldMsMax: value<number>('storage-runs-held-ms-max'),
      runsHeldBytesMax: value<number>('storage-runs-held-bytes-max'),
      segmentBytesMax: value<number>('storage-segment-bytes-max'),
      segmentAgeMsMax: value<number>('storage-segment-age-ms-max'),
      segmentFlushBytes: value<number>('storage-segment-flush-bytes'),
      segmentFlushIntervalMs: value<number>('storage-segment-flush-interval-ms'),
      segmentWritesInFlightMax: value<number>('storage-segment-writes-in-flight-max'),
      indexIntervalBytes: value<number>('storage-index-interval-bytes'),
      cacheBytesMax: value<number>('storage-cache-bytes-max'),
      retentionCheckIntervalMs: value<number>('storage-retention-check-interval-ms'),
      deferredGatherMsMax: value<number>('storage-ack-batch-ms-max'),
      deferredGatherersMin: value<number>('storage-ack-batch-queues-min'),
    },
    configFile,
    sources: Object.fromEntries(sources) as Record<SettingName, string>,
  };
}

function parseFlags(argv: readonly string[]): Record<string, string | boolean | undefined> {
  const options: Record<string, { type: 'string' | 'boolean' }> = { config: { type: 'string' } };
  for (const setting of SETTINGS) options[setting.name] = { type: setting.kind === 'boolean' ? 'boolean' : 'string' };
  try {
    return parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    // Node's messages go on with advice about `--`; the first sentence says what is wrong.
    const message = error instanceof Error ? error.message.split(/\.\s/)[0]! : String(error);
    throw new FerryError('INVALID_USAGE', oneLine(message), { cause: error });
  }
}

function readConfigFile(
  path: string,
  source: string,
  readFile: ReadTextFile,
  values: Map<SettingName, unknown>,
  sources: Map<SettingName, string>,
): string {
  let text: string;
  try {
    text = readFile(path);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConfigError('config', source, `cannot read file ${JSON.stringify(path)}: ${reason}`, { cause: error });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConfigError('config', source, `file ${JSON.stringify(path)} is not valid JSON (${reason})`, { cause: error });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError('config', source, `file ${JSON.stringify(path)} must hold a JSON object`);
  }
  const fileSource = `config file ${path}`;
  for (const [key, raw] of Object.entries(parsed)) {
    const setting = SETTINGS.find((candidate) => candidate.name === key);
    if (setting === undefined) {
      throw new ConfigError(key, fileSource, `unknown key (known keys: ${SETTINGS.map((known) => known.name).join(', ')})`);
    }
    values.set(setting.name, parseValue(setting, raw, fileSource));
    sources.set(setting.name, fileSource);
  }
  return path;
}

/** Validates one raw value (a string from flags and environment, any JSON value from the file). */
function parseValue(setting: SettingSpecification, raw: unknown, source: string): string | number | boolean {
  const fail = (reason: string): never => {
    throw new ConfigError(setting.name, source, `${JSON.stringify(raw)} ${reason}`);
  };
  switch (setting.kind) {
    case 'count': {
      const { minimum, maximum } = setting.range ?? { minimum: 0, maximum: Number.MAX_SAFE_INTEGER };
      const count = typeof raw === 'number' ? raw : typeof raw === 'string' && /^[0-9]{1,15}$/.test(raw) ? Number(raw) : NaN;
      if (Number.isSafeInteger(count) && count >= minimum && count <= maximum) return count;
      return fail(setting.range === undefined ? 'is not a whole number of 0 or more' : `is not a whole number from ${minimum} to ${maximum}`);
    }
    case 'port': {
      if (typeof raw === 'number' && Number.isInteger(raw) && raw >= 0 && raw <= 65_535) return raw;
      if (typeof raw === 'string' && /^[0-9]{1,5}$/.test(raw) && Number(raw) <= 65_535) return Number(raw);
      return fail('is not a port number (0-65535)');
    }
    case 'boolean': {
      if (typeof raw === 'boolean') return raw;
      if (raw === 'true' || raw === '1') return true;
      if (raw === 'false' || raw === '0') return false;
      return fail('is not a boolean (true, false, 1 or 0)');
    }
    case 'path': {
      if (typeof raw === 'string' && raw.length > 0) return raw;
      return fail('is not a directory path');
    }
    case 'optional-path': {
      if (typeof raw === 'string') return raw;
      return fail('is not a file path');
    }
    case 'host': {
      if (typeof raw === 'string' && raw.length > 0 && !/\s/.test(raw)) return raw;
      return fail('is not a host name or address');
    }
    case 'durability': {
      if (typeof raw === 'string' && (DURABILITIES as readonly string[]).includes(raw)) return raw;
      return fail(`is not one of ${DURABILITIES.join(', ')}`);
    }
    case 'log-level': {
      if (typeof raw === 'string' && (LOG_LEVELS as readonly string[]).includes(raw)) return raw;
      return fail(`is not one of ${LOG_LEVELS.join(', ')}`);
    }
  }
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ');
}
