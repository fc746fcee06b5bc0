import { FerryError } from '../lib/ferry-error.js';
import type { FlagSpecification } from './command.js';

type RawValue = string | boolean | Array<string | boolean> | undefined;

/**
 * The parsed command line of one command: flag values (falling back to the
 * flag's environment variable, then its default) and positional arguments.
 * Accessors validate and throw FerryError `INVALID_USAGE` naming the flag.
 */
export class CommandArguments {
  constructor(
    private readonly flags: Readonly<Record<string, FlagSpecification>>,
    private readonly values: Readonly<Record<string, RawValue>>,
    /** The arguments that are not flags, in order. */
    readonly positionals: readonly string[],
    private readonly environment: Readonly<Record<string, string | undefined>>,
  ) {}

  /** A string flag's value: the flag, else its environment variable (when not empty), else its default. */
  string(name: string): string | undefined {
    const flag = this.specificationOf(name, 'string');
    const value = this.values[name];
    if (typeof value === 'string') return value;
    if (flag.environment !== undefined) {
      const fromEnvironment = this.environment[flag.environment];
      if (fromEnvironment !== undefined && fromEnvironment !== '') return fromEnvironment;
    }
    return flag.defaultValue;
  }

  /** A string flag that has a default, so it always has a value. */
  requiredString(name: string): string {
    const value = this.string(name);
    if (value === undefined) throw new FerryError('INVALID_USAGE', `--${name} is required`);
    return value;
  }

  /** Every value of a repeatable string flag, in order. */
  strings(name: string): string[] {
    this.specificationOf(name, 'string');
    const value = this.values[name];
    if (Array.isArray(value)) return value.filter((item): item is string => typeof item === 'string');
    return typeof value === 'string' ? [value] : [];
  }

  /** True when the flag is on the command line (not merely in the environment or defaulted). */
  given(name: string): boolean {
    return this.values[name] !== undefined;
  }

  /** True when the boolean flag was given. */
  boolean(name: string): boolean {
    this.specificationOf(name, 'boolean');
    return this.values[name] === true;
  }

  /**
   * A whole-number flag within [min, max], or undefined when absent (and without
   * default). A value like `10k` or `-1` is a usage error.
   */
  integer(name: string, min: number, max: number): number | undefined {
    const raw = this.string(name);
    if (raw === undefined) return undefined;
    const value = /^[0-9]{1,15}$/.test(raw) ? Number(raw) : Number.NaN;
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      throw new FerryError('INVALID_USAGE', `--${name} ${JSON.stringify(raw)} is not a whole number from ${min} to ${max}`);
    }
    return value;
  }

  private specificationOf(name: string, type: FlagSpecification['type']): FlagSpecification {
    const flag = this.flags[name];
    // A typo here is a bug in the command, not a usage error.
    if (flag === undefined || flag.type !== type) throw new Error(`the command has no ${type} flag --${name}`);
    return flag;
  }
}
