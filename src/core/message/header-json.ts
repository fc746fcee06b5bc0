import type { HeaderTable, HeaderValue } from '../routing/header-value.js';

/** A JSON value as the API reads and writes it. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * A header value as JSON. Lossy where JSON has no type: a bigint becomes a
 * number when it is safe and a decimal string otherwise, bytes become base64.
 */
export function headerValueToJson(value: HeaderValue): Json {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (typeof value === 'bigint') return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString();
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
  if (Array.isArray(value)) return value.map((item: HeaderValue) => headerValueToJson(item));
  return headerTableToJson(value as HeaderTable);
}

/** A header table (message headers, binding arguments) as a JSON object. */
export function headerTableToJson(table: HeaderTable): { [key: string]: Json } {
  const out: { [key: string]: Json } = {};
  for (const [key, value] of Object.entries(table)) out[key] = headerValueToJson(value);
  return out;
}

/** A JSON object as a header table: JSON values are header values as they are. */
export function jsonToHeaderTable(json: { readonly [key: string]: unknown } | undefined): HeaderTable {
  return (json ?? {}) as HeaderTable;
}
