import { FerryError } from '../../lib/ferry-error.js';
import type { HeaderTable, HeaderValue } from '../../core/routing/header-value.js';

/** The kind of value an option takes. */
export type OptionKind = 'boolean' | 'string' | 'count';

/** The options a declaration accepts, by name. */
export type OptionSchema = Readonly<Record<string, OptionKind>>;

/** The typed values of a schema's options that the table set. */
export type OptionValues<S extends OptionSchema> = {
  -readonly [K in keyof S]?: S[K] extends 'boolean' ? boolean : S[K] extends 'string' ? string : number;
};

/**
 * Reads the `options` table of a declaration frame (`queueDeclare`,
 * `streamDeclare`, `exchangeDeclare`) against `schema`: every key must be
 * known and of its kind (counts are non-negative safe integers, sent as
 * numbers or 64-bit integers); otherwise INVALID_ARGUMENT names the option.
 */
export function readOptions<S extends OptionSchema>(table: HeaderTable, schema: S, what: string): OptionValues<S> {
  const values: Record<string, boolean | string | number> = {};
  for (const [name, value] of Object.entries(table)) {
    const kind = schema[name];
    if (kind === undefined) throw new FerryError('INVALID_ARGUMENT', `${what} has no option ${JSON.stringify(name)} (options: ${Object.keys(schema).join(', ')})`);
    values[name] = convert(value, kind, `${what} option ${name}`);
  }
  return values as OptionValues<S>;
}

function convert(value: HeaderValue, kind: OptionKind, what: string): boolean | string | number {
  switch (kind) {
    case 'boolean':
      if (typeof value === 'boolean') return value;
      break;
    case 'string':
      if (typeof value === 'string') return value;
      break;
    case 'count': {
      const number = typeof value === 'bigint' && value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= 0n ? Number(value) : value;
      if (typeof number === 'number' && Number.isSafeInteger(number) && number >= 0) return number;
      break;
    }
  }
  throw new FerryError('INVALID_ARGUMENT', `${what} must be ${kind === 'count' ? 'a non-negative integer' : `a ${kind}`}, got ${describe(value)}`);
}

function describe(value: HeaderValue): string {
  if (value instanceof Uint8Array) return `${value.byteLength} bytes`;
  if (typeof value === 'bigint') return `${value}n`;
  return JSON.stringify(value) ?? String(value);
}
