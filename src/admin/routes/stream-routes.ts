import type { FastifyInstance } from 'fastify';
import type { Stream } from '../../core/stream/stream.js';
import type { StreamConfig } from '../../core/stream/stream-config.js';
import type { VirtualHost } from '../../core/vhost/virtual-host.js';
import { FerryError } from '../../lib/ferry-error.js';
import { principalOf, vhostFor, visibleVhosts, type AdminContext } from '../admin-context.js';
import { messageToJson } from '../../core/message/message-json.js';
import { LIST_QUERY_SCHEMA, paginate, type ListQuery } from '../pagination.js';
import { bindingView } from './binding-routes.js';
import { round } from './queue-routes.js';

/** Path parameters of one stream. */
interface StreamParams {
  readonly vhost: string;
  readonly name: string;
}

/** Body of `PUT /api/streams/{vhost}/{name}`: the core's `StreamConfig` in snake_case, units last. */
interface DeclareStreamBody {
  readonly durable?: boolean;
  readonly partitions?: number;
  readonly retention_ms?: number;
  readonly retention_bytes?: number;
  readonly retention_messages?: number;
  readonly segment_bytes_max?: number;
  readonly message_bytes_max?: number;
}

/** Query string of `GET /api/streams/{vhost}/{name}/messages` (strings: the API does not coerce types). */
interface ReadQuery {
  readonly partition?: string;
  /** `first` (default), `last` (the last `count` messages) or an offset. */
  readonly from?: string;
  readonly count?: string;
  readonly truncate?: string;
}

/** Most messages one read returns. */
const READ_COUNT_MAX = 1_000;

/** JSON name → StreamConfig field of the optional settings; the one table both directions use. */
const SETTINGS: ReadonlyArray<readonly [keyof DeclareStreamBody, keyof StreamConfig]> = [
  ['retention_ms', 'retentionMs'],
  ['retention_bytes', 'retentionBytes'],
  ['retention_messages', 'retentionMessages'],
  ['segment_bytes_max', 'segmentBytesMax'],
  ['message_bytes_max', 'messageBytesMax'],
];

const PARAMS_SCHEMA = {
  type: 'object',
  required: ['vhost', 'name'],
  properties: { vhost: { type: 'string' }, name: { type: 'string', minLength: 1 } },
} as const;

const positive = { type: 'integer', minimum: 1 } as const;

const DECLARE_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    durable: { type: 'boolean' },
    // The core checks the upper bound (STREAM_PARTITIONS_MAX) and names it in its error.
    partitions: positive,
    retention_ms: positive,
    retention_bytes: positive,
    retention_messages: positive,
    segment_bytes_max: positive,
    message_bytes_max: positive,
  },
} as const;

const digits = { type: 'string', pattern: '^[0-9]{1,15}$' } as const;

const READ_QUERY_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    partition: digits,
    from: { type: 'string', pattern: '^(first|last|[0-9]{1,15})$' },
    count: { type: 'string', pattern: '^[1-9][0-9]{0,3}$' },
    truncate: digits,
  },
} as const;

/** A stream as the API shows it: settings, size, consumer groups, append counter and rate. */
export function streamView(context: AdminContext, vhost: VirtualHost, stream: Stream): Record<string, unknown> {
  const config = stream.config;
  const settings: Record<string, number | null> = {};
  for (const [name, field] of SETTINGS) settings[name] = (config[field] as number | undefined) ?? null;
  return {
    vhost: vhost.name,
    name: stream.name,
    type: 'stream',
    durable: config.durable,
    partitions: stream.partitionCount(),
    ...settings,
    messages: stream.messageCount(),
    size_bytes: stream.sizeBytes(),
    consumer_groups: stream.consumerGroupNames().length,
    message_stats: {
      append: stream.counters.appended,
      append_rate: round(context.rates.streamRates(stream).append),
    },
  };
}

/** Each partition's offsets, and each consumer group's committed offsets and lag. */
function streamDetails(stream: Stream): Record<string, unknown> {
  const partitions = Array.from({ length: stream.partitionCount() }, (_, partition) => {
    const start = stream.startOffset(partition);
    const end = stream.endOffset(partition);
    return { partition, start_offset: start, end_offset: end, messages: end - start };
  });
  const groups = stream.consumerGroupNames().map((name) => {
    // Read from the stream's state, not through consumerGroup(): that would open a group just to look at it.
    const committed = stream.state.committedOffsets(name);
    let lag = 0;
    const offsets = partitions.map(({ partition, start_offset, end_offset }) => {
      const offset = committed.get(partition);
      // As the core counts lag: from the committed offset, or the start when none is committed or retention passed it.
      lag += end_offset - Math.max(offset ?? start_offset, start_offset);
      return { partition, committed_offset: offset ?? null };
    });
    return { name, offsets, lag };
  });
  return { partition_details: partitions, consumer_group_details: groups };
}

/** Streams: list, show, declare, delete, read messages (nothing is removed), bindings. */
export function registerStreamRoutes(api: FastifyInstance, context: AdminContext): void {
  const { management } = context;

  api.get<{ Querystring: ListQuery }>('/streams', { schema: { querystring: LIST_QUERY_SCHEMA } }, async (request) => {
    const rows = visibleVhosts(context, principalOf(request)).flatMap((vhost) => vhost.listStreams().map((stream) => [vhost, stream] as const));
    return paginate(rows, request.query, ([vhost, stream]) => streamView(context, vhost, stream));
  });

  api.get<{ Params: { vhost: string }; Querystring: ListQuery }>(
    '/streams/:vhost',
    { schema: { params: { type: 'object', properties: { vhost: { type: 'string' } } }, querystring: LIST_QUERY_SCHEMA } },
    async (request) => {
      const vhost = vhostFor(context, principalOf(request), request.params.vhost);
      return paginate(vhost.listStreams(), request.query, (stream) => streamView(context, vhost, stream));
    },
  );

  api.get<{ Params: StreamParams }>('/streams/:vhost/:name', { schema: { params: PARAMS_SCHEMA } }, async (request) => {
    const vhost = vhostFor(context, principalOf(request), request.params.vhost);
    const stream = vhost.stream(request.params.name);
    return { ...streamView(context, vhost, stream), ...streamDetails(stream) };
  });

  api.put<{ Params: StreamParams; Body: DeclareStreamBody | undefined }>(
    '/streams/:vhost/:name',
    { schema: { params: PARAMS_SCHEMA, body: DECLARE_SCHEMA } },
    async (request, reply) => {
      const principal = principalOf(request);
      const vhost = vhostFor(context, principal, request.params.vhost);
      const name = request.params.name;
      management.require(principal, vhost.name, 'configure', name);
      if (name.startsWith('amq.')) throw new FerryError('ACCESS_REFUSED', `stream name ${name} has the reserved prefix amq.`);
      const body = request.body ?? {};
      const config: Record<string, unknown> = { name, durable: body.durable ?? true, partitions: body.partitions ?? 1 };
      for (const [jsonName, field] of SETTINGS) if (body[jsonName] !== undefined) config[field] = body[jsonName];
      const existed = vhost.findStream(name) !== undefined;
      // Streams and queues share one namespace: a queue of that name makes this PRECONDITION_FAILED (409).
      const stream = await vhost.declareStream(config as Partial<StreamConfig> & { name: string });
      return reply.code(existed ? 200 : 201).send(streamView(context, vhost, stream));
    },
  );

  api.delete<{ Params: StreamParams }>('/streams/:vhost/:name', { schema: { params: PARAMS_SCHEMA } }, async (request) => {
    const principal = principalOf(request);
    const vhost = vhostFor(context, principal, request.params.vhost);
    management.require(principal, vhost.name, 'configure', request.params.name);
    return { messages_deleted: await vhost.deleteStream(request.params.name) };
  });

  api.get<{ Params: StreamParams; Querystring: ReadQuery }>(
    '/streams/:vhost/:name/messages',
    { schema: { params: PARAMS_SCHEMA, querystring: READ_QUERY_SCHEMA } },
    async (request) => {
      const principal = principalOf(request);
      const vhost = vhostFor(context, principal, request.params.vhost);
      management.require(principal, vhost.name, 'read', request.params.name);
      const stream = vhost.stream(request.params.name);
      const partition = Number(request.query.partition ?? 0);
      if (partition >= stream.partitionCount()) {
        throw new FerryError('PARTITION_NOT_FOUND', `stream ${stream.name} has partitions 0 to ${stream.partitionCount() - 1}, not ${partition}`);
      }
      const count = Number(request.query.count ?? 20);
      if (count > READ_COUNT_MAX) throw new FerryError('INVALID_REQUEST', `count must be at most ${READ_COUNT_MAX}`);
      const from = request.query.from ?? 'first';
      const offset =
        from === 'first' ? stream.startOffset(partition) : from === 'last' ? Math.max(stream.startOffset(partition), stream.endOffset(partition) - count) : Number(from);
      const payload = { encoding: 'auto' as const, ...(request.query.truncate !== undefined ? { truncateBytes: Number(request.query.truncate) } : {}) };
      const entries = await stream.read(partition, offset, { max: count });
      return entries.map((entry) => ({ partition: entry.partition, offset: entry.offset, timestamp_ms: entry.timestampMs, ...messageToJson(entry.message, payload) }));
    },
  );

  api.get<{ Params: StreamParams }>('/streams/:vhost/:name/bindings', { schema: { params: PARAMS_SCHEMA } }, async (request) => {
    const vhost = vhostFor(context, principalOf(request), request.params.vhost);
    const stream = vhost.stream(request.params.name);
    return vhost.router.bindingsTo({ kind: 'stream', name: stream.name }).map((binding) => bindingView(vhost, binding));
  });
}
