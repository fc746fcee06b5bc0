import type { StreamEntry } from '../../core/stream/stream.js';
import { authorizedVhost, type MessagingContext } from './messaging-context.js';
import { DIGITS_SCHEMA, ENCODING_SCHEMA, messagingRoute, NAME_PARAMS_SCHEMA, wholeNumberOf, type MessagingRoute, type NameParams } from './messaging-route.js';
import { STREAM_ENTRY_JSON_SCHEMA, streamEntryToJson } from './stream-entry-json.js';
import { offsetSpecOf, STREAM_POSITION_PARAMETERS, type StreamPositionQuery } from './stream-position.js';

interface ReadQuery extends StreamPositionQuery {
  readonly partition?: string;
  readonly max?: string;
  readonly wait_ms?: string;
  readonly encoding?: 'auto' | 'base64';
}

/**
 * Reading a stream by offset: nothing is consumed, so any number of readers
 * page through the same messages, each keeping its own position
 * (`next_offset`). Only durable messages are visible.
 */
export function streamReadRoutes(context: MessagingContext): MessagingRoute[] {
  const { limits } = context;
  const read = messagingRoute<{ Params: NameParams; Querystring: ReadQuery }>({
    method: 'GET',
    url: '/streams/:vhost/:name/read',
    operationId: 'readStream',
    summary: 'Read messages of a stream partition from an offset, a time or an end',
    description:
      'Returns up to `max` messages of `partition` from the start named by one of `offset`, `from` (default `first`) or `timestamp_ms`, ' +
      'and `next_offset`: the offset to read from next time (pass it as `offset` to page on). With `wait_ms`, waits that long for a first ' +
      'message when there is none yet. Reading removes nothing. Needs the read permission on the stream.',
    schema: {
      params: NAME_PARAMS_SCHEMA,
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          partition: { ...DIGITS_SCHEMA, description: 'default 0' },
          ...STREAM_POSITION_PARAMETERS,
          max: { ...DIGITS_SCHEMA, description: `most messages to return, 1 to ${limits.pullMessagesMax} (default 100); fewer when they hold more than ${limits.readBytesMax} bytes` },
          wait_ms: { ...DIGITS_SCHEMA, description: `longest wait for a first message, 0 (default) to ${limits.waitMsMax}` },
          encoding: ENCODING_SCHEMA,
        },
      },
      response: {
        200: {
          type: 'object',
          required: ['partition', 'messages', 'next_offset'],
          properties: {
            partition: { type: 'integer' },
            messages: { type: 'array', items: STREAM_ENTRY_JSON_SCHEMA },
            next_offset: { type: 'integer', description: 'the offset after the last message returned (the start offset when none was)' },
          },
        },
      },
    },
    handler: async (request) => {
      const vhost = authorizedVhost(context, request, request.params.vhost, 'read', request.params.name);
      const stream = vhost.stream(request.params.name);
      const query = request.query;
      const partition = wholeNumberOf(query.partition, 'partition', 0, 0, Number.MAX_SAFE_INTEGER);
      const max = wholeNumberOf(query.max, 'max', Math.min(100, limits.pullMessagesMax), 1, limits.pullMessagesMax);
      const waitMs = wholeNumberOf(query.wait_ms, 'wait_ms', 0, 0, limits.waitMsMax);
      const offset = await stream.offsetFor(partition, offsetSpecOf(query, 'first'));
      const readLimits = { max, bytesMax: limits.readBytesMax };
      let entries: StreamEntry[] = await stream.read(partition, offset, readLimits);
      if (entries.length === 0 && waitMs > 0 && (await stream.waitForMessages(partition, offset, waitMs))) entries = await stream.read(partition, offset, readLimits);
      const encoding = query.encoding ?? 'auto';
      return {
        partition,
        messages: entries.map((entry) => streamEntryToJson(entry, encoding)),
        next_offset: entries.length > 0 ? entries[entries.length - 1]!.offset + 1 : offset,
      };
    },
  });
  return [read];
}
