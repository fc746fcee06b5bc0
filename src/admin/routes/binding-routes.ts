import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Binding } from '../../core/routing/binding.js';
import type { Destination } from '../../core/routing/destination.js';
import type { VirtualHost } from '../../core/vhost/virtual-host.js';
import { FerryError } from '../../lib/ferry-error.js';
import { principalOf, vhostFor, visibleVhosts, type AdminContext } from '../admin-context.js';
import { headerTableToJson, jsonToHeaderTable, type Json } from '../../core/message/header-json.js';
import { exchangeNameOf } from '../../core/message/message-json.js';
import { LIST_QUERY_SCHEMA, paginate, type ListQuery } from '../pagination.js';


/**
 * Identifies a binding among those between the same two ends, for paths: the
 * routing key (`~` when empty) when it has no arguments, else the routing key,
 * `~` and a short hash of the arguments.
 */
export function propertiesKeyOf(binding: Binding): string {
  if (Object.keys(binding.arguments).length === 0) return binding.routingKey === '' ? '~' : binding.routingKey;
  const canonical = JSON.stringify(sortKeys(headerTableToJson(binding.arguments)));
  return `${binding.routingKey}~${createHash('sha256').update(canonical).digest('base64url').slice(0, 12)}`;
}

function sortKeys(value: Json): Json {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.keys(value).sort().map((key) => [key, sortKeys(value[key]!)]));
}

/** A binding as the API shows it. */
export function bindingView(vhost: VirtualHost, binding: Binding): Record<string, unknown> {
  return {
    vhost: vhost.name,
    source: binding.source,
    destination: binding.destination.name,
    destination_type: binding.destination.kind,
    routing_key: binding.routingKey,
    arguments: headerTableToJson(binding.arguments),
    properties_key: propertiesKeyOf(binding),
  };
}

interface PairParams {
  readonly vhost: string;
  readonly source: string;
  readonly destination: string;
}

interface BindingParams extends PairParams {
  readonly props: string;
}

interface BindBody {
  readonly routing_key?: string;
  readonly arguments?: { readonly [key: string]: Json };
}

const PAIR_SCHEMA = {
  type: 'object',
  required: ['vhost', 'source', 'destination'],
  properties: { vhost: { type: 'string' }, source: { type: 'string', minLength: 1 }, destination: { type: 'string', minLength: 1 } },
} as const;

const BINDING_SCHEMA = {
  type: 'object',
  required: ['vhost', 'source', 'destination', 'props'],
  properties: { ...PAIR_SCHEMA.properties, props: { type: 'string', minLength: 1 } },
} as const;

const BIND_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: { routing_key: { type: 'string' }, arguments: { type: 'object' } },
} as const;

/**
 * Bindings, RabbitMQ style: `/bindings/{vhost}/e/{source}/q/{queue}` and
 * `/bindings/{vhost}/e/{source}/e/{exchange}` list (GET) and create (POST);
 * with `/{properties_key}` appended, show (GET) and delete (DELETE) one.
 */
export function registerBindingRoutes(api: FastifyInstance, context: AdminContext): void {
  const { management } = context;

  api.get<{ Querystring: ListQuery }>('/bindings', { schema: { querystring: LIST_QUERY_SCHEMA } }, async (request) => {
    const rows = visibleVhosts(context, principalOf(request)).flatMap((vhost) => vhost.router.listBindings().map((binding) => [vhost, binding] as const));
    return paginate(rows, request.query, ([vhost, binding]) => bindingView(vhost, binding));
  });

  api.get<{ Params: { vhost: string }; Querystring: ListQuery }>('/bindings/:vhost', { schema: { querystring: LIST_QUERY_SCHEMA } }, async (request) => {
    const vhost = vhostFor(context, principalOf(request), request.params.vhost);
    return paginate(vhost.router.listBindings(), request.query, (binding) => bindingView(vhost, binding));
  });

  for (const [segment, kind] of [['q', 'queue'], ['e', 'exchange']] as const) {
    const between = (vhost: VirtualHost, params: PairParams): { source: string; destination: Destination; bindings: Binding[] } => {
      const source = exchangeNameOf(params.source);
      if (!vhost.router.getExchange(source)) throw new FerryError('EXCHANGE_NOT_FOUND', `no exchange ${params.source} in vhost ${vhost.name}`);
      const destination: Destination = { kind, name: kind === 'exchange' ? exchangeNameOf(params.destination) : params.destination };
      if (kind === 'queue') vhost.queue(destination.name);
      else if (!vhost.router.getExchange(destination.name)) throw new FerryError('EXCHANGE_NOT_FOUND', `no exchange ${params.destination} in vhost ${vhost.name}`);
      const bindings = vhost.router.bindingsFrom(source).filter((binding) => binding.destination.kind === kind && binding.destination.name === destination.name);
      return { source, destination, bindings };
    };
    const find = (vhost: VirtualHost, params: BindingParams): Binding => {
      const binding = between(vhost, params).bindings.find((candidate) => propertiesKeyOf(candidate) === params.props);
      if (!binding) throw new FerryError('BINDING_NOT_FOUND', `no binding ${params.props} from ${params.source} to ${kind} ${params.destination} in vhost ${vhost.name}`);
      return binding;
    };
    const pairPath = `/bindings/:vhost/e/:source/${segment}/:destination`;

    api.get<{ Params: PairParams }>(pairPath, { schema: { params: PAIR_SCHEMA } }, async (request) => {
      const vhost = vhostFor(context, principalOf(request), request.params.vhost);
      return between(vhost, request.params).bindings.map((binding) => bindingView(vhost, binding));
    });

    api.post<{ Params: PairParams; Body: BindBody | undefined }>(pairPath, { schema: { params: PAIR_SCHEMA, body: BIND_SCHEMA } }, async (request, reply) => {
      const principal = principalOf(request);
      const vhost = vhostFor(context, principal, request.params.vhost);
      const { source, destination } = between(vhost, request.params);
      // RabbitMQ's rule: binding needs read on the source exchange and write on the destination.
      management.require(principal, vhost.name, 'read', source);
      management.require(principal, vhost.name, 'write', destination.name);
      const routingKey = request.body?.routing_key ?? '';
      const bindingArguments = jsonToHeaderTable(request.body?.arguments);
      await vhost.bind(source, destination, routingKey, bindingArguments);
      const binding = vhost.router
        .bindingsFrom(source)
        .find((candidate) => candidate.destination.kind === kind && candidate.destination.name === destination.name && candidate.routingKey === routingKey && sameArguments(candidate, bindingArguments));
      const view = binding ? bindingView(vhost, binding) : {};
      return reply
        .code(201)
        .header('location', `${request.url.split('?')[0]}/${encodeURIComponent(String(view['properties_key'] ?? ''))}`)
        .send(view);
    });

    api.get<{ Params: BindingParams }>(`${pairPath}/:props`, { schema: { params: BINDING_SCHEMA } }, async (request) => {
      const vhost = vhostFor(context, principalOf(request), request.params.vhost);
      return bindingView(vhost, find(vhost, request.params));
    });

    api.delete<{ Params: BindingParams }>(`${pairPath}/:props`, { schema: { params: BINDING_SCHEMA } }, async (request, reply) => {
      const principal = principalOf(request);
      const vhost = vhostFor(context, principal, request.params.vhost);
      const binding = find(vhost, request.params);
      management.require(principal, vhost.name, 'read', binding.source);
      management.require(principal, vhost.name, 'write', binding.destination.name);
      await vhost.unbind(binding.source, binding.destination, binding.routingKey, binding.arguments);
      return reply.code(204).send();
    });
  }
}

function sameArguments(binding: Binding, bindingArguments: object): boolean {
  return propertiesKeyOf(binding) === propertiesKeyOf({ ...binding, arguments: bindingArguments as Binding['arguments'] });
}
