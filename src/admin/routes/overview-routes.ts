import type { FastifyInstance } from 'fastify';
import { principalOf, visibleVhosts, type AdminContext } from '../admin-context.js';
import { round } from './queue-routes.js';

/** `GET /api/overview`: version, uptime, listeners, object and message totals, rates, alarms. */
export function registerOverviewRoutes(api: FastifyInstance, context: AdminContext): void {
  const { core, management } = context;

  api.get('/overview', async (request) => {
    const principal = principalOf(request);
    const vhosts = visibleVhosts(context, principal);
    let queues = 0;
    let streams = 0;
    let exchanges = 0;
    let bindings = 0;
    let consumers = 0;
    let ready = 0;
    let unacknowledged = 0;
    let scheduled = 0;
    let published = 0;
    let unroutable = 0;
    let delivered = 0;
    let acked = 0;
    let publishRate = 0;
    let deliverRate = 0;
    let ackRate = 0;
    let unroutableRate = 0;
    for (const vhost of vhosts) {
      exchanges += vhost.router.listExchanges().length;
      streams += vhost.listStreams().length;
      bindings += vhost.router.bindingCount;
      published += vhost.counters.published;
      unroutable += vhost.counters.unroutable;
      const rates = context.rates.vhostRates(vhost);
      publishRate += rates.publish;
      deliverRate += rates.deliver;
      ackRate += rates.ack;
      unroutableRate += rates.unroutable;
      for (const queue of vhost.listQueues()) {
        queues++;
        consumers += queue.consumerCount();
        ready += queue.messageCount();
        unacknowledged += queue.unsettledCount();
        scheduled += queue.scheduledCount();
        delivered += queue.counters.delivered;
        acked += queue.counters.acked;
      }
    }
    const seesEverything = management.seesEverything(principal);
    const connections = core.connections
      .list()
      .map((connection) => connection.describe())
      .filter((description) => seesEverything || description.user === principal.user);
    const nowMs = Date.now();
    return {
      ferry_version: context.version,
      node_version: process.version,
      started_at_ms: context.startedAtMs,
      uptime_ms: nowMs - context.startedAtMs,
      listeners: context.listeners(),
      object_totals: {
        vhosts: vhosts.length,
        exchanges,
        queues,
        streams,
        bindings,
        consumers,
        connections: connections.length,
        channels: connections.reduce((sum, connection) => sum + connection.channels.length, 0),
      },
      queue_totals: {
        messages: ready + unacknowledged,
        messages_ready: ready,
        messages_unacknowledged: unacknowledged,
        messages_scheduled: scheduled,
      },
      message_stats: {
        publish: published,
        publish_rate: round(publishRate),
        unroutable,
        unroutable_rate: round(unroutableRate),
        deliver: delivered,
        deliver_rate: round(deliverRate),
        ack: acked,
        ack_rate: round(ackRate),
      },
      alarms: [...core.alarms.activeAlarms()],
      storage_bytes: seesEverything && context.storageBytes ? context.storageBytes() : null,
    };
  });
}
