import { FerryError } from '../../lib/ferry-error.js';
import { type HeaderTable, type HeaderValue, headerValueEquals } from './header-value.js';

/** How a headers binding combines its conditions, chosen by the `x-match` binding argument. */
export type HeadersMatchKind = 'all' | 'any' | 'all-with-x' | 'any-with-x';

const matchKinds: readonly string[] = ['all', 'any', 'all-with-x', 'any-with-x'] satisfies HeadersMatchKind[];

/**
 * The matcher of one headers-exchange binding, compiled once at bind time so
 * routing does not re-parse `x-match` for every message. Semantics follow
 * RabbitMQ's `rabbit_exchange_type_headers`:
 *
 * - `x-match` is `all` (the default when absent), `any`, `all-with-x` or `any-with-x`.
 * - `all` and `any` ignore binding arguments whose names start with `x-`; the
 *   `-with-x` kinds include them. `x-match` itself is never a condition.
 * - A condition whose value is `null` (AMQP void) asks only that the header be
 *   present, whatever its value; otherwise the header must be present and equal
 *   by {@link headerValueEquals}.
 * - `all` with no conditions matches every message; `any` with none matches nothing.
 *
 * Use {@link HeadersMatch.compile}; it raises `INVALID_BINDING_ARGUMENTS` for a bad `x-match`.
 */
export class HeadersMatch {
  readonly kind: HeadersMatchKind;
  private readonly names: readonly string[];
  private readonly values: readonly HeaderValue[];

  private constructor(kind: HeadersMatchKind, names: string[], values: HeaderValue[]) {
    this.kind = kind;
    this.names = names;
    this.values = values;
  }

  /**
   * Compiles binding arguments into a matcher. Throws `INVALID_BINDING_ARGUMENTS`
   * when `x-match` is present but not one of the four kinds, as RabbitMQ refuses such a binding.
   */
  static compile(bindingArguments: HeaderTable): HeadersMatch {
    const kind = parseKind(bindingArguments);
    const withX = kind === 'all-with-x' || kind === 'any-with-x';
    const names: string[] = [];
    const values: HeaderValue[] = [];
    for (const name of Object.keys(bindingArguments)) {
      if (name === 'x-match') continue;
      if (!withX && name.startsWith('x-')) continue;
      names.push(name);
      values.push(bindingArguments[name]!);
    }
    return new HeadersMatch(kind, names, values);
  }

  /** The number of conditions this binding checks (arguments other than `x-match` and, for `all`/`any`, `x-*`). */
  get conditionCount(): number {
    return this.names.length;
  }

  /** True when a message with these headers is routed by this binding. */
  matches(headers: HeaderTable): boolean {
    const requireAll = this.kind === 'all' || this.kind === 'all-with-x';
    for (let index = 0; index < this.names.length; index++) {
      const satisfied = conditionHolds(this.names[index]!, this.values[index]!, headers);
      if (requireAll && !satisfied) return false;
      if (!requireAll && satisfied) return true;
    }
    return requireAll;
  }
}

function conditionHolds(name: string, expected: HeaderValue, headers: HeaderTable): boolean {
  // Own keys only, so a binding on `constructor` is not satisfied by Object.prototype.
  if (!Object.hasOwn(headers, name)) return false;
  return expected === null || headerValueEquals(expected, headers[name]!);
}

function parseKind(bindingArguments: HeaderTable): HeadersMatchKind {
  if (!Object.hasOwn(bindingArguments, 'x-match')) return 'all';
  const value = bindingArguments['x-match'];
  if (typeof value === 'string' && matchKinds.includes(value)) return value as HeadersMatchKind;
  throw new FerryError(
    'INVALID_BINDING_ARGUMENTS',
    `x-match must be "all", "any", "all-with-x" or "any-with-x", got ${describe(value)}`,
  );
}

function describe(value: HeaderValue | undefined): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value instanceof Uint8Array) return `${value.byteLength} bytes`;
  if (typeof value === 'bigint') return `${value}n`;
  if (value !== null && typeof value === 'object') return Array.isArray(value) ? 'an array' : 'a table';
  return String(value);
}
