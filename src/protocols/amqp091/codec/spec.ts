/**
 * The facts of AMQP 0-9-1 (amqp0-9-1.xml, with RabbitMQ's extensions) as data:
 * frame constants, every class and method with its ids and ordered fields, the
 * basic content properties in flag order, and the reply codes. The codecs in
 * this folder are driven by these tables; nothing else in the codec knows a
 * method by heart.
 *
 * Field names are the spec's (hyphenated). Decoded fields are keyed by their
 * camelCase form (`routing-key` → `routingKey`, `reserved-1` → `reserved1`).
 * Where 0-9-1 deprecated a field it is named `reserved-N` as in the spec and
 * marked `reserved`: encoders fill it with its type's zero value when absent.
 * RabbitMQ gives two of those reserved bits a meaning again (exchange.declare
 * `auto-delete` and `internal`), so they carry those names here.
 */

/** Frame types (AMQP 0-9-1 §4.2.3 and the `frame-*` constants). */
export const FRAME_METHOD = 1;
export const FRAME_HEADER = 2;
export const FRAME_BODY = 3;
export const FRAME_HEARTBEAT = 8;
/** The octet that ends every frame. */
export const FRAME_END = 0xce;
/** The smallest frame-max a peer may negotiate, and the limit until tune-ok. */
export const FRAME_MIN_SIZE = 4096;
/** Type octet, channel short and size long in front of every payload. */
export const FRAME_HEADER_SIZE = 7;
/** Bytes a frame adds to its payload: the 7-byte header and the frame-end octet. */
export const FRAME_OVERHEAD = FRAME_HEADER_SIZE + 1;

/** The field types a method argument or content property can have (§4.2.5). */
export type FieldType = 'octet' | 'short' | 'long' | 'longlong' | 'shortstr' | 'longstr' | 'bit' | 'table' | 'timestamp';

/** Which peer sends a method: the client, the server or either. */
export type MethodSender = 'client' | 'server' | 'both';

type FieldRow = readonly [name: string, type: FieldType] | readonly [name: string, type: FieldType, reserved: 'reserved'];

interface MethodRow {
  readonly id: number;
  readonly name: string;
  readonly sentBy: MethodSender;
  /** The replies a synchronous request expects; absent for asynchronous methods and replies. */
  readonly responses?: readonly string[];
  /** True when content (a header frame and body frames) follows the method frame. */
  readonly content?: true;
  readonly fields: readonly FieldRow[];
}

interface ClassRow {
  readonly id: number;
  readonly name: string;
  /** The content properties, in property-flag order; only classes that carry content have them. */
  readonly properties?: readonly FieldRow[];
  readonly methods: readonly MethodRow[];
}

// The two method-close argument lists are identical for connection and channel.
const closeFields = [
  ['reply-code', 'short'],
  ['reply-text', 'shortstr'],
  ['class-id', 'short'],
  ['method-id', 'short'],
] as const;

/**
 * Every class of AMQP 0-9-1 with RabbitMQ's extensions (connection.blocked /
 * unblocked / update-secret, basic.nack, the confirm class), ordered by class id.
 */
export const AMQP_CLASSES = [
  {
    id: 10,
    name: 'connection',
    methods: [
      {
        id: 10, name: 'start', sentBy: 'server', responses: ['start-ok'],
        fields: [['version-major', 'octet'], ['version-minor', 'octet'], ['server-properties', 'table'], ['mechanisms', 'longstr'], ['locales', 'longstr']],
      },
      { id: 11, name: 'start-ok', sentBy: 'client', fields: [['client-properties', 'table'], ['mechanism', 'shortstr'], ['response', 'longstr'], ['locale', 'shortstr']] },
      { id: 20, name: 'secure', sentBy: 'server', responses: ['secure-ok'], fields: [['challenge', 'longstr']] },
      { id: 21, name: 'secure-ok', sentBy: 'client', fields: [['response', 'longstr']] },
      { id: 30, name: 'tune', sentBy: 'server', responses: ['tune-ok'], fields: [['channel-max', 'short'], ['frame-max', 'long'], ['heartbeat', 'short']] },
      { id: 31, name: 'tune-ok', sentBy: 'client', fields: [['channel-max', 'short'], ['frame-max', 'long'], ['heartbeat', 'short']] },
      // reserved-1 was "capabilities", reserved-2 was "insist".
      { id: 40, name: 'open', sentBy: 'client', responses: ['open-ok'], fields: [['virtual-host', 'shortstr'], ['reserved-1', 'shortstr', 'reserved'], ['reserved-2', 'bit', 'reserved']] },
      // reserved-1 was "known-hosts".
      { id: 41, name: 'open-ok', sentBy: 'server', fields: [['reserved-1', 'shortstr', 'reserved']] },
      { id: 50, name: 'close', sentBy: 'both', responses: ['close-ok'], fields: closeFields },
      { id: 51, name: 'close-ok', sentBy: 'both', fields: [] },
      // RabbitMQ extension: resource alarms block publishing connections.
      { id: 60, name: 'blocked', sentBy: 'server', fields: [['reason', 'shortstr']] },
      { id: 61, name: 'unblocked', sentBy: 'server', fields: [] },
      // RabbitMQ extension: refresh an expiring credential (an OAuth 2 token) without reconnecting.
      { id: 70, name: 'update-secret', sentBy: 'client', responses: ['update-secret-ok'], fields: [['new-secret', 'longstr'], ['reason', 'shortstr']] },
      { id: 71, name: 'update-secret-ok', sentBy: 'server', fields: [] },
    ],
  },
  {
    id: 20,
    name: 'channel',
    methods: [
      // reserved-1 was "out-of-band".
      { id: 10, name: 'open', sentBy: 'client', responses: ['open-ok'], fields: [['reserved-1', 'shortstr', 'reserved']] },
      // reserved-1 was "channel-id".
      { id: 11, name: 'open-ok', sentBy: 'server', fields: [['reserved-1', 'longstr', 'reserved']] },
      { id: 20, name: 'flow', sentBy: 'both', responses: ['flow-ok'], fields: [['active', 'bit']] },
      { id: 21, name: 'flow-ok', sentBy: 'both', fields: [['active', 'bit']] },
      { id: 40, name: 'close', sentBy: 'both', responses: ['close-ok'], fields: closeFields },
      { id: 41, name: 'close-ok', sentBy: 'both', fields: [] },
    ],
  },
  {
    id: 40,
    name: 'exchange',
    methods: [
      // reserved-1 everywhere in this class and the next was the access "ticket".
      {
        id: 10, name: 'declare', sentBy: 'client', responses: ['declare-ok'],
        fields: [
          ['reserved-1', 'short', 'reserved'], ['exchange', 'shortstr'], ['type', 'shortstr'], ['passive', 'bit'], ['durable', 'bit'],
          // 0-9-1 reserves these two bits; RabbitMQ uses them with their 0-8 meaning.
          ['auto-delete', 'bit'], ['internal', 'bit'],
          ['no-wait', 'bit'], ['arguments', 'table'],
        ],
      },
      { id: 11, name: 'declare-ok', sentBy: 'server', fields: [] },
      { id: 20, name: 'delete', sentBy: 'client', responses: ['delete-ok'], fields: [['reserved-1', 'short', 'reserved'], ['exchange', 'shortstr'], ['if-unused', 'bit'], ['no-wait', 'bit']] },
      { id: 21, name: 'delete-ok', sentBy: 'server', fields: [] },
      // RabbitMQ extension: exchange-to-exchange bindings.
      {
        id: 30, name: 'bind', sentBy: 'client', responses: ['bind-ok'],
        fields: [['reserved-1', 'short', 'reserved'], ['destination', 'shortstr'], ['source', 'shortstr'], ['routing-key', 'shortstr'], ['no-wait', 'bit'], ['arguments', 'table']],
      },
      { id: 31, name: 'bind-ok', sentBy: 'server', fields: [] },
      {
        id: 40, name: 'unbind', sentBy: 'client', responses: ['unbind-ok'],
        fields: [['reserved-1', 'short', 'reserved'], ['destination', 'shortstr'], ['source', 'shortstr'], ['routing-key', 'shortstr'], ['no-wait', 'bit'], ['arguments', 'table']],
      },
      // Not 41: RabbitMQ numbered the reply 51, and every client follows.
      { id: 51, name: 'unbind-ok', sentBy: 'server', fields: [] },
    ],
  },
  {
    id: 50,
    name: 'queue',
    methods: [
      {
        id: 10, name: 'declare', sentBy: 'client', responses: ['declare-ok'],
        fields: [
          ['reserved-1', 'short', 'reserved'], ['queue', 'shortstr'], ['passive', 'bit'], ['durable', 'bit'], ['exclusive', 'bit'],
          ['auto-delete', 'bit'], ['no-wait', 'bit'], ['arguments', 'table'],
        ],
      },
      { id: 11, name: 'declare-ok', sentBy: 'server', fields: [['queue', 'shortstr'], ['message-count', 'long'], ['consumer-count', 'long']] },
      {
        id: 20, name: 'bind', sentBy: 'client', responses: ['bind-ok'],
        fields: [['reserved-1', 'short', 'reserved'], ['queue', 'shortstr'], ['exchange', 'shortstr'], ['routing-key', 'shortstr'], ['no-wait', 'bit'], ['arguments', 'table']],
      },
      { id: 21, name: 'bind-ok', sentBy: 'server', fields: [] },
      { id: 30, name: 'purge', sentBy: 'client', responses: ['purge-ok'], fields: [['reserved-1', 'short', 'reserved'], ['queue', 'shortstr'], ['no-wait', 'bit']] },
      { id: 31, name: 'purge-ok', sentBy: 'server', fields: [['message-count', 'long']] },
      {
        id: 40, name: 'delete', sentBy: 'client', responses: ['delete-ok'],
        fields: [['reserved-1', 'short', 'reserved'], ['queue', 'shortstr'], ['if-unused', 'bit'], ['if-empty', 'bit'], ['no-wait', 'bit']],
      },
      { id: 41, name: 'delete-ok', sentBy: 'server', fields: [['message-count', 'long']] },
      // queue.unbind has no no-wait field: it is always answered.
      {
        id: 50, name: 'unbind', sentBy: 'client', responses: ['unbind-ok'],
        fields: [['reserved-1', 'short', 'reserved'], ['queue', 'shortstr'], ['exchange', 'shortstr'], ['routing-key', 'shortstr'], ['arguments', 'table']],
      },
      { id: 51, name: 'unbind-ok', sentBy: 'server', fields: [] },
    ],
  },
  {
    id: 60,
    name: 'basic',
    // Property flag bit 15 is the first property, bit 2 the fourteenth (§4.2.6.1).
    properties: [
      ['content-type', 'shortstr'],
      ['content-encoding', 'shortstr'],
      ['headers', 'table'],
      ['delivery-mode', 'octet'],
      ['priority', 'octet'],
      ['correlation-id', 'shortstr'],
      ['reply-to', 'shortstr'],
      ['expiration', 'shortstr'],
      ['message-id', 'shortstr'],
      ['timestamp', 'timestamp'],
      ['type', 'shortstr'],
      ['user-id', 'shortstr'],
      ['app-id', 'shortstr'],
      // 0-9-1 reserves this one ("must be empty"); RabbitMQ still names it cluster-id.
      ['cluster-id', 'shortstr'],
    ],
    methods: [
      { id: 10, name: 'qos', sentBy: 'client', responses: ['qos-ok'], fields: [['prefetch-size', 'long'], ['prefetch-count', 'short'], ['global', 'bit']] },
      { id: 11, name: 'qos-ok', sentBy: 'server', fields: [] },
      {
        id: 20, name: 'consume', sentBy: 'client', responses: ['consume-ok'],
        fields: [
          ['reserved-1', 'short', 'reserved'], ['queue', 'shortstr'], ['consumer-tag', 'shortstr'], ['no-local', 'bit'], ['no-ack', 'bit'],
          ['exclusive', 'bit'], ['no-wait', 'bit'], ['arguments', 'table'],
        ],
      },
      { id: 21, name: 'consume-ok', sentBy: 'server', fields: [['consumer-tag', 'shortstr']] },
      // Both ways: RabbitMQ's consumer cancel notification sends basic.cancel to the client.
      { id: 30, name: 'cancel', sentBy: 'both', responses: ['cancel-ok'], fields: [['consumer-tag', 'shortstr'], ['no-wait', 'bit']] },
      { id: 31, name: 'cancel-ok', sentBy: 'both', fields: [['consumer-tag', 'shortstr']] },
      {
        id: 40, name: 'publish', sentBy: 'client', content: true,
        fields: [['reserved-1', 'short', 'reserved'], ['exchange', 'shortstr'], ['routing-key', 'shortstr'], ['mandatory', 'bit'], ['immediate', 'bit']],
      },
      { id: 50, name: 'return', sentBy: 'server', content: true, fields: [['reply-code', 'short'], ['reply-text', 'shortstr'], ['exchange', 'shortstr'], ['routing-key', 'shortstr']] },
      {
        id: 60, name: 'deliver', sentBy: 'server', content: true,
        fields: [['consumer-tag', 'shortstr'], ['delivery-tag', 'longlong'], ['redelivered', 'bit'], ['exchange', 'shortstr'], ['routing-key', 'shortstr']],
      },
      { id: 70, name: 'get', sentBy: 'client', responses: ['get-ok', 'get-empty'], fields: [['reserved-1', 'short', 'reserved'], ['queue', 'shortstr'], ['no-ack', 'bit']] },
      {
        id: 71, name: 'get-ok', sentBy: 'server', content: true,
        fields: [['delivery-tag', 'longlong'], ['redelivered', 'bit'], ['exchange', 'shortstr'], ['routing-key', 'shortstr'], ['message-count', 'long']],
      },
      // reserved-1 was "cluster-id".
      { id: 72, name: 'get-empty', sentBy: 'server', fields: [['reserved-1', 'shortstr', 'reserved']] },
      // Both ways: with publisher confirms the server acks (and nacks) publishes.
      { id: 80, name: 'ack', sentBy: 'both', fields: [['delivery-tag', 'longlong'], ['multiple', 'bit']] },
      { id: 90, name: 'reject', sentBy: 'client', fields: [['delivery-tag', 'longlong'], ['requeue', 'bit']] },
      { id: 100, name: 'recover-async', sentBy: 'client', fields: [['requeue', 'bit']] },
      { id: 110, name: 'recover', sentBy: 'client', responses: ['recover-ok'], fields: [['requeue', 'bit']] },
      { id: 111, name: 'recover-ok', sentBy: 'server', fields: [] },
      // RabbitMQ extension: reject several deliveries at once, and negative publisher confirms.
      { id: 120, name: 'nack', sentBy: 'both', fields: [['delivery-tag', 'longlong'], ['multiple', 'bit'], ['requeue', 'bit']] },
    ],
  },
  {
    // RabbitMQ extension: publisher confirms.
    id: 85,
    name: 'confirm',
    methods: [
      { id: 10, name: 'select', sentBy: 'client', responses: ['select-ok'], fields: [['no-wait', 'bit']] },
      { id: 11, name: 'select-ok', sentBy: 'server', fields: [] },
    ],
  },
  {
    id: 90,
    name: 'tx',
    methods: [
      { id: 10, name: 'select', sentBy: 'client', responses: ['select-ok'], fields: [] },
      { id: 11, name: 'select-ok', sentBy: 'server', fields: [] },
      { id: 20, name: 'commit', sentBy: 'client', responses: ['commit-ok'], fields: [] },
      { id: 21, name: 'commit-ok', sentBy: 'server', fields: [] },
      { id: 30, name: 'rollback', sentBy: 'client', responses: ['rollback-ok'], fields: [] },
      { id: 31, name: 'rollback-ok', sentBy: 'server', fields: [] },
    ],
  },
] as const satisfies readonly ClassRow[];

type ClassEntry = (typeof AMQP_CLASSES)[number];

/** A method's full name, `class.method`: `'basic.publish'`, `'queue.declare-ok'`. */
export type MethodName = ClassEntry extends infer C ? (C extends ClassEntry ? `${C['name']}.${C['methods'][number]['name']}` : never) : never;

/** `routing-key` → `routingKey`, `reserved-1` → `reserved1`, at the type level. */
export type CamelCase<Name extends string> = Name extends `${infer Head}-${infer Tail}` ? `${Head}${Capitalize<CamelCase<Tail>>}` : Name;

/** The table row of the method `Name`, for deriving its field types. */
export type MethodRowOf<Name extends MethodName> = Name extends `${infer ClassName}.${infer Method}`
  ? Extract<Extract<ClassEntry, { readonly name: ClassName }>['methods'][number], { readonly name: Method }>
  : never;

/** The basic content property rows. */
export type BasicPropertyRow = Extract<ClassEntry, { readonly name: 'basic' }>['properties'][number];

/** One field of a method or one content property, ready for the codecs. */
export interface FieldSpec {
  /** The spec's name, such as `routing-key`. */
  readonly name: string;
  /** The key in decoded field objects, such as `routingKey`. */
  readonly key: string;
  readonly type: FieldType;
  /** A field 0-9-1 deprecated: ignored when decoded, zero when encoded without a value. */
  readonly reserved: boolean;
  /** How errors name it: `basic.publish routing-key`, `basic property headers`. */
  readonly label: string;
}

/** One method of the protocol, as the codecs and handlers look it up. */
export interface MethodSpec {
  readonly classId: number;
  readonly methodId: number;
  readonly className: string;
  readonly methodName: string;
  /** `class.method`, such as `basic.publish`. */
  readonly name: MethodName;
  readonly fields: readonly FieldSpec[];
  /** True for a request that expects one of `responses` (unless it set no-wait). */
  readonly synchronous: boolean;
  /** Full names of the methods that answer this one. */
  readonly responses: readonly MethodName[];
  /** True when a content header and body frames follow the method frame. */
  readonly hasContent: boolean;
  readonly sentBy: MethodSender;
}

/** A class that carries content: its id and properties in flag order. */
export interface ContentClassSpec {
  readonly classId: number;
  readonly name: string;
  readonly properties: readonly FieldSpec[];
}

/** `routing-key` → `routingKey`. */
export function camelCase(name: string): string {
  return name.replace(/-([a-z0-9])/g, (_, letter: string) => letter.toUpperCase());
}

function fieldSpec(owner: string, row: FieldRow): FieldSpec {
  return Object.freeze({ name: row[0], key: camelCase(row[0]), type: row[1], reserved: row[2] === 'reserved', label: `${owner} ${row[0]}` });
}

function buildMethods(): { byId: Map<number, MethodSpec>; byName: Map<string, MethodSpec> } {
  const byId = new Map<number, MethodSpec>();
  const byName = new Map<string, MethodSpec>();
  for (const classRow of AMQP_CLASSES as readonly ClassRow[]) {
    for (const methodRow of classRow.methods) {
      const spec: MethodSpec = Object.freeze({
        classId: classRow.id,
        methodId: methodRow.id,
        className: classRow.name,
        methodName: methodRow.name,
        name: `${classRow.name}.${methodRow.name}` as MethodName,
        fields: Object.freeze(methodRow.fields.map((row) => fieldSpec(`${classRow.name}.${methodRow.name}`, row))),
        synchronous: (methodRow.responses?.length ?? 0) > 0,
        responses: Object.freeze((methodRow.responses ?? []).map((response) => `${classRow.name}.${response}` as MethodName)),
        hasContent: methodRow.content === true,
        sentBy: methodRow.sentBy,
      });
      byId.set(methodKey(classRow.id, methodRow.id), spec);
      byName.set(spec.name, spec);
    }
  }
  return { byId, byName };
}

function methodKey(classId: number, methodId: number): number {
  return classId * 0x10000 + methodId;
}

const methods = buildMethods();

/** Every method, in class then method order. */
export const METHOD_SPECS: readonly MethodSpec[] = Object.freeze([...methods.byName.values()]);

/** The method with these ids, or undefined when the protocol has none. */
export function methodSpecById(classId: number, methodId: number): MethodSpec | undefined {
  return methods.byId.get(methodKey(classId, methodId));
}

/** The method of this full name (`basic.publish`), or undefined. */
export function methodSpecByName(name: string): MethodSpec | undefined {
  return methods.byName.get(name);
}

/** The classes that carry content, keyed by class id (0-9-1 has one: basic). */
export const CONTENT_CLASSES: ReadonlyMap<number, ContentClassSpec> = new Map(
  (AMQP_CLASSES as readonly ClassRow[])
    .filter((classRow) => classRow.properties !== undefined)
    .map((classRow) => [classRow.id, Object.freeze({ classId: classRow.id, name: classRow.name, properties: Object.freeze(classRow.properties!.map((row) => fieldSpec(`${classRow.name} property`, row))) })]),
);

/** The class id of basic, the only content class. */
export const BASIC_CLASS_ID = 60;

/** Whether a reply code reports success, a channel exception (soft error) or a connection exception (hard error). */
export type ReplyCodeKind = 'success' | 'channel' | 'connection';

/**
 * The reply codes of connection.close, channel.close and basic.return. A
 * channel error closes the channel; a connection error closes the connection.
 * 312 NO_ROUTE and 313 NO_CONSUMERS are used in basic.return rather than to close anything.
 */
export const REPLY_CODES = [
  { code: 200, name: 'REPLY_SUCCESS', kind: 'success' },
  { code: 311, name: 'CONTENT_TOO_LARGE', kind: 'channel' },
  { code: 312, name: 'NO_ROUTE', kind: 'channel' },
  { code: 313, name: 'NO_CONSUMERS', kind: 'channel' },
  { code: 320, name: 'CONNECTION_FORCED', kind: 'connection' },
  { code: 402, name: 'INVALID_PATH', kind: 'connection' },
  { code: 403, name: 'ACCESS_REFUSED', kind: 'channel' },
  { code: 404, name: 'NOT_FOUND', kind: 'channel' },
  { code: 405, name: 'RESOURCE_LOCKED', kind: 'channel' },
  { code: 406, name: 'PRECONDITION_FAILED', kind: 'channel' },
  { code: 501, name: 'FRAME_ERROR', kind: 'connection' },
  { code: 502, name: 'SYNTAX_ERROR', kind: 'connection' },
  { code: 503, name: 'COMMAND_INVALID', kind: 'connection' },
  { code: 504, name: 'CHANNEL_ERROR', kind: 'connection' },
  { code: 505, name: 'UNEXPECTED_FRAME', kind: 'connection' },
  { code: 506, name: 'RESOURCE_ERROR', kind: 'connection' },
  { code: 530, name: 'NOT_ALLOWED', kind: 'connection' },
  { code: 540, name: 'NOT_IMPLEMENTED', kind: 'connection' },
  { code: 541, name: 'INTERNAL_ERROR', kind: 'connection' },
] as const satisfies readonly { code: number; name: string; kind: ReplyCodeKind }[];

/** One of the reply codes above. */
export type ReplyCode = (typeof REPLY_CODES)[number]['code'];

/** A reply code that reports a failure (every one but 200). */
export type ErrorReplyCode = Exclude<ReplyCode, 200>;

const replyCodesByCode: ReadonlyMap<number, (typeof REPLY_CODES)[number]> = new Map(REPLY_CODES.map((row) => [row.code, row]));

/** The row of a reply code, or undefined for a code the spec does not define. */
export function replyCodeInfo(code: number): (typeof REPLY_CODES)[number] | undefined {
  return replyCodesByCode.get(code);
}

/**
 * The 8 octets a client opens with: "AMQP", 0, then protocol 0-9-1 (§4.2.2).
 * Shared: never write to it (a typed array cannot be frozen); `protocolHeaderReply()` gives a copy to send.
 */
export const PROTOCOL_HEADER: Uint8Array = new Uint8Array([0x41, 0x4d, 0x51, 0x50, 0x00, 0x00, 0x09, 0x01]);
