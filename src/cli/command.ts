/** Where a command writes; tests may capture it. */
export interface CommandStreams {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

/** What a command may use of its process: environment, streams, terminal facts, stdin and Ctrl-C. */
export interface CommandContext {
  readonly environment: Readonly<Record<string, string | undefined>>;
  readonly streams: CommandStreams;
  /** True when stdout is a terminal: tables may use colour (unless NO_COLOR is set). */
  readonly stdoutIsTerminal: boolean;
  /** True when stderr is a terminal: live progress lines are drawn only then. */
  readonly stderrIsTerminal: boolean;
  /** True when stdin is a terminal, so there is nothing piped in to read. */
  readonly stdinIsTerminal: boolean;
  /** Reads all of stdin; rejects with INVALID_USAGE past `bytesMax`. */
  readonly readStdin: (bytesMax: number) => Promise<Buffer>;
  /**
   * A signal that aborts on the first SIGINT (Ctrl-C) or SIGTERM. Calling it
   * takes those signals over for the rest of the command, so a command that
   * never calls it is ended by them as usual; a second signal ends the process at once.
   */
  readonly interruption: () => AbortSignal;
}

/** One subcommand of `ferry`, such as `queues`; `main` looks it up by name and runs it. */
export interface Command {
  readonly name: string;
  /** Runs with the arguments after the command's name; resolves with the exit code (see EXIT_CODES). */
  run(argv: readonly string[], context: CommandContext): Promise<number>;
}

/** One `--flag` of a command. */
export interface FlagSpecification {
  readonly type: 'string' | 'boolean';
  readonly description: string;
  /** Single-letter alias, such as `n` for `-n`. */
  readonly short?: string;
  /** The flag may be given several times (`--header a=1 --header b=2`). */
  readonly multiple?: boolean;
  /** How help names the value: `--count N`. Default `VALUE`. */
  readonly valueName?: string;
  /** Environment variable read when the flag is absent (help lists it). */
  readonly environment?: string;
  /** Value when neither flag nor environment variable is given (help lists it). */
  readonly defaultValue?: string;
}
