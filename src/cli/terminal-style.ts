const ESCAPE = '\u001b[';

/**
 * ANSI colours for human output, or none: colour is on only when the output
 * is a terminal and NO_COLOR is unset (https://no-color.org), so pipes,
 * files and CI logs get plain text.
 */
export class TerminalStyle {
  constructor(
    /** False: every method returns its text unchanged. */
    readonly enabled: boolean,
  ) {}

  /** The style for a stream: colour when it is a terminal and NO_COLOR is not set. */
  static for(isTerminal: boolean, environment: Readonly<Record<string, string | undefined>>): TerminalStyle {
    return new TerminalStyle(isTerminal && environment['NO_COLOR'] === undefined);
  }

  bold(text: string): string {
    return this.wrap(text, '1', '22');
  }

  dim(text: string): string {
    return this.wrap(text, '2', '22');
  }

  red(text: string): string {
    return this.wrap(text, '31', '39');
  }

  green(text: string): string {
    return this.wrap(text, '32', '39');
  }

  yellow(text: string): string {
    return this.wrap(text, '33', '39');
  }

  private wrap(text: string, on: string, off: string): string {
    return this.enabled && text !== '' ? `${ESCAPE}${on}m${text}${ESCAPE}${off}m` : text;
  }
}

/** The printed width of `text`: its length without ANSI escape sequences. */
export function visibleLength(text: string): number {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\u001b\[[0-9;]*m/g, '').length;
}
