import type { WireOffsetSpec } from '../protocols/native/codec/index.js';
import { FerryClientError } from './ferry-client-error.js';

/**
 * Where reading a stream partition starts: its `first` stored entry, its
 * `last` entry, `next` (only entries appended from now on), an exact
 * `{ offset }`, or the first entry stored at or after `{ timestampMs }`.
 */
export type OffsetSpec = 'first' | 'last' | 'next' | { readonly offset: number } | { readonly timestampMs: number };

/** The wire form of an {@link OffsetSpec}. */
export function wireOffsetSpec(spec: OffsetSpec): WireOffsetSpec {
  if (spec === 'first' || spec === 'last' || spec === 'next') return { kind: spec, value: 0 };
  if (typeof spec === 'object' && spec !== null) {
    if ('offset' in spec && Number.isSafeInteger(spec.offset) && spec.offset >= 0) return { kind: 'offset', value: spec.offset };
    if ('timestampMs' in spec && Number.isFinite(spec.timestampMs)) return { kind: 'timestamp', value: spec.timestampMs };
  }
  throw new FerryClientError('INVALID_ARGUMENT', `an offset spec is 'first', 'last', 'next', { offset } or { timestampMs }, got ${JSON.stringify(spec)}`);
}
