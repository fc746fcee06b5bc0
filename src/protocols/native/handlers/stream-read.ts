import type { OffsetSpec } from '../../../core/stream/stream.js';
import { FRAMES, FrameFlag, type WireOffsetSpec } from '../codec/index.js';
import { encodeEntries } from '../delivery-frames.js';
import { EncodedAnswer, type RequestHandler } from '../request-handler.js';

/** The core's offset specification for a wire one. */
export function offsetSpecOf(spec: WireOffsetSpec): OffsetSpec {
  switch (spec.kind) {
    case 'first':
    case 'last':
    case 'next':
      return spec.kind;
    case 'offset':
      return { offset: spec.value };
    case 'timestamp':
      return { timestampMs: spec.value };
  }
}

/**
 * `streamRead`: up to `max` entries of a partition from `from` (capped at the
 * batch limit and at about half a frame of bytes), waiting up to `waitMs` for
 * one when there is none yet; answers them with the offset to read next.
 * Entries are sent as stored, never decoded.
 */
export const streamRead: RequestHandler<'streamRead'> = {
  waits: true,
  async handle(channel, { stream: name, partition, from, max, waitMs }) {
    channel.authorize('read', name);
    const stream = channel.vhost.stream(name);
    const offset = await stream.offsetFor(partition, offsetSpecOf(from));
    const limits = { max: Math.max(1, Math.min(max, channel.host.limits.batchMessagesMax)), bytesMax: Math.floor(channel.host.frameBytesMax() / 2) };
    let entries = await stream.read(partition, offset, limits);
    if (entries.length === 0 && waitMs > 0 && (await stream.waitForMessages(partition, offset, waitMs))) entries = await stream.read(partition, offset, limits);
    const start = Math.max(offset, stream.startOffset(partition));
    return new EncodedAnswer((number, correlation) => {
      const frames: Uint8Array[] = [];
      const target = {
        type: FRAMES.streamRead.type,
        flags: FrameFlag.RESPONSE,
        channel: number,
        correlation,
        prefix: null,
        suffix: (end: number) => (end > 0 ? entries[end - 1]!.offset + 1 : entries.length > 0 ? entries[0]!.offset : start),
      };
      encodeEntries(target, entries, 0, entries.length, channel.host.frameBytesMax(), frames, true);
      return frames[0]!;
    });
  },
};
