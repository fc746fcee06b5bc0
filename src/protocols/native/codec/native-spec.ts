/**
 * The Ferry native protocol as data: frame layout constants, and one table
 * row per frame type with the fields of its request and of its response.
 * The codec (method-codec.ts) encodes and decodes every frame from this
 * table; docs/protocol.md describes the same facts for people, and a test
 * checks that each frame type below appears there.
 *
 * Frame (all integers little-endian):
 *
 *   0        4      5       6         8             12
 *   ┌────────┬──────┬───────┬─────────┬─────────────┬──────────────┐
 *   │ size   │ type │ flags │ channel │ correlation │ payload …    │
 *   │ u32    │ u8   │ u8    │ u16     │ u32         │ size-8 bytes │
 *   └────────┴──────┴───────┴─────────┴─────────────┴──────────────┘
 *
 * `size` counts the bytes after itself. A request with correlation 0 wants
 * no reply; otherwise the peer answers with the same type, the same channel
 * and correlation, and flag RESPONSE (payload: the type's response fields)
 * or RESPONSE|ERROR (payload: the `error` fields).
 */

/** Sent by the client before its first frame; the server answers a wrong one with its own preamble and closes. */
export const PREAMBLE = new Uint8Array([0x46, 0x45, 0x52, 0x52, 0x59, 0x00, 0x01, 0x00]); // "FERRY" 0 major 1 minor 0

/** Protocol versions this codec speaks (negotiated in HELLO). */
export const PROTOCOL_VERSION = 1;

/** Bytes before the payload, the size field included. */
export const FRAME_HEADER_BYTES = 12;

/** The smallest frame-size limit a peer may announce; every control frame fits. */
export const FRAME_BYTES_MIN = 4096;

/** Default largest frame (header included) either side accepts. */
export const FRAME_BYTES_MAX_DEFAULT = 16 * 1024 * 1024 + 64 * 1024;

/** Flag bits of a frame. */
export const FrameFlag = {
  /** The frame answers the request with the same correlation. */
  RESPONSE: 0x01,
  /** The answer is an error: payload is the `error` fields. */
  ERROR: 0x02,
} as const;

/** Features a peer may announce in HELLO; the session uses those both announce. */
export const FEATURES = ['batch-publish', 'streams', 'consumer-groups', 'idempotence', 'transactions', 'share-groups', 'heartbeats', 'blocked-notices'] as const;

/** SASL mechanisms the server offers. */
export const SASL_MECHANISMS = ['PLAIN'] as const;

/**
 * Field types. Strings are u16 length + UTF-8; bytes and tables u32 length +
 * content; lists u32 count + items (strings: u16 count). `u64` carries a safe
 * integer (below 2^53) as two u32 (low, high); `f64` any number.
 */
export type FieldType =
  | 'u8'
  | 'u16'
  | 'u32'
  | 'i32'
  | 'u64'
  | 'f64'
  | 'bool'
  | 'string'
  | 'bytes'
  | 'strings'
  | 'u32s'
  | 'u64s'
  | 'f64s'
  | 'table'
  | 'offsetSpec'
  | 'messages'
  | 'deliveries'
  | 'entries'
  | 'statuses'
  | 'appendResults';

/** One field: its name in the decoded object, and its type. */
export type FieldSpec = readonly [name: string, type: FieldType];

/** One frame type. `request` null: the frame is only pushed (no reply); `response` null: never answered. */
export interface FrameSpec {
  readonly type: number;
  /** Who sends it: the client, the server, or either. */
  readonly from: 'client' | 'server' | 'both';
  readonly fields: readonly FieldSpec[];
  readonly response: readonly FieldSpec[] | null;
  /** Allowed before authentication. */
  readonly beforeLogin?: boolean;
  /** Allowed on channel 0 only (connection frames) rather than on an open channel. */
  readonly connection?: boolean;
}

/** The fields of an ERROR answer, and of CLOSE and CHANNEL_CLOSED. */
export const ERROR_FIELDS = [
  ['code', 'string'],
  ['message', 'string'],
] as const satisfies readonly FieldSpec[];

/** Every frame type, by name. Types are stable on the wire; never reuse a number. */
export const FRAMES = {
  // ── connection (channel 0) ─────────────────────────────────────────────
  hello: {
    type: 0x01, from: 'client', beforeLogin: true, connection: true,
    fields: [['versionMin', 'u16'], ['versionMax', 'u16'], ['client', 'string'], ['features', 'strings']],
    response: [['version', 'u16'], ['server', 'string'], ['features', 'strings'], ['frameBytesMax', 'u32'], ['heartbeatMs', 'u32'], ['mechanisms', 'strings']],
  },
  authenticate: {
    type: 0x02, from: 'client', beforeLogin: true, connection: true,
    fields: [['mechanism', 'string'], ['response', 'bytes'], ['vhost', 'string']],
    response: [['user', 'string']],
  },
  heartbeat: { type: 0x03, from: 'both', beforeLogin: true, connection: true, fields: [], response: null },
  close: { type: 0x04, from: 'both', beforeLogin: true, connection: true, fields: ERROR_FIELDS, response: [] },
  /** A memory or disk alarm holds this connection's publishes (feature `blocked-notices`). */
  blocked: { type: 0x08, from: 'server', connection: true, fields: [['reason', 'string']], response: null },
  /** The alarms cleared: publishes flow again. */
  unblocked: { type: 0x09, from: 'server', connection: true, fields: [], response: null },
  // ── channels ───────────────────────────────────────────────────────────
  channelOpen: { type: 0x05, from: 'client', fields: [], response: [] },
  channelClose: { type: 0x06, from: 'client', fields: [], response: [] },
  channelClosed: { type: 0x07, from: 'server', fields: ERROR_FIELDS, response: null },
  // ── topology ───────────────────────────────────────────────────────────
  exchangeDeclare: {
    type: 0x10, from: 'client',
    fields: [['name', 'string'], ['kind', 'string'], ['options', 'table']],
    response: [],
  },
  exchangeDelete: { type: 0x11, from: 'client', fields: [['name', 'string'], ['ifUnused', 'bool']], response: [['deleted', 'bool']] },
  queueDeclare: {
    type: 0x12, from: 'client',
    fields: [['name', 'string'], ['options', 'table']],
    response: [['name', 'string'], ['messageCount', 'u32'], ['consumerCount', 'u32']],
  },
  queueDelete: { type: 0x13, from: 'client', fields: [['name', 'string'], ['ifUnused', 'bool'], ['ifEmpty', 'bool']], response: [['messageCount', 'u32']] },
  queuePurge: { type: 0x14, from: 'client', fields: [['name', 'string']], response: [['messageCount', 'u32']] },
  bind: {
    type: 0x15, from: 'client',
    fields: [['source', 'string'], ['destination', 'string'], ['destinationKind', 'string'], ['routingKey', 'string'], ['arguments', 'table']],
    response: [],
  },
  unbind: {
    type: 0x16, from: 'client',
    fields: [['source', 'string'], ['destination', 'string'], ['destinationKind', 'string'], ['routingKey', 'string'], ['arguments', 'table']],
    response: [['removed', 'bool']],
  },
  streamDeclare: { type: 0x17, from: 'client', fields: [['name', 'string'], ['options', 'table']], response: [['partitions', 'u32']] },
  streamDelete: { type: 0x18, from: 'client', fields: [['name', 'string']], response: [['messageCount', 'u64']] },
  streamInfo: {
    type: 0x19, from: 'client',
    fields: [['name', 'string']],
    response: [['startOffsets', 'u64s'], ['endOffsets', 'u64s']],
  },
  // ── publishing ─────────────────────────────────────────────────────────
  publish: {
    type: 0x20, from: 'client',
    fields: [['exchange', 'string'], ['mandatory', 'bool'], ['messages', 'messages']],
    response: [['statuses', 'statuses']],
  },
  append: {
    type: 0x21, from: 'client',
    fields: [['stream', 'string'], ['partition', 'i32'], ['producerId', 'u64'], ['epoch', 'u32'], ['sequence', 'u64'], ['messages', 'messages']],
    response: [['results', 'appendResults']],
  },
  // ── queue consumption ──────────────────────────────────────────────────
  subscribe: {
    type: 0x30, from: 'client',
    fields: [['source', 'string'], ['group', 'string'], ['tag', 'string'], ['prefetch', 'u32'], ['autoAck', 'bool'], ['exclusive', 'bool'], ['priority', 'i32']],
    response: [['consumerId', 'u32']],
  },
  deliver: { type: 0x31, from: 'server', fields: [['consumerId', 'u32'], ['deliveries', 'deliveries']], response: null },
  cancel: { type: 0x32, from: 'client', fields: [['consumerId', 'u32']], response: [] },
  cancelled: { type: 0x33, from: 'server', fields: [['consumerId', 'u32'], ['reason', 'string']], response: null },
  ack: { type: 0x34, from: 'client', fields: [['deliveryTags', 'u64s']], response: [] },
  nack: { type: 0x35, from: 'client', fields: [['deliveryTags', 'u64s'], ['requeue', 'bool']], response: [] },
  pull: {
    type: 0x36, from: 'client',
    fields: [['source', 'string'], ['group', 'string'], ['max', 'u32'], ['waitMs', 'u32'], ['visibilityTimeoutMs', 'u32'], ['autoAck', 'bool']],
    response: [['deliveries', 'deliveries']],
  },
  changeVisibility: { type: 0x37, from: 'client', fields: [['deliveryTag', 'u64'], ['visibilityTimeoutMs', 'u32']], response: [] },
  // ── stream reading ─────────────────────────────────────────────────────
  streamRead: {
    type: 0x40, from: 'client',
    fields: [['stream', 'string'], ['partition', 'u32'], ['from', 'offsetSpec'], ['max', 'u32'], ['waitMs', 'u32']],
    response: [['entries', 'entries'], ['nextOffset', 'u64']],
  },
  streamSubscribe: {
    type: 0x41, from: 'client',
    fields: [['stream', 'string'], ['partition', 'u32'], ['from', 'offsetSpec'], ['credit', 'u32']],
    response: [['subscriptionId', 'u32'], ['offset', 'u64']],
  },
  streamDeliver: { type: 0x42, from: 'server', fields: [['subscriptionId', 'u32'], ['entries', 'entries']], response: null },
  streamCredit: { type: 0x43, from: 'client', fields: [['subscriptionId', 'u32'], ['credit', 'u32']], response: [] },
  streamUnsubscribe: { type: 0x44, from: 'client', fields: [['subscriptionId', 'u32']], response: [] },
  // ── consumer groups ────────────────────────────────────────────────────
  groupJoin: {
    type: 0x50, from: 'client',
    fields: [['stream', 'string'], ['group', 'string'], ['member', 'string'], ['sessionTimeoutMs', 'u32']],
    response: [['generation', 'u32'], ['partitions', 'u32s']],
  },
  groupAssignment: {
    type: 0x51, from: 'server',
    fields: [['stream', 'string'], ['group', 'string'], ['member', 'string'], ['generation', 'u32'], ['assigned', 'u32s'], ['revoked', 'u32s'], ['lost', 'u32s']],
    response: null,
  },
  groupRevoked: { type: 0x52, from: 'client', fields: [['stream', 'string'], ['group', 'string'], ['member', 'string'], ['partitions', 'u32s']], response: [] },
  groupCommit: {
    type: 0x53, from: 'client',
    fields: [['stream', 'string'], ['group', 'string'], ['member', 'string'], ['partition', 'u32'], ['offset', 'u64'], ['generation', 'i32']],
    response: [],
  },
  groupCommitted: { type: 0x54, from: 'client', fields: [['stream', 'string'], ['group', 'string']], response: [['offsets', 'f64s']] },
  groupLeave: { type: 0x55, from: 'client', fields: [['stream', 'string'], ['group', 'string'], ['member', 'string']], response: [] },
  groupHeartbeat: { type: 0x56, from: 'client', fields: [['stream', 'string'], ['group', 'string'], ['member', 'string']], response: [] },
  // ── transactions (per channel) ─────────────────────────────────────────
  transactionBegin: { type: 0x60, from: 'client', fields: [['timeoutMs', 'u32']], response: [] },
  transactionCommit: { type: 0x61, from: 'client', fields: [], response: [['unroutable', 'u32'], ['rejectedBy', 'strings']] },
  transactionAbort: { type: 0x62, from: 'client', fields: [], response: [] },
} as const satisfies Record<string, FrameSpec>;

/** The name of a frame type. */
export type FrameName = keyof typeof FRAMES;

/** Frame names by their number on the wire. */
export const FRAME_NAMES: ReadonlyMap<number, FrameName> = new Map(Object.entries(FRAMES).map(([name, spec]) => [spec.type, name as FrameName]));

/** Offset specifications of `offsetSpec` fields, by their u8 kind on the wire (followed by an f64 value). */
export const OFFSET_KINDS = ['first', 'last', 'next', 'offset', 'timestamp'] as const;

/** Statuses of published messages in a `publish` answer. */
export const PublishStatus = {
  /** Routed to at least one queue or stream, and stored per their durability. */
  ROUTED: 0,
  /** Reached no queue or stream (dropped; with `mandatory`, the publisher learns it here). */
  UNROUTABLE: 1,
  /** A queue refused it (overflow `reject-publish`). */
  REJECTED: 2,
} as const;

/** Codes of errors the protocol itself raises (the core's codes pass through unchanged; see docs/errors.md). */
export const PROTOCOL_ERROR_CODES = [
  'NATIVE_MALFORMED_FRAME',
  'NATIVE_UNKNOWN_FRAME_TYPE',
  'NATIVE_FRAME_TOO_LARGE',
  'NATIVE_PREAMBLE_MISMATCH',
  'NATIVE_UNSUPPORTED_VERSION',
  'NATIVE_UNEXPECTED_FRAME',
  'NATIVE_CHANNEL_NOT_OPEN',
  'NATIVE_AUTHENTICATION_FAILED',
  'NATIVE_HEARTBEAT_TIMEOUT',
  'NATIVE_CONNECTION_FORCED',
  'NATIVE_UNKNOWN_DELIVERY_TAG',
  'NATIVE_LIMIT_REACHED',
] as const;

/** A protocol-level error code. */
export type ProtocolErrorCode = (typeof PROTOCOL_ERROR_CODES)[number];
