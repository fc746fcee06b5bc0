import type { FastifyInstance } from 'fastify';
import type { ExchangeDescription, ExchangeType } from '../../core/routing/exchange.js';
import type { TopicDialect } from '../../core/routing/topic-trie.js';
import type { VirtualHost } from '../../core/vhost/virtual-host.js';
import { FerryError } from '../../lib/ferry-error.js';
import { principalOf, vhostFor, visibleVhosts, type AdminContext } from '../admin-context.js';
import { messageOf, PUBLISH_REQUEST_SCHEMA, type PublishRequest } from '../../core/message/message-json.js';
import { LIST_QUERY_SCHEMA, paginate, type ListQuery } from '../pagination.js';
import { exchangeNameOf } from '../../core/message/message-json.js';
import { bindingView } from './binding-routes.js';

interface ExchangeParams {
  readonly vhost: string;
  readonly name: string;
}

/** Body of `PUT /api/exchanges/{vhost}/{name}`. */
interface DeclareExchangeBody {
  readonly type: ExchangeType;
  readonly durable?: boolean;
  readonly auto_delete?: boolean;
  readonly internal?: boolean;
  readonly alternate_exchange?: string;
  readonly topic_dialect?: TopicDialect;
}

const PARAMS_SCHEMA = {
  type: 'object',
  required: ['vhost', 'name'],
  properties: { vhost: { type: 'string' }, name: { type: 'string', minLength: 1 } },
} as const;

const DECLARE_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['type'],
  properties: {
    type: { type: 'string' },
    durable: { type: 'boolean' },
    auto_delete: { type: 'boolean' },
    internal: { type: 'boolean' },
    alternate_exchange: { type: 'string' },
    topic_dialect: { type: 'string', enum: ['amqp', 'mqtt', 'nats'] },
  },
} as const;

/** An exchange as the API shows it. */
export function exchangeView(vhost: VirtualHost, exchange: ExchangeDescription): Record<string, unknown> {
  const flags = vhost.exchangeFlags(exchange.name);
  return {
    vhost: vhost.name,
    name: exchange.name,
    type: exchange.type,
    durable: flags?.durable ?? true,
    auto_delete: flags?.autoDelete ?? false,
    internal: exchange.internal,
    alternate_exchange: exchange.alternateExchange ?? null,
    topic_dialect: exchange.topicDialect ?? null,
    bindings_from: vhost.router.bindingsFrom(exchange.name).length,
  };
}

/** Exchanges: list, show, declare, delete, publish a test message, bindings from and to. */
export function registerExchangeRoutes(api: FastifyInstance, context: AdminContext): void {
  const { management, core } = context;

  const exchangeOf = (vhost: VirtualHost, pathName: string): ExchangeDescription => {
    const exchange = vhost.router.getExchange(exchangeNameOf(pathName));
    if (!exchange) throw new FerryError('EXCHANGE_NOT_FOUND', `no exchange ${pathName} in vhost ${vhost.name}`);
    return exchange;
  };

  api.get<{ Querystring: ListQuery }>('/exchanges', { schema: { querystring: LIST_QUERY_SCHEMA } }, async (request) => {
    const rows = visibleVhosts(context, principalOf(request)).flatMap((vhost) => vhost.router.listExchanges().map((exchange) => [vhost, exchange] as const));
    return paginate(rows, request.query, ([vhost, exchange]) => exchangeView(vhost, exchange));
  });

  api.get<{ Params: { vhost: string }; Querystring: ListQuery }>('/exchanges/:vhost', { schema: { querystring: LIST_QUERY_SCHEMA } }, async (request) => {
    const vhost = vhostFor(context, principalOf(request), request.params.vhost);
    return paginate(vhost.router.listExchanges(), request.query, (exchange) => exchangeView(vhost, exchange));
  });

  api.get<{ Params: ExchangeParams }>('/exchanges/:vhost/:name', { schema: { params: PARAMS_SCHEMA } }, async (request) => {
    const vhost = vhostFor(context, principalOf(request), request.params.vhost);
    return exchangeView(vhost, exchangeOf(vhost, request.params.name));
  });

  api.put<{ Params: ExchangeParams; Body: DeclareExchangeBody }>(
    '/exchanges/:vhost/:name',
    { schema: { params: PARAMS_SCHEMA, body: DECLARE_SCHEMA } },
    async (request, reply) => {
      const principal = principalOf(request);
      const vhost = vhostFor(context, principal, request.params.vhost);
      const name = exchangeNameOf(request.params.name);
      management.require(principal, vhost.name, 'configure', name);
      if (name.startsWith('amq.')) throw new FerryError('ACCESS_REFUSED', `exchange name ${name} has the reserved prefix amq.`);
      const body = request.body;
      const existed = vhost.router.getExchange(name) !== undefined;
      const exchange = await vhost.declareExchange(name, {
        type: body.type,
        durable: body.durable ?? true,
        autoDelete: body.auto_delete ?? false,
        internal: body.internal ?? false,
        ...(body.alternate_exchange !== undefined ? { alternateExchange: body.alternate_exchange } : {}),
        ...(body.topic_dialect !== undefined ? { topicDialect: body.topic_dialect } : {}),
      });
      return reply.code(existed ? 200 : 201).send(exchangeView(vhost, exchange));
    },
  );

  api.delete<{ Params: ExchangeParams; Querystring: { if_unused?: 'true' | 'false' } }>(
    '/exchanges/:vhost/:name',
    { schema: { params: PARAMS_SCHEMA, querystring: { type: 'object', additionalProperties: false, properties: { if_unused: { type: 'string', enum: ['true', 'false'] } } } } },
    async (request, reply) => {
      const principal = principalOf(request);
      const vhost = vhostFor(context, principal, request.params.vhost);
      const name = exchangeNameOf(request.params.name);
      management.require(principal, vhost.name, 'configure', name);
      if (name.startsWith('amq.')) throw new FerryError('ACCESS_REFUSED', `exchange ${name} is built in`);
      const deleted = await vhost.deleteExchange(name, { ifUnused: request.query.if_unused === 'true' });
      if (!deleted) throw new FerryError('EXCHANGE_NOT_FOUND', `no exchange ${name} in vhost ${vhost.name}`);
      return reply.code(204).send();
    },
  );

  api.post<{ Params: ExchangeParams; Body: PublishRequest }>(
    '/exchanges/:vhost/:name/publish',
    { schema: { params: PARAMS_SCHEMA, body: PUBLISH_REQUEST_SCHEMA } },
    async (request) => {
      const principal = principalOf(request);
      const vhost = vhostFor(context, principal, request.params.vhost);
      const exchange = exchangeOf(vhost, request.params.name);
      management.require(principal, vhost.name, 'write', exchange.name);
      if (core.alarms.blocked()) {
        throw new FerryError('RESOURCE_ALARM', `publishing is blocked by the ${[...core.alarms.activeAlarms()].join(' and ')} alarm`);
      }
      const outcome = vhost.publish(exchange.name, messageOf(request.body));
      await outcome.durable;
      return { routed: outcome.routed, rejected_by: outcome.rejectedBy };
    },
  );

  api.get<{ Params: ExchangeParams }>('/exchanges/:vhost/:name/bindings/source', { schema: { params: PARAMS_SCHEMA } }, async (request) => {
    const vhost = vhostFor(context, principalOf(request), request.params.vhost);
    const exchange = exchangeOf(vhost, request.params.name);
    return vhost.router.bindingsFrom(exchange.name).map((binding) => bindingView(vhost, binding));
  });

  api.get<{ Params: ExchangeParams }>('/exchanges/:vhost/:name/bindings/destination', { schema: { params: PARAMS_SCHEMA } }, async (request) => {
    const vhost = vhostFor(context, principalOf(request), request.params.vhost);
    const exchange = exchangeOf(vhost, request.params.name);
    return vhost.router.bindingsTo({ kind: 'exchange', name: exchange.name }).map((binding) => bindingView(vhost, binding));
  });
}
