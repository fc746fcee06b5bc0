import { MESSAGE_JSON_SCHEMA, messageToJson } from '../../core/message/message-json.js';
import type { StreamEntry } from '../../core/stream/stream.js';

/** A stream message as the messaging API writes it (reads, subscriptions): where it is, when it was stored, the message. */
export function streamEntryToJson(entry: StreamEntry, encoding: 'auto' | 'base64'): Record<string, unknown> {
  return { partition: entry.partition, offset: entry.offset, timestamp_ms: entry.timestampMs, ...messageToJson(entry.message, { encoding }) };
}

/** JSON schema of {@link streamEntryToJson}. */
export const STREAM_ENTRY_JSON_SCHEMA = {
  ...MESSAGE_JSON_SCHEMA,
  required: [...MESSAGE_JSON_SCHEMA.required, 'partition', 'offset', 'timestamp_ms'],
  properties: {
    partition: { type: 'integer' },
    offset: { type: 'integer' },
    timestamp_ms: { type: 'integer', description: 'when the stream stored it, milliseconds since the epoch' },
    ...MESSAGE_JSON_SCHEMA.properties,
  },
} as const;
