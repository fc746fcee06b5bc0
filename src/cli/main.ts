import { FerryError } from '../lib/ferry-error.js';
import type { Command, CommandContext, CommandStreams } from './command.js';
import { EXIT_CODES } from './exit-codes.js';

export { EXIT_CODES } from './exit-codes.js';
export type { CommandStreams } from './command.js';

/** A command of `ferry`, loaded only when run: `ferry queues` need not load the server or amqplib. */
interface CommandEntry {
  readonly name: string;
  /** One line for `ferry --help`. */
  readonly summary: string;
  readonly load: () => Promise<Command>;
}

const COMMANDS: readonly CommandEntry[] = [
  { name: 'serve', summary: 'start the Ferry server', load: async () => (await import('./commands/serve.js')).serveCommand },
  { name: 'status', summary: 'show version, uptime, listeners, totals, rates and alarms', load: async () => (await import('./commands/status.js')).statusCommand },
  { name: 'queues', summary: 'list queues with depth, consumers and rates', load: async () => (await import('./commands/queues.js')).queuesCommand },
  { name: 'exchanges', summary: 'list exchanges', load: async () => (await import('./commands/exchanges.js')).exchangesCommand },
  { name: 'bindings', summary: 'list bindings', load: async () => (await import('./commands/bindings.js')).bindingsCommand },
  { name: 'connections', summary: 'list client connections', load: async () => (await import('./commands/connections.js')).connectionsCommand },
  { name: 'publish', summary: 'publish one message to an exchange or queue', load: async () => (await import('./commands/publish.js')).publishCommand },
  { name: 'consume', summary: 'take messages from a queue and print them as they come', load: async () => (await import('./commands/consume.js')).consumeCommand },
  { name: 'purge', summary: "remove a queue's ready messages", load: async () => (await import('./commands/purge.js')).purgeCommand },
  { name: 'delete', summary: 'delete a queue or an exchange', load: async () => (await import('./commands/delete.js')).deleteCommand },
  { name: 'definitions', summary: 'export or import the topology as JSON', load: async () => (await import('./commands/definitions.js')).definitionsCommand },
  { name: 'bench', summary: 'measure throughput and latency over AMQP 0-9-1', load: async () => (await import('./commands/bench.js')).benchCommand },
];

function usage(): string {
  const width = Math.max(...COMMANDS.map((command) => command.name.length));
  return `Usage: ferry <command> [flags]

Commands:
${COMMANDS.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`).join('\n')}

Every command but serve talks to a running Ferry through its management HTTP API
(--url, --user, --password, --vhost; or FERRY_URL, FERRY_USER, FERRY_PASSWORD,
FERRY_VHOST); bench speaks AMQP 0-9-1 (--amqp-url or FERRY_AMQP_URL).
Run "ferry <command> --help" for a command's flags.

Exit codes: 0 success, 1 failure (the server's error code is printed), 2 usage error.
`;
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
  const [name, ...rest] = argv;
  if (name === undefined) {
    streams.stderr(usage());
    return EXIT_CODES.usage;
  }
  if (name === '--help' || name === '-h' || (name === 'help' && rest.length === 0)) {
    streams.stdout(usage());
    return EXIT_CODES.success;
  }
  // `ferry help queues` is `ferry queues --help`.
  const [commandName, commandArgv] = name === 'help' ? [rest[0]!, ['--help']] : [name, rest];
  const entry = COMMANDS.find((candidate) => candidate.name === commandName);
  if (entry === undefined) {
    streams.stderr(`ferry: unknown command ${JSON.stringify(commandName)}; run "ferry --help"\n`);
    return EXIT_CODES.usage;
  }
  const command = await entry.load();
  const interruption = new ProcessInterruption();
  // `ferry consume q | head -1`: once the reader is gone, stop (and take no more messages) instead of crashing.
  const onStdoutError = (error: NodeJS.ErrnoException): void => {
    if (error.code === 'EPIPE') interruption.interrupt();
  };
  process.stdout.on('error', onStdoutError);
  try {
    return await command.run(commandArgv, processContext(environment, streams, interruption));
  } finally {
    interruption.release();
    process.stdout.removeListener('error', onStdoutError);
  }
}

function processContext(
  environment: Readonly<Record<string, string | undefined>>,
  streams: CommandStreams,
  interruption: ProcessInterruption,
): CommandContext {
  return {
    environment,
    streams,
    stdoutIsTerminal: process.stdout.isTTY === true,
    stderrIsTerminal: process.stderr.isTTY === true,
    stdinIsTerminal: process.stdin.isTTY === true,
    readStdin: readStandardInput,
    interruption: () => interruption.signal(),
  };
}

/** SIGINT and SIGTERM (and a closed stdout) as an AbortSignal; the signals are taken over only once a command asks for it. */
class ProcessInterruption {
  private readonly controller = new AbortController();
  private listening = false;
  private readonly onSignal = (): void => {
    // The handlers go at once: a second signal meets Node's default and ends the process.
    this.release();
    this.controller.abort();
  };

  signal(): AbortSignal {
    if (!this.listening && !this.controller.signal.aborted) {
      this.listening = true;
      process.once('SIGINT', this.onSignal);
      process.once('SIGTERM', this.onSignal);
    }
    return this.controller.signal;
  }

  /** Aborts as a signal would: the command's output has nowhere to go. */
  interrupt(): void {
    this.controller.abort();
  }

  release(): void {
    process.removeListener('SIGINT', this.onSignal);
    process.removeListener('SIGTERM', this.onSignal);
  }
}

async function readStandardInput(bytesMax: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of process.stdin) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    bytes += buffer.byteLength;
    if (bytes > bytesMax) {
      throw new FerryError('INVALID_USAGE', `standard input is larger than ${bytesMax} bytes`);
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}
