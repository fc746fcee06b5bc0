import { FerryError } from '../../../lib/ferry-error.js';
import { readOptions } from '../options-table.js';
import type { RequestHandler } from '../request-handler.js';

const STREAM_OPTIONS = {
  partitions: 'count',
  durable: 'boolean',
  retentionMs: 'count',
  retentionBytes: 'count',
  retentionMessages: 'count',
  segmentBytesMax: 'count',
  messageBytesMax: 'count',
  compaction: 'string',
  compactionIntervalMs: 'count',
  passive: 'boolean',
} as const;

/**
 * `streamDeclare`: creates a stream with the StreamConfig settings of its
 * options, or checks an existing one (PRECONDITION_FAILED when it differs);
 * `passive` only checks that it exists (STREAM_NOT_FOUND). Answers its partition count.
 */
export const streamDeclare: RequestHandler<'streamDeclare'> = {
  ordered: true,
  async handle(channel, { name, options }) {
    const { passive, compaction, ...config } = readOptions(options, STREAM_OPTIONS, `stream ${name}`);
    if (passive === true) return { partitions: channel.vhost.stream(name).partitionCount() };
    if (compaction !== undefined && compaction !== 'key') throw new FerryError('INVALID_ARGUMENT', `stream ${name} option compaction must be "key", got ${JSON.stringify(compaction)}`);
    channel.authorize('configure', name);
    const stream = await channel.vhost.declareStream({ name, ...config, ...(compaction !== undefined ? { compaction } : {}) });
    return { partitions: stream.partitionCount() };
  },
};

/** `streamDelete`: deletes the stream with its data, offsets and groups; answers how many messages it held. */
export const streamDelete: RequestHandler<'streamDelete'> = {
  ordered: true,
  async handle(channel, { name }) {
    channel.authorize('configure', name);
    return { messageCount: await channel.vhost.deleteStream(name) };
  },
};

/** `streamInfo`: the first and next offsets of each partition. */
export const streamInfo: RequestHandler<'streamInfo'> = {
  handle(channel, { name }) {
    channel.authorize('read', name);
    const stream = channel.vhost.stream(name);
    const startOffsets: number[] = [];
    const endOffsets: number[] = [];
    for (let partition = 0; partition < stream.partitionCount(); partition++) {
      startOffsets.push(stream.startOffset(partition));
      endOffsets.push(stream.endOffset(partition));
    }
    return { startOffsets, endOffsets };
  },
};
