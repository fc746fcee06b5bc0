import { readFileSync } from 'node:fs';
import { isFerryError } from '../lib/ferry-error.js';
import { CONFIG_FILE_VARIABLE, environmentVariableOf, loadConfig, SETTINGS } from '../server/config.js';
import { Logger } from '../server/logger.js';
import { startServer } from '../server/server.js';

/** Exit codes of the `ferry` command. */
export const EXIT_CODES = {
  success: 0,
  /** Startup failed: invalid config, port in use, data directory locked, storage error. */
  failure: 1,
  /** The command line itself is wrong: unknown command or flag, missing value. */
  usage: 2,
} as const;

const USAGE = `Usage: ferry <command> [flags]

Commands:
  serve    start the Ferry server

Run "ferry serve --help" for the server's flags.
`;

function serveUsage(): string {
  const width = Math.max(...SETTINGS.map((setting) => setting.name.length)) + 8;
  const lines = SETTINGS.map((setting) => {
    const flag = `--${setting.name}${setting.kind === 'boolean' ? '' : setting.kind === 'optional-path' ? ' FILE' : ' VALUE'}`.padEnd(width + 6);
    const defaultText = setting.kind === 'boolean' || setting.defaultValue === '' ? '' : ` (default ${String(setting.defaultValue)})`;
    return `  ${flag} ${setting.description}${defaultText}; env ${environmentVariableOf(setting.name)}`;
  });
  return `Usage: ferry serve [flags]

Starts the server and prints one line per listener once ready; logs go to
stderr as JSON lines. SIGTERM or SIGINT shuts it down gracefully.

Flags (precedence: flags > environment > config file > defaults):
  ${'--config FILE'.padEnd(width + 6)} JSON file of settings keyed by flag name; env ${CONFIG_FILE_VARIABLE}
${lines.join('\n')}
`;
}

/** Where the command writes; tests may capture it. */
export interface CommandStreams {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

const PROCESS_STREAMS: CommandStreams = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

/**
 * Runs the `ferry` command with `argv` (the arguments after the program name)
 * and resolves with the process's exit code (see {@link EXIT_CODES}). For
 * `serve`, it resolves only after a signal has shut the server down.
 */
export async function main(
  argv: readonly string[],
  environment: Readonly<Record<string, string | undefined>> = process.env,
  streams: CommandStreams = PROCESS_STREAMS,
): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined) {
    streams.stderr(USAGE);
    return EXIT_CODES.usage;
  }
  if (command === '--help' || command === '-h' || command === 'help') {
    streams.stdout(USAGE);
    return EXIT_CODES.success;
  }
  if (command === 'serve') return serve(rest, environment, streams);
  streams.stderr(`ferry: unknown command ${JSON.stringify(command)}; run "ferry --help"\n`);
  return EXIT_CODES.usage;
}

async function serve(
  argv: readonly string[],
  environment: Readonly<Record<string, string | undefined>>,
  streams: CommandStreams,
): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    streams.stdout(serveUsage());
    return EXIT_CODES.success;
  }
  let server;
  try {
    const config = loadConfig(argv, environment, (path) => readFileSync(path, 'utf8'));
    const logger = new Logger({ level: config.logLevel, write: streams.stderr });
    server = await startServer(config, { logger });
  } catch (error) {
    // Exactly one line, so scripts and supervisors show the cause as it is.
    const message = (error instanceof Error ? error.message : String(error)).replace(/\s*\n\s*/g, ' ');
    if (isFerryError(error, 'INVALID_USAGE')) {
      streams.stderr(`ferry: ${message}; run "ferry serve --help" for the flags\n`);
      return EXIT_CODES.usage;
    }
    streams.stderr(`ferry: ${message}\n`);
    return EXIT_CODES.failure;
  }
  for (const address of server.addresses) streams.stdout(`ferry: ${address.protocol} listening on ${address.url}\n`);

  const running = server;
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    // `once`: a second signal meets Node's default handler and ends the process at once.
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  try {
    await running.close();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    streams.stderr(`ferry: shutdown after ${signal} failed: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
    return EXIT_CODES.failure;
  }
  return EXIT_CODES.success;
}
