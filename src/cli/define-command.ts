import { parseArgs } from 'node:util';
import { FerryError, isFerryError } from '../lib/ferry-error.js';
import { CommandArguments } from './command-arguments.js';
import type { Command, CommandContext, FlagSpecification } from './command.js';
import { EXIT_CODES } from './exit-codes.js';

/** How many positional arguments a command takes. */
export interface PositionalCount {
  readonly min: number;
  readonly max: number;
}

/** Everything {@link defineCommand} needs to parse, document and run a command. */
export interface CommandSpecification {
  readonly name: string;
  /** What follows `ferry NAME` in the usage line, such as `QUEUE [flags]`. */
  readonly synopsis: string;
  /** The paragraph(s) of help under the usage line. */
  readonly description: string;
  readonly flags: Readonly<Record<string, FlagSpecification>>;
  readonly positionals: PositionalCount;
  readonly examples?: readonly string[];
  /**
   * Runs the parsed command and resolves with its exit code. A thrown
   * FerryError `INVALID_USAGE` exits 2 pointing at `--help`; any other
   * failure prints one line (`ferry: CODE: message`) and exits 1.
   */
  readonly run: (parsed: CommandArguments, context: CommandContext) => Promise<number>;
}

/** The flag every command has. */
const HELP_FLAG: FlagSpecification = { type: 'boolean', short: 'h', description: 'show this help and exit' };

/**
 * A {@link Command} from a specification: `--help` / `-h` prints generated
 * help, flags are parsed strictly with Node's `parseArgs` (an unknown flag or
 * a missing value is a usage error, exit 2), and failures become one line on
 * stderr with the exit codes of EXIT_CODES.
 */
export function defineCommand(specification: CommandSpecification): Command {
  return {
    name: specification.name,
    async run(argv, context) {
      const beforeSeparator = argv.includes('--') ? argv.slice(0, argv.indexOf('--')) : argv;
      if (beforeSeparator.includes('--help') || beforeSeparator.includes('-h')) {
        context.streams.stdout(helpOf(specification));
        return EXIT_CODES.success;
      }
      try {
        const parsed = parseCommandLine(specification, argv, context.environment);
        return await specification.run(parsed, context);
      } catch (error) {
        return reportFailure(specification.name, error, context);
      }
    },
  };
}

function parseCommandLine(
  specification: CommandSpecification,
  argv: readonly string[],
  environment: Readonly<Record<string, string | undefined>>,
): CommandArguments {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const [name, flag] of Object.entries(specification.flags)) {
    options[name] = { type: flag.type, ...(flag.short !== undefined ? { short: flag.short } : {}), ...(flag.multiple ? { multiple: true } : {}) };
  }
  let values: Record<string, string | boolean | Array<string | boolean> | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: true }));
  } catch (error) {
    // Node's messages go on with advice about `--`; the first sentence says what is wrong.
    const message = error instanceof Error ? error.message.split(/\.\s/)[0]! : String(error);
    throw new FerryError('INVALID_USAGE', message.replace(/\s*\n\s*/g, ' '), { cause: error });
  }
  const { min, max } = specification.positionals;
  if (positionals.length < min) {
    throw new FerryError('INVALID_USAGE', `missing argument: usage is ferry ${specification.name} ${specification.synopsis}`);
  }
  if (positionals.length > max) {
    throw new FerryError('INVALID_USAGE', `unexpected argument ${JSON.stringify(positionals[max])}`);
  }
  return new CommandArguments(specification.flags, values, positionals, environment);
}

function reportFailure(name: string, error: unknown, context: CommandContext): number {
  // Exactly one line, so scripts and logs show the cause as it is.
  const message = (error instanceof Error ? error.message : String(error)).replace(/\s*\n\s*/g, ' ');
  if (isFerryError(error, 'INVALID_USAGE')) {
    context.streams.stderr(`ferry: ${message.replace(/^INVALID_USAGE: /, '')}; run "ferry ${name} --help"\n`);
    return EXIT_CODES.usage;
  }
  context.streams.stderr(`ferry: ${message}\n`);
  return EXIT_CODES.failure;
}

/** The `--help` text of a command, generated from its specification. */
export function helpOf(specification: CommandSpecification): string {
  const flags = Object.entries({ ...specification.flags, help: HELP_FLAG }).map(([name, flag]) => {
    const short = flag.short !== undefined ? `-${flag.short}, ` : '';
    const value = flag.type === 'string' ? ` ${flag.valueName ?? 'VALUE'}` : '';
    const notes = [
      flag.defaultValue !== undefined ? `default ${flag.defaultValue}` : '',
      flag.environment !== undefined ? `env ${flag.environment}` : '',
      flag.multiple ? 'repeatable' : '',
    ].filter((note) => note !== '');
    return { left: `${short}--${name}${value}`, right: notes.length > 0 ? `${flag.description} (${notes.join('; ')})` : flag.description };
  });
  const width = Math.max(...flags.map((flag) => flag.left.length));
  const lines = [
    `Usage: ferry ${specification.name} ${specification.synopsis}`,
    '',
    specification.description.trim(),
    '',
    'Flags:',
    ...flags.map((flag) => `  ${flag.left.padEnd(width)}  ${flag.right}`),
  ];
  if (specification.examples !== undefined && specification.examples.length > 0) {
    lines.push('', 'Examples:', ...specification.examples.map((example) => `  ${example}`));
  }
  return `${lines.join('\n')}\n`;
}
