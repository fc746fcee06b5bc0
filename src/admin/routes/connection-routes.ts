import type { FastifyInstance } from 'fastify';
import type { Principal } from '../../core/access/access-control.js';
import type { ChannelDescription, ConnectionDescription, RegisteredConnection } from '../../core/connections/connection-registry.js';
import { FerryError } from '../../lib/ferry-error.js';
import { principalOf, vhostFor, visibleVhosts, type AdminContext } from '../admin-context.js';
import { LIST_QUERY_SCHEMA, paginate, type ListQuery } from '../pagination.js';

/** A connection as the API shows it. */
export function connectionView(description: ConnectionDescription): Record<string, unknown> {
  return {
    name: description.name,
    protocol: description.protocol,
    peer_host: description.peerAddress ?? null,
    peer_port: description.peerPort ?? null,
    user: description.user,
    vhost: description.vhost,
    connected_at_ms: description.connectedAtMs,
    state: description.state,
    channels: description.channels.length,
  };
}

/** A channel's name: its connection's name and its number, as RabbitMQ writes it. */
export function channelName(connection: string, number: number): string {
  return `${connection} (${number})`;
}

function channelView(connection: ConnectionDescription, channel: ChannelDescription): Record<string, unknown> {
  return {
    name: channelName(connection.name, channel.number),
    connection: connection.name,
    number: channel.number,
    protocol: connection.protocol,
    user: connection.user,
    vhost: connection.vhost,
    consumer_count: channel.consumers.length,
    messages_unacknowledged: channel.unacknowledged,
    prefetch_count: channel.prefetch,
    confirm: channel.confirm,
    transactional: channel.transactional,
  };
}

/** Connections, channels and consumers: list, show, close a connection. */
export function registerConnectionRoutes(api: FastifyInstance, context: AdminContext): void {
  const { core, management } = context;

  /** Administrators and monitors see every connection; other users their own. */
  const visibleConnections = (principal: Principal): ConnectionDescription[] =>
    core.connections
      .list()
      .map((connection) => connection.describe())
      .filter((description) => management.seesEverything(principal) || description.user === principal.user);

  const connectionFor = (principal: Principal, name: string): RegisteredConnection => {
    const connection = core.connections.get(name);
    if (!connection) throw new FerryError('CONNECTION_NOT_FOUND', `no connection ${name}`);
    if (!management.seesEverything(principal) && connection.describe().user !== principal.user) {
      throw new FerryError('ACCESS_REFUSED', `connection ${name} belongs to another user`);
    }
    return connection;
  };

  api.get<{ Querystring: ListQuery }>('/connections', { schema: { querystring: LIST_QUERY_SCHEMA } }, async (request) => {
    return paginate(visibleConnections(principalOf(request)), request.query, connectionView);
  });

  api.get<{ Params: { name: string } }>('/connections/:name', async (request) => {
    return connectionView(connectionFor(principalOf(request), request.params.name).describe());
  });

  api.get<{ Params: { name: string } }>('/connections/:name/channels', async (request) => {
    const description = connectionFor(principalOf(request), request.params.name).describe();
    return description.channels.map((channel) => channelView(description, channel));
  });

  api.delete<{ Params: { name: string } }>('/connections/:name', async (request, reply) => {
    const principal = principalOf(request);
    const connection = connectionFor(principal, request.params.name);
    // Monitors see every connection but close only their own.
    if (!management.isAdministrator(principal) && connection.describe().user !== principal.user) {
      throw new FerryError('ACCESS_REFUSED', `user ${principal.user} may not close connection ${connection.name}`);
    }
    const reason = request.headers['x-reason'];
    connection.close(typeof reason === 'string' && reason.length > 0 ? reason : 'closed via the management API');
    return reply.code(204).send();
  });

  api.get<{ Querystring: ListQuery }>('/channels', { schema: { querystring: LIST_QUERY_SCHEMA } }, async (request) => {
    const rows = visibleConnections(principalOf(request)).flatMap((connection) => connection.channels.map((channel) => [connection, channel] as const));
    return paginate(rows, request.query, ([connection, channel]) => channelView(connection, channel));
  });

  /** Consumers from the queues' side, with their connection and channel when a front end registered them. */
  const consumersOf = (principal: Principal, vhostNames: readonly string[]): Array<Record<string, unknown>> => {
    const byQueueTag = new Map<string, { connection: ConnectionDescription; channel: ChannelDescription; tag: string }>();
    for (const connection of core.connections.list()) {
      const description = connection.describe();
      for (const channel of description.channels) {
        for (const consumer of channel.consumers) byQueueTag.set(`${description.vhost}\u0000${consumer.queue}\u0000${consumer.queueTag}`, { connection: description, channel, tag: consumer.tag });
      }
    }
    const rows: Array<Record<string, unknown>> = [];
    for (const vhostName of vhostNames) {
      const vhost = core.vhost(vhostName);
      for (const queue of vhost.listQueues()) {
        for (const consumer of queue.consumerDetails()) {
          const owner = byQueueTag.get(`${vhost.name}\u0000${queue.name}\u0000${consumer.tag}`);
          if (!management.seesEverything(principal) && owner !== undefined && owner.connection.user !== principal.user) continue;
          rows.push({
            vhost: vhost.name,
            queue: queue.name,
            consumer_tag: owner?.tag ?? consumer.tag,
            queue_consumer_tag: consumer.tag,
            connection: owner?.connection.name ?? null,
            channel: owner ? channelName(owner.connection.name, owner.channel.number) : null,
            ack_required: !consumer.autoAck,
            prefetch_count: consumer.prefetch,
            priority: consumer.priority,
            exclusive: consumer.exclusive,
            active: consumer.active,
            flowing: consumer.flowing,
            messages_unacknowledged: consumer.inFlight,
          });
        }
      }
    }
    return rows;
  };

  api.get<{ Querystring: ListQuery }>('/consumers', { schema: { querystring: LIST_QUERY_SCHEMA } }, async (request) => {
    const principal = principalOf(request);
    const names = visibleVhosts(context, principal).map((vhost) => vhost.name);
    return paginate(consumersOf(principal, names), request.query, (row) => row);
  });

  api.get<{ Params: { vhost: string }; Querystring: ListQuery }>('/consumers/:vhost', { schema: { querystring: LIST_QUERY_SCHEMA } }, async (request) => {
    const principal = principalOf(request);
    const vhost = vhostFor(context, principal, request.params.vhost);
    return paginate(consumersOf(principal, [vhost.name]), request.query, (row) => row);
  });
}
