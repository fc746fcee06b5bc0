import { assert } from '../../lib/assert.js';
import { FerryError } from '../../lib/ferry-error.js';
import type { Binding } from './binding.js';
import { type Destination, destinationKey } from './destination.js';
import { Exchange, type ExchangeDeclaration, type ExchangeDescription } from './exchange.js';
import type { HeaderTable } from './header-value.js';

/** What a {@link Router} needs from its vhost, and its limits. */
export interface RouterOptions {
  /**
   * The queue or stream called `name` in this vhost, or undefined when there is none.
   * The vhost's queue registry stays the one source of truth: the default exchange
   * asks it on every publish, and `bind` asks it that a queue or stream target exists.
   */
  readonly findDestination: (name: string) => Destination | undefined;
  /** Most exchanges the vhost may declare, the default exchange not counted. Default 10,000. */
  readonly exchangesMax?: number;
  /** Most bindings across all exchanges of the vhost. Default 1,000,000. */
  readonly bindingsMax?: number;
  /** The vhost's name, for error messages (RabbitMQ's wording: `no exchange 'x' in vhost '/'`). */
  readonly vhostName?: string;
}

/** Where `route` sends a message; `unroutable` is true exactly when `destinations` is empty. */
export interface RouteOutcome {
  /** Queues and streams, each once, never exchanges. */
  readonly destinations: readonly Destination[];
  readonly unroutable: boolean;
}

/** Options of {@link Router.route}. */
export interface RouteOptions {
  /**
   * Allows routing through an internal exchange. Client publishes must leave this off;
   * the broker sets it for messages it publishes itself, such as dead letters.
   */
  readonly internalAllowed?: boolean;
  /**
   * More routing keys to route by besides the message's own (RabbitMQ's sender-selected
   * distribution, the CC and BCC headers): a destination any key reaches is reached once,
   * and an alternate exchange takes the message only when no key matched.
   */
  readonly extraRoutingKeys?: readonly string[];
}

/** Options of {@link Router.deleteExchange}. */
export interface DeleteExchangeOptions {
  /** Refuse (`EXCHANGE_IN_USE`) when the exchange is the source of any binding. */
  readonly ifUnused?: boolean;
}

/** The default exchange's name. It routes to the queue or stream named by the routing key. */
const defaultExchangeName = '';
const defaultExchange: ExchangeDescription = Object.freeze({
  name: defaultExchangeName,
  type: 'direct',
  topicDialect: undefined,
  alternateExchange: undefined,
  internal: false,
});
const noArguments: HeaderTable = Object.freeze({});
const noHeaders: HeaderTable = Object.freeze({});
const unroutable: RouteOutcome = Object.freeze({ destinations: Object.freeze([]), unroutable: true });

/**
 * The routing table of ONE vhost: exchanges, the bindings between them and to
 * queues and streams, and `route`, which turns (exchange, routing key, headers)
 * into the final queues and streams of a message. Protocol-neutral: front ends
 * translate their own commands (AMQP exchange.declare, MQTT SUBSCRIBE, ...) into these calls.
 *
 * Invariants:
 * - Every binding's source exists, and so does its destination exchange; deleting an
 *   exchange deletes the bindings from and to it. Queue and stream deletion must call
 *   {@link unbindAllTo}, as the router is not told when they go.
 * - The default exchange `""` always exists, is never bound from or to, and cannot be
 *   declared or deleted.
 * - Routing visits each exchange at most once per message, so cycles of
 *   exchange-to-exchange bindings and of alternate exchanges terminate.
 *
 * Expected failures throw a {@link FerryError} with a stable code; an unroutable
 * message is an outcome, not an error.
 */
export class Router {
  private readonly findDestination: (name: string) => Destination | undefined;
  private readonly where: string;
  private readonly exchangesMax: number;
  private readonly bindingsMax: number;
  private readonly exchanges = new Map<string, Exchange>();
  /**
   * Every destination that some binding leads to, interned (one frozen object each, so the
   * exchanges' indexes and route's de-duplication work by identity), with the bindings leading there.
   */
  private readonly destinations = new Map<string, { destination: Destination; bindings: Set<Binding> }>();
  private bindingTotal = 0;

  /** An empty routing table holding only the default exchange. */
  constructor(options: RouterOptions) {
    this.findDestination = options.findDestination;
    this.where = options.vhostName === undefined ? 'in this vhost' : `in vhost '${options.vhostName}'`;
    this.exchangesMax = options.exchangesMax ?? 10_000;
    this.bindingsMax = options.bindingsMax ?? 1_000_000;
    assert(Number.isInteger(this.exchangesMax) && this.exchangesMax >= 0, 'exchangesMax is a whole number');
    assert(Number.isInteger(this.bindingsMax) && this.bindingsMax >= 0, 'bindingsMax is a whole number');
  }

  /** The number of bindings in the vhost. */
  get bindingCount(): number {
    return this.bindingTotal;
  }

  /**
   * Declares an exchange, or confirms one that exists with the same declaration.
   * Returns true when it was created, false when an equal one existed.
   * Throws `DEFAULT_EXCHANGE_RESERVED` for `""`, `EXCHANGE_DECLARATION_MISMATCH` when
   * the existing exchange differs in type, topic dialect, alternate exchange or internal
   * flag, `UNKNOWN_EXCHANGE_TYPE` or `INVALID_ARGUMENT` for a bad declaration, and
   * `EXCHANGE_LIMIT_REACHED` at `exchangesMax`.
   */
  declareExchange(name: string, declaration: ExchangeDeclaration): boolean {
    if (name === defaultExchangeName) {
      throw new FerryError('DEFAULT_EXCHANGE_RESERVED', 'operation not permitted on the default exchange');
    }
    const wanted = Exchange.describe(name, declaration);
    const existing = this.exchanges.get(name);
    if (existing !== undefined) {
      const difference = describeDifference(existing.description, wanted);
      if (difference !== undefined) {
        throw new FerryError('EXCHANGE_DECLARATION_MISMATCH', `inequivalent arg ${difference.replace('{exchange}', `exchange '${name}' ${this.where}`)}`);
      }
      return false;
    }
    if (this.exchanges.size >= this.exchangesMax) {
      throw new FerryError('EXCHANGE_LIMIT_REACHED', `the vhost has ${this.exchanges.size} exchanges, the most exchangesMax allows`);
    }
    this.exchanges.set(name, new Exchange(wanted));
    return true;
  }

  /**
   * Deletes an exchange with every binding from and to it; returns false when it did
   * not exist. Other exchanges naming it as their alternate keep the name, which routes
   * nowhere until an exchange of that name is declared again.
   * Throws `DEFAULT_EXCHANGE_RESERVED` for `""`, and `EXCHANGE_IN_USE` when `ifUnused`
   * is set and the exchange is the source of a binding.
   */
  deleteExchange(name: string, options: DeleteExchangeOptions = {}): boolean {
    if (name === defaultExchangeName) {
      throw new FerryError('DEFAULT_EXCHANGE_RESERVED', 'operation not permitted on the default exchange');
    }
    const exchange = this.exchanges.get(name);
    if (exchange === undefined) return false;
    if (options.ifUnused === true && exchange.bindingCount > 0) {
      throw new FerryError('EXCHANGE_IN_USE', `exchange '${name}' ${this.where} in use`);
    }
    for (const binding of exchange.bindings()) this.forget(exchange, binding);
    this.unbindAllTo({ kind: 'exchange', name });
    this.exchanges.delete(name);
    return true;
  }

  /** The exchange called `name` (the default exchange for `""`), or undefined. */
  getExchange(name: string): ExchangeDescription | undefined {
    if (name === defaultExchangeName) return defaultExchange;
    return this.exchanges.get(name)?.description;
  }

  /** {@link getExchange}, or EXCHANGE_NOT_FOUND (`no exchange 'x' in vhost '/'`) when there is none. */
  requireExchange(name: string): ExchangeDescription {
    const exchange = this.getExchange(name);
    if (exchange === undefined) throw new FerryError('EXCHANGE_NOT_FOUND', `no exchange '${name}' ${this.where}`);
    return exchange;
  }

  /** Every exchange of the vhost, the default exchange first. */
  listExchanges(): ExchangeDescription[] {
    return [defaultExchange, ...[...this.exchanges.values()].map((exchange) => exchange.description)];
  }

  /**
   * Binds exchange `source` to `destination`. Idempotent: returns true when the binding
   * was created, false when an equal binding (same routing key and arguments) existed.
   * Throws `DEFAULT_EXCHANGE_RESERVED` when either end is the default exchange,
   * `EXCHANGE_NOT_FOUND` for a missing source or destination exchange,
   * `DESTINATION_NOT_FOUND` for a missing queue or stream, `INVALID_TOPIC_PATTERN` or
   * `INVALID_BINDING_ARGUMENTS` when the source's type refuses the binding, and
   * `BINDING_LIMIT_REACHED` at `bindingsMax`. Nothing changes when it throws.
   */
  bind(source: string, destination: Destination, routingKey: string, bindingArguments: HeaderTable = noArguments): boolean {
    const exchange = this.sourceExchange(source, 'bound from');
    this.checkDestinationExists(destination);
    if (exchange.findBinding(destination, routingKey, bindingArguments) !== undefined) return false;
    if (this.bindingTotal >= this.bindingsMax) {
      throw new FerryError('BINDING_LIMIT_REACHED', `the vhost has ${this.bindingTotal} bindings, the most bindingsMax allows`);
    }
    const key = destinationKey(destination);
    const entry = this.destinations.get(key);
    const binding: Binding = Object.freeze({
      source,
      destination: entry?.destination ?? Object.freeze({ kind: destination.kind, name: destination.name }),
      routingKey,
      // A copy, so the caller changing its object later cannot change the binding's identity.
      arguments: bindingArguments === noArguments ? noArguments : Object.freeze({ ...bindingArguments }),
    });
    exchange.addBinding(binding);
    if (entry === undefined) this.destinations.set(key, { destination: binding.destination, bindings: new Set([binding]) });
    else entry.bindings.add(binding);
    this.bindingTotal += 1;
    return true;
  }

  /**
   * Removes the binding equal to the one described; returns false when there was none.
   * Throws `DEFAULT_EXCHANGE_RESERVED` for the default exchange and `EXCHANGE_NOT_FOUND`
   * when `source` does not exist.
   */
  unbind(source: string, destination: Destination, routingKey: string, bindingArguments: HeaderTable = noArguments): boolean {
    const exchange = this.sourceExchange(source, 'unbound');
    if (destination.kind === 'exchange' && destination.name === defaultExchangeName) {
      throw new FerryError('DEFAULT_EXCHANGE_RESERVED', 'the default exchange cannot be unbound');
    }
    const binding = exchange.findBinding(destination, routingKey, bindingArguments);
    if (binding === undefined) return false;
    this.forget(exchange, binding);
    return true;
  }

  /**
   * Removes every binding that leads to `destination`; returns how many. Call it when a
   * queue or stream is deleted, so no binding outlives its destination.
   */
  unbindAllTo(destination: Destination): number {
    const entry = this.destinations.get(destinationKey(destination));
    if (entry === undefined) return 0;
    const bindings = [...entry.bindings];
    for (const binding of bindings) {
      const exchange = this.exchanges.get(binding.source);
      assert(exchange !== undefined, 'a binding’s source exists');
      this.forget(exchange, binding);
    }
    return bindings.length;
  }

  /** The bindings whose source is exchange `source`; empty for the default exchange or a missing one. */
  bindingsFrom(source: string): Binding[] {
    return this.exchanges.get(source)?.bindings() ?? [];
  }

  /**
   * The explicit bindings that lead to `destination`. The default exchange's implicit
   * route to a queue by its name is not a binding and is not listed.
   */
  bindingsTo(destination: Destination): Binding[] {
    return [...(this.destinations.get(destinationKey(destination))?.bindings ?? [])];
  }

  /** Every binding of the vhost, grouped by source exchange. */
  listBindings(): Binding[] {
    return [...this.exchanges.values()].flatMap((exchange) => exchange.bindings());
  }

  /**
   * The queues and streams a message published to `exchangeName` reaches, each once.
   *
   * Exchange-to-exchange bindings are followed transitively. An exchange that matches no
   * binding passes the message to its alternate exchange, if that exists (a missing
   * alternate is ignored, as RabbitMQ does). As in RabbitMQ, an exchange that matched a
   * binding to another exchange has routed the message, even if that exchange then
   * routes it nowhere; that exchange's own alternate applies instead. Each exchange is
   * visited at most once per message, which makes cycles harmless.
   *
   * Throws `EXCHANGE_NOT_FOUND` when `exchangeName` does not exist and `EXCHANGE_INTERNAL`
   * when it is internal and `internalAllowed` is not set.
   */
  route(exchangeName: string, routingKey: string, headers: HeaderTable = noHeaders, options: RouteOptions = {}): RouteOutcome {
    const extra = options.extraRoutingKeys;
    if (exchangeName === defaultExchangeName && (extra === undefined || extra.length === 0)) {
      const destination = this.findDestination(routingKey);
      return destination === undefined ? unroutable : { destinations: [destination], unroutable: false };
    }
    const keys = extra === undefined || extra.length === 0 ? null : [routingKey, ...extra];
    if (exchangeName === defaultExchangeName) {
      const found = new Set<Destination>();
      this.addNamedBy(keys!, found);
      return found.size === 0 ? unroutable : { destinations: [...found], unroutable: false };
    }
    const first = this.exchanges.get(exchangeName);
    if (first === undefined) {
      throw new FerryError('EXCHANGE_NOT_FOUND', `no exchange '${exchangeName}' ${this.where}`);
    }
    if (first.description.internal && options.internalAllowed !== true) {
      throw new FerryError('EXCHANGE_INTERNAL', `cannot publish to internal exchange '${exchangeName}' ${this.where}`);
    }
    const found = new Set<Destination>();
    const visited = new Set<Exchange>();
    // A work list rather than recursion, so a long chain of exchanges cannot overflow the stack.
    const pending: Exchange[] = [first];
    let defaultVisited = false;
    while (pending.length > 0) {
      const exchange = pending.pop()!;
      if (visited.has(exchange)) continue;
      visited.add(exchange);
      let matched = this.matchInto(exchange, routingKey, headers, found, pending);
      if (keys !== null) for (let index = 1; index < keys.length; index++) matched = this.matchInto(exchange, keys[index]!, headers, found, pending) || matched;
      const alternate = exchange.description.alternateExchange;
      if (matched || alternate === undefined) continue;
      if (alternate === defaultExchangeName) {
        if (defaultVisited) continue;
        defaultVisited = true;
        this.addNamedBy(keys ?? [routingKey], found);
      } else {
        const target = this.exchanges.get(alternate);
        if (target !== undefined) pending.push(target);
      }
    }
    return found.size === 0 ? unroutable : { destinations: [...found], unroutable: false };
  }

  private sourceExchange(source: string, verb: string): Exchange {
    if (source === defaultExchangeName) {
      throw new FerryError('DEFAULT_EXCHANGE_RESERVED', `the default exchange cannot be ${verb}`);
    }
    const exchange = this.exchanges.get(source);
    if (exchange === undefined) throw new FerryError('EXCHANGE_NOT_FOUND', `no exchange '${source}' ${this.where}`);
    return exchange;
  }

  private checkDestinationExists(destination: Destination): void {
    if (destination.kind === 'exchange') {
      if (destination.name === defaultExchangeName) {
        throw new FerryError('DEFAULT_EXCHANGE_RESERVED', 'the default exchange cannot be bound to');
      }
      if (!this.exchanges.has(destination.name)) {
        throw new FerryError('EXCHANGE_NOT_FOUND', `no exchange '${destination.name}' ${this.where}`);
      }
      return;
    }
    const existing = this.findDestination(destination.name);
    if (existing === undefined || existing.kind !== destination.kind) {
      throw new FerryError('DESTINATION_NOT_FOUND', `no ${destination.kind} ${JSON.stringify(destination.name)} in this vhost`);
    }
  }

  /** Adds the queue or stream each key names (the default exchange's routing) to `found`, interned. */
  private addNamedBy(keys: readonly string[], found: Set<Destination>): void {
    for (const key of keys) {
      const destination = this.findDestination(key);
      if (destination !== undefined) found.add(this.interned(destination));
    }
  }

  /** Adds what `exchange` matches for `routingKey` to `found` (queues, streams) and `pending` (exchanges); true when it matched anything. */
  private matchInto(exchange: Exchange, routingKey: string, headers: HeaderTable, found: Set<Destination>, pending: Exchange[]): boolean {
    let matched = false;
    for (const destination of exchange.match(routingKey, headers)) {
      matched = true;
      if (destination.kind !== 'exchange') {
        found.add(destination);
        continue;
      }
      const target = this.exchanges.get(destination.name);
      assert(target !== undefined, 'deleting an exchange deletes the bindings to it');
      pending.push(target);
    }
    return matched;
  }

  /** The interned object for a destination reached without a binding, so de-duplication by identity holds. */
  private interned(destination: Destination): Destination {
    return this.destinations.get(destinationKey(destination))?.destination ?? destination;
  }

  private forget(exchange: Exchange, binding: Binding): void {
    exchange.removeBinding(binding);
    const key = destinationKey(binding.destination);
    const entry = this.destinations.get(key);
    assert(entry !== undefined && entry.bindings.has(binding), 'every binding is registered with its destination');
    entry.bindings.delete(binding);
    if (entry.bindings.size === 0) this.destinations.delete(key);
    this.bindingTotal -= 1;
  }
}

/**
 * The first difference of a redeclaration, as RabbitMQ words it after "inequivalent arg "
 * (`'type' for {exchange}: received 'topic' but current is 'direct'`; the caller names the
 * exchange), settings named as RabbitMQ's, or undefined when there is none.
 */
function describeDifference(existing: ExchangeDescription, wanted: ExchangeDescription): string | undefined {
  const fields = [
    ['type', 'type'],
    ['topicDialect', 'x-topic-dialect'],
    ['alternateExchange', 'alternate-exchange'],
    ['internal', 'internal'],
  ] as const;
  for (const [field, name] of fields) {
    if (existing[field] !== wanted[field]) {
      return `'${name}' for {exchange}: received '${String(wanted[field] ?? 'none')}' but current is '${String(existing[field] ?? 'none')}'`;
    }
  }
  return undefined;
}
