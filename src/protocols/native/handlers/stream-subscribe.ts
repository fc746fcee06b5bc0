import { FerryError } from '../../../lib/ferry-error.js';
import type { NativeChannel } from '../native-channel.js';
import type { StreamSubscription } from '../stream-subscription.js';
import { AnswerThen, type RequestHandler } from '../request-handler.js';
import { offsetSpecOf } from './stream-read.js';

function subscriptionOf(channel: NativeChannel, id: number): StreamSubscription {
  const subscription = channel.subscriptions.get(id);
  if (subscription === undefined) throw new FerryError('INVALID_ARGUMENT', `no stream subscription ${id} on channel ${channel.number}`);
  return subscription;
}

/**
 * `streamSubscribe`: pushes a partition's entries from `from` on in
 * `streamDeliver` frames, after this answer, never more than the credit
 * given (`credit`, then `streamCredit`); then follows the partition as it
 * grows. A deleted stream ends it with `cancelled` (its id).
 */
export const streamSubscribe: RequestHandler<'streamSubscribe'> = {
  ordered: true,
  async handle(channel, { stream: name, partition, from, credit }) {
    const id = channel.reserveId();
    channel.authorize('read', name);
    const stream = channel.vhost.stream(name);
    const offset = await stream.offsetFor(partition, offsetSpecOf(from));
    if (channel.closed) throw new FerryError('INVALID_ARGUMENT', `channel ${channel.number} closed while subscribing`);
    const subscription = channel.subscribe(id, stream, partition, offset, credit);
    return new AnswerThen({ subscriptionId: id, offset }, () => (channel.closed ? subscription.stop() : subscription.start()));
  },
};

/** `streamCredit`: lets a subscription send `credit` more entries. */
export const streamCredit: RequestHandler<'streamCredit'> = {
  handle(channel, { subscriptionId, credit }) {
    subscriptionOf(channel, subscriptionId).addCredit(credit);
    return {};
  },
};

/** `streamUnsubscribe`: stops a subscription; nothing of it follows the answer. */
export const streamUnsubscribe: RequestHandler<'streamUnsubscribe'> = {
  handle(channel, { subscriptionId }) {
    subscriptionOf(channel, subscriptionId).stop();
    channel.subscriptions.delete(subscriptionId);
    return {};
  },
};
