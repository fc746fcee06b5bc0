/** The log levels, least severe first. */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;

/** One of {@link LOG_LEVELS}; a logger drops entries below its level. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Extra fields of a log entry; values must survive JSON.stringify. */
export type LogFields = Readonly<Record<string, unknown>>;

/** Settings of a {@link Logger}. */
export interface LoggerOptions {
  /** Entries below this level are dropped. */
  readonly level: LogLevel;
  /** Receives one complete line (with its newline) per entry; defaults to stderr. */
  readonly write?: (line: string) => void;
  /** The entry's wall time; defaults to the system clock. */
  readonly now?: () => Date;
  /** Fields added to every entry of this logger. */
  readonly fields?: LogFields;
}

/**
 * A structured logger writing one JSON object per line:
 * `{"time":"2024-01-01T00:00:00.000Z","level":"info","msg":"server started","port":15672}`.
 * Fields never override `time`, `level` or `msg`. `child(fields)` returns a
 * logger that adds `fields` to every entry.
 */
export class Logger {
  private readonly levelRank: number;
  private readonly write: (line: string) => void;
  private readonly now: () => Date;
  private readonly fields: LogFields;

  constructor(private readonly options: LoggerOptions) {
    this.levelRank = LOG_LEVELS.indexOf(options.level);
    this.write = options.write ?? ((line) => process.stderr.write(line));
    this.now = options.now ?? (() => new Date());
    this.fields = options.fields ?? {};
  }

  /** A logger with the same settings that adds `fields` to every entry. */
  child(fields: LogFields): Logger {
    return new Logger({ ...this.options, fields: { ...this.fields, ...fields } });
  }

  /** True when entries of `level` are written. */
  enabled(level: LogLevel): boolean {
    return LOG_LEVELS.indexOf(level) >= this.levelRank;
  }

  /** Logs detail useful only when diagnosing. */
  debug(message: string, fields?: LogFields): void {
    this.log('debug', message, fields);
  }

  /** Logs a normal event of the server's life (started, stopped). */
  info(message: string, fields?: LogFields): void {
    this.log('info', message, fields);
  }

  /** Logs something unexpected that the server survives. */
  warn(message: string, fields?: LogFields): void {
    this.log('warn', message, fields);
  }

  /** Logs a failure that needs an operator's attention. */
  error(message: string, fields?: LogFields): void {
    this.log('error', message, fields);
  }

  /** Writes one entry at `level` when the level is enabled. */
  log(level: LogLevel, message: string, fields?: LogFields): void {
    if (!this.enabled(level)) return;
    // Key order: time, level and msg first, so lines read well unparsed; fields cannot override them.
    const entry: Record<string, unknown> = { time: this.now().toISOString(), level, msg: message };
    for (const [key, value] of Object.entries({ ...this.fields, ...fields })) if (!(key in entry)) entry[key] = value;
    this.write(`${JSON.stringify(entry, replaceErrors)}\n`);
  }
}

/** JSON.stringify drops an Error's fields; keep its code and message. */
function replaceErrors(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return code === undefined ? { message: value.message } : { code, message: value.message };
  }
  return value;
}
