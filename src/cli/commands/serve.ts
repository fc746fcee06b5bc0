import { readFileSync } from 'node:fs';
import { isFerryError } from '../../lib/ferry-error.js';
import { CONFIG_FILE_VARIABLE, environmentVariableOf, loadConfig, SETTINGS } from '../../server/config.js';
import { Logger } from '../../server/logger.js';
import { startServer } from '../../server/server.js';
import type { Command } from '../command.js';
import { EXIT_CODES } from '../exit-codes.js';

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

/**
 * `ferry serve`: starts the server (src/server) with settings from flags,
 * environment and config file (its own parser, `loadConfig`), prints one line
 * per listener and resolves only after SIGTERM or SIGINT has shut it down.
 * The contract scripts rely on is in src/cli/README.md.
 */
export const serveCommand: Command = {
  name: 'serve',
  async run(argv, { environment, streams }) {
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
  },
};
