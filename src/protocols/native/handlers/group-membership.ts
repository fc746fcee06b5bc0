import type { ConsumerGroup } from '../../../core/stream/consumer-group.js';
import type { NativeChannel } from '../native-channel.js';
import type { RequestHandler } from '../request-handler.js';

/** The consumer group `group` of stream `stream`, after checking read permission on the stream. */
export function consumerGroupOf(channel: NativeChannel, stream: string, group: string): ConsumerGroup {
  channel.authorize('read', stream);
  return channel.vhost.stream(stream).consumerGroup(group);
}

function membershipKey(stream: string, group: string, member: string): string {
  return `${stream}\u0000${group}\u0000${member}`;
}

/**
 * `groupJoin`: adds `member` to the consumer group and answers the new
 * generation and the partitions the member owns now. Later changes arrive
 * as `groupAssignment` pushes: `assigned` (start reading them), `revoked`
 * (stop, then confirm with `groupRevoked`), `lost` (the member was removed
 * after its session or a revocation timed out: join again). The member
 * leaves when the channel closes.
 */
export const groupJoin: RequestHandler<'groupJoin'> = {
  ordered: true,
  handle(channel, { stream, group, member, sessionTimeoutMs }) {
    const consumerGroup = consumerGroupOf(channel, stream, group);
    const key = membershipKey(stream, group, member);
    // The first assignment is the answer's; only later changes are pushed.
    let joining = true;
    const push = (assigned: readonly number[], revoked: readonly number[], lost: readonly number[]): void => {
      channel.push('groupAssignment', { stream, group, member, generation: consumerGroup.generation(), assigned, revoked, lost });
    };
    const generation = consumerGroup.join(member, {
      ...(sessionTimeoutMs > 0 ? { sessionTimeoutMs } : {}),
      onAssigned: (partitions) => {
        if (!joining) push(partitions, [], []);
      },
      onRevoked: (partitions) => push([], partitions, []),
      onLost: (partitions) => {
        channel.memberships.delete(key);
        push([], [], partitions);
      },
    });
    joining = false;
    channel.memberships.set(key, { stream, group: consumerGroup, member });
    return { generation, partitions: consumerGroup.assignment(member) };
  },
};

/** `groupRevoked`: the member stopped reading these revoked partitions; they go to their new owners. */
export const groupRevoked: RequestHandler<'groupRevoked'> = {
  handle(channel, { stream, group, member, partitions }) {
    consumerGroupOf(channel, stream, group).revoked(member, partitions);
    return {};
  },
};

/** `groupLeave`: the member leaves; its partitions go to the others at once. */
export const groupLeave: RequestHandler<'groupLeave'> = {
  handle(channel, { stream, group, member }) {
    consumerGroupOf(channel, stream, group).leave(member);
    channel.memberships.delete(membershipKey(stream, group, member));
    return {};
  },
};

/** `groupHeartbeat`: the member is alive; its session timeout counts from now. */
export const groupHeartbeat: RequestHandler<'groupHeartbeat'> = {
  handle(channel, { stream, group, member }) {
    consumerGroupOf(channel, stream, group).heartbeat(member);
    return {};
  },
};
