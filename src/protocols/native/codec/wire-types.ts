import type { HeaderTable } from '../../../core/routing/header-value.js';
import type { FieldSpec, FieldType, FRAMES, FrameName, OFFSET_KINDS } from './native-spec.js';

/**
 * A message on the wire: routing key bytes (UTF-8), the envelope exactly as
 * storage keeps it (core/message/message-codec `encodeEnvelope`: exchange,
 * persistence, properties, headers) and the body, untouched.
 *
 *   u16 keyLength | key | u32 envelopeLength | envelope | u32 bodyLength | body
 */
export interface WireMessage {
  readonly routingKey: Uint8Array;
  readonly envelope: Uint8Array;
  readonly body: Uint8Array;
}

/**
 * A queue delivery on the wire:
 *
 *   u64 deliveryTag | u8 flags (bit 0 redelivered) | u32 deliveryCount | f64 timestampMs | message
 */
export interface WireDelivery {
  /** Identifies the delivery on its channel, for ack / nack / visibility changes. */
  readonly deliveryTag: number;
  readonly redelivered: boolean;
  readonly deliveryCount: number;
  /** When the broker received the message (ms since the epoch). */
  readonly timestampMs: number;
  readonly message: WireMessage;
}

/**
 * A stream entry on the wire:
 *
 *   u32 partition | u64 offset | f64 timestampMs | message
 */
export interface WireEntry {
  readonly partition: number;
  readonly offset: number;
  readonly timestampMs: number;
  readonly message: WireMessage;
}

/** Where a stream read starts: u8 kind (index in OFFSET_KINDS) | f64 value (offset or timestamp; 0 otherwise). */
export interface WireOffsetSpec {
  readonly kind: (typeof OFFSET_KINDS)[number];
  readonly value: number;
}

/** Where an append landed: u32 partition | u64 baseOffset | u64 lastOffset | u8 duplicate. */
export interface WireAppendResult {
  readonly partition: number;
  readonly baseOffset: number;
  readonly lastOffset: number;
  readonly duplicate: boolean;
}

/** The value a field of type T decodes to. */
export type ValueOf<T extends FieldType> = T extends 'u8' | 'u16' | 'u32' | 'i32' | 'u64' | 'f64'
  ? number
  : T extends 'bool'
    ? boolean
    : T extends 'string'
      ? string
      : T extends 'bytes'
        ? Uint8Array
        : T extends 'strings'
          ? readonly string[]
          : T extends 'u32s' | 'u64s' | 'f64s' | 'statuses'
            ? readonly number[]
            : T extends 'table'
              ? HeaderTable
              : T extends 'offsetSpec'
                ? WireOffsetSpec
                : T extends 'messages'
                  ? readonly WireMessage[]
                  : T extends 'deliveries'
                    ? readonly WireDelivery[]
                    : T extends 'entries'
                      ? readonly WireEntry[]
                      : T extends 'appendResults'
                        ? readonly WireAppendResult[]
                        : never;

/** The decoded object of a field list. */
export type FieldsOf<S extends readonly FieldSpec[]> = { readonly [F in S[number] as F[0]]: ValueOf<F[1]> };

/** The payload of frame `N` as sent (request or push). */
export type RequestOf<N extends FrameName> = FieldsOf<(typeof FRAMES)[N]['fields']>;

/** The payload of the answer to frame `N`. */
export type ResponseOf<N extends FrameName> = (typeof FRAMES)[N]['response'] extends infer R extends readonly FieldSpec[] ? FieldsOf<R> : never;

/** Frames that are answered. */
export type RequestName = { [N in FrameName]: (typeof FRAMES)[N]['response'] extends null ? never : N }[FrameName];

/** A frame as cut from the byte stream, before its payload is decoded. */
export interface RawFrame {
  readonly type: number;
  readonly flags: number;
  readonly channel: number;
  readonly correlation: number;
  /** A view into the received bytes; valid as long as the caller keeps it. */
  readonly payload: Uint8Array;
}
