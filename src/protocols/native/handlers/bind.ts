import { FerryError } from '../../../lib/ferry-error.js';
import type { Destination } from '../../../core/routing/destination.js';
import type { NativeChannel } from '../native-channel.js';
import type { RequestHandler } from '../request-handler.js';

/** The destination a binding frame names: `destinationKind` "" means the queue or stream of that name. */
function destinationOf(channel: NativeChannel, name: string, kind: string): Destination {
  switch (kind) {
    case '':
      return { kind: channel.vhost.findStream(name) ? 'stream' : 'queue', name };
    case 'queue':
    case 'stream':
    case 'exchange':
      return { kind, name };
    default:
      throw new FerryError('INVALID_ARGUMENT', `destinationKind must be queue, stream, exchange or empty, not ${JSON.stringify(kind)}`);
  }
}

/** `bind`: routes what reaches `source` (by routing key, or header arguments) to the destination. */
export const bind: RequestHandler<'bind'> = {
  ordered: true,
  async handle(channel, { source, destination, destinationKind, routingKey, arguments: bindingArguments }) {
    channel.authorize('write', destination);
    channel.authorize('read', source);
    await channel.vhost.bind(source, destinationOf(channel, destination, destinationKind), routingKey, bindingArguments);
    return {};
  },
};

/** `unbind`: answers whether the binding existed. */
export const unbind: RequestHandler<'unbind'> = {
  ordered: true,
  async handle(channel, { source, destination, destinationKind, routingKey, arguments: bindingArguments }) {
    channel.authorize('write', destination);
    channel.authorize('read', source);
    return { removed: await channel.vhost.unbind(source, destinationOf(channel, destination, destinationKind), routingKey, bindingArguments) };
  },
};
