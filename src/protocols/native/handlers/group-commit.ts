import { FerryError } from '../../../lib/ferry-error.js';
import type { RequestHandler } from '../request-handler.js';
import { consumerGroupOf } from './group-membership.js';

/**
 * `groupCommit`: records `offset` (the next to read) as the group's position
 * in `partition`; only the member owning it may (NOT_PARTITION_OWNER), and
 * with `generation` ≥ 0 only in that generation (ILLEGAL_GENERATION).
 * Answers once durable. In a transaction it is staged, taking effect at commit.
 */
export const groupCommit: RequestHandler<'groupCommit'> = {
  handle(channel, { stream, group, member, partition, offset, generation }) {
    const consumerGroup = consumerGroupOf(channel, stream, group);
    const transaction = channel.transaction;
    if (transaction !== null) {
      transaction.commitOffset(stream, group, member, partition, offset, generation >= 0 ? generation : undefined);
      return {};
    }
    if (generation >= 0 && generation !== consumerGroup.generation()) {
      throw new FerryError('ILLEGAL_GENERATION', `group ${group} is at generation ${consumerGroup.generation()}, not ${generation}: re-read after the rebalance`);
    }
    return consumerGroup.commit(member, partition, offset).then(() => ({}));
  },
};

/** `groupCommitted`: the durably committed offset of each partition, -1 where the group never committed. */
export const groupCommitted: RequestHandler<'groupCommitted'> = {
  handle(channel, { stream, group }) {
    const consumerGroup = consumerGroupOf(channel, stream, group);
    const partitions = channel.vhost.stream(stream).partitionCount();
    const offsets: number[] = [];
    for (let partition = 0; partition < partitions; partition++) offsets.push(consumerGroup.committed(partition) ?? -1);
    return { offsets };
  },
};
