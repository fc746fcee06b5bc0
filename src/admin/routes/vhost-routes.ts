import type { FastifyInstance } from 'fastify';
import type { VirtualHost } from '../../core/vhost/virtual-host.js';
import { principalOf, vhostFor, visibleVhosts, type AdminContext } from '../admin-context.js';
import { round } from './queue-routes.js';

/** A vhost as the API shows it: object counts, depth and message rates. */
export function vhostView(context: AdminContext, vhost: VirtualHost): Record<string, unknown> {
  let ready = 0;
  let unacknowledged = 0;
  let deliver = 0;
  let ack = 0;
  const queues = vhost.listQueues();
  for (const queue of queues) {
    ready += queue.messageCount();
    unacknowledged += queue.unsettledCount();
    deliver += queue.counters.delivered;
    ack += queue.counters.acked;
  }
  const rates = context.rates.vhostRates(vhost);
  return {
    name: vhost.name,
    messages: ready + unacknowledged,
    messages_ready: ready,
    messages_unacknowledged: unacknowledged,
    queues: queues.length,
    exchanges: vhost.router.listExchanges().length,
    bindings: vhost.router.bindingCount,
    connections: context.core.connections.list().filter((connection) => connection.describe().vhost === vhost.name).length,
    message_stats: {
      publish: vhost.counters.published,
      publish_rate: round(rates.publish),
      unroutable: vhost.counters.unroutable,
      unroutable_rate: round(rates.unroutable),
      // Deliveries and acks of the queues that exist now.
      deliver,
      deliver_rate: round(rates.deliver),
      ack,
      ack_rate: round(rates.ack),
    },
  };
}

/** Vhosts: list, show, create and delete (administrators), and their permissions. */
export function registerVhostRoutes(api: FastifyInstance, context: AdminContext): void {
  const { core, management } = context;

  api.get('/vhosts', async (request) => visibleVhosts(context, principalOf(request)).map((vhost) => vhostView(context, vhost)));

  api.get<{ Params: { vhost: string } }>('/vhosts/:vhost', async (request) => vhostView(context, vhostFor(context, principalOf(request), request.params.vhost)));

  api.put<{ Params: { vhost: string } }>('/vhosts/:vhost', async (request, reply) => {
    management.requireAdministrator(principalOf(request));
    const existed = core.vhostNames().includes(request.params.vhost);
    const vhost = await core.declareVhost(request.params.vhost);
    return reply.code(existed ? 200 : 201).send(vhostView(context, vhost));
  });

  api.delete<{ Params: { vhost: string } }>('/vhosts/:vhost', async (request, reply) => {
    management.requireAdministrator(principalOf(request));
    const name = request.params.vhost;
    core.vhost(name);
    // Connections working in it go first, then (in the core) its permissions and resources.
    for (const connection of core.connections.list()) if (connection.describe().vhost === name) connection.close(`vhost ${name} was deleted`);
    await core.deleteVhost(name);
    return reply.code(204).send();
  });

  api.get<{ Params: { vhost: string } }>('/vhosts/:vhost/permissions', async (request) => {
    management.requireAdministrator(principalOf(request));
    core.vhost(request.params.vhost);
    return core.access
      .listPermissions()
      .filter((entry) => entry.vhost === request.params.vhost)
      .map((entry) => ({ user: entry.user, vhost: entry.vhost, configure: entry.configure, write: entry.write, read: entry.read }));
  });
}
