import type { OffsetSpec } from '../../core/stream/stream.js';
import { FerryError } from '../../lib/ferry-error.js';
import { DIGITS_SCHEMA } from './messaging-route.js';

/** Where a stream read or subscription starts, from its query string: at most one of the three. */
export interface StreamPositionQuery {
  readonly offset?: string;
  readonly from?: 'first' | 'last' | 'next';
  readonly timestamp_ms?: string;
}

/** Query parameters of {@link StreamPositionQuery}, for route schemas. */
export const STREAM_POSITION_PARAMETERS = {
  offset: { ...DIGITS_SCHEMA, description: 'the first offset to read (below the start: from the start; past the end: from the end)' },
  from: { type: 'string', enum: ['first', 'last', 'next'], description: '`first` message kept, `last` message, or `next`: the first one appended from now' },
  timestamp_ms: { ...DIGITS_SCHEMA, description: 'the first message stored at or after this time (milliseconds since the epoch)' },
} as const;

/** The start a query names, or `fallback` when it names none. INVALID_REQUEST when it names more than one. */
export function offsetSpecOf(query: StreamPositionQuery, fallback: OffsetSpec): OffsetSpec {
  const given = [query.offset, query.from, query.timestamp_ms].filter((value) => value !== undefined).length;
  if (given > 1) throw new FerryError('INVALID_REQUEST', 'name the start with one of offset, from and timestamp_ms');
  if (query.offset !== undefined) return { offset: Number(query.offset) };
  if (query.timestamp_ms !== undefined) return { timestampMs: Number(query.timestamp_ms) };
  return query.from ?? fallback;
}
