import { FerryError } from '../../../lib/ferry-error.js';
import type { RequestHandler } from '../request-handler.js';

const TIMEOUT_MS_DEFAULT = 60_000;

/**
 * `transactionBegin`: opens the channel's transaction. Until it commits or
 * aborts, the channel's publish, append, ack and groupCommit are staged in it
 * (answered at once); a transaction open longer than `timeoutMs` (0: 60 s)
 * aborts by itself.
 */
export const transactionBegin: RequestHandler<'transactionBegin'> = {
  ordered: true,
  async handle(channel, { timeoutMs }) {
    if (channel.transaction !== null) throw new FerryError('PRECONDITION_FAILED', `channel ${channel.number} already has an open transaction`);
    const transaction = await channel.vhost.beginTransaction({ timeoutMs: timeoutMs > 0 ? timeoutMs : TIMEOUT_MS_DEFAULT });
    if (channel.closed) {
      transaction.abort('the channel closed');
      return {};
    }
    channel.transaction = transaction;
    channel.stagedAcks.clear();
    return {};
  },
};

/**
 * `transactionCommit`: everything staged takes effect together, durably,
 * before the answer (how many publishes reached nothing, which queues
 * refused one); or nothing does (the error says why, TRANSACTION_ABORTED
 * after a timeout). Either way the channel has no transaction afterwards.
 */
export const transactionCommit: RequestHandler<'transactionCommit'> = {
  ordered: true,
  async handle(channel) {
    const transaction = channel.transaction;
    if (transaction === null) throw new FerryError('PRECONDITION_FAILED', `channel ${channel.number} has no open transaction`);
    const staged = channel.stagedAcks;
    channel.transaction = null;
    channel.stagedAcks = new Set();
    const outcome = await transaction.commit();
    // The acked deliveries are settled now.
    for (const tag of staged) channel.unacked.delete(tag);
    return { unroutable: outcome.unroutable, rejectedBy: [...outcome.rejectedBy] };
  },
};

/** `transactionAbort`: drops everything staged; acked deliveries stay unacknowledged. */
export const transactionAbort: RequestHandler<'transactionAbort'> = {
  handle(channel) {
    const transaction = channel.transaction;
    if (transaction === null) throw new FerryError('PRECONDITION_FAILED', `channel ${channel.number} has no open transaction`);
    channel.transaction = null;
    channel.stagedAcks.clear();
    transaction.abort();
    return {};
  },
};
