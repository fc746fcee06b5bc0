import { assert } from '../../lib/assert.js';
import { FerryError } from '../../lib/ferry-error.js';
import type { Binding } from './binding.js';
import { type Destination, destinationKey } from './destination.js';
import { type HeaderTable, headerValueEquals } from './header-value.js';
import { HeadersMatch } from './headers-match.js';
import { type TopicDialect, TopicTrie } from './topic-trie.js';

/** How an exchange chooses destinations for a message. */
export type ExchangeType = 'direct' | 'fanout' | 'topic' | 'headers';

/** What a caller asks for when declaring an exchange. */
export interface ExchangeDeclaration {
  readonly type: ExchangeType;
  /** Wildcard syntax of a topic exchange's binding keys; `amqp` when omitted. Only for `topic`. */
  readonly topicDialect?: TopicDialect;
  /** The exchange that receives messages this one routes nowhere (no binding matched). */
  readonly alternateExchange?: string;
  /** An internal exchange cannot be published to directly, only reached through bindings or as an alternate. */
  readonly internal?: boolean;
}

/** An exchange as declared, with defaults filled in; what listings return. */
export interface ExchangeDescription {
  readonly name: string;
  readonly type: ExchangeType;
  /** Set for topic exchanges only. */
  readonly topicDialect: TopicDialect | undefined;
  readonly alternateExchange: string | undefined;
  readonly internal: boolean;
}

const exchangeTypes: readonly string[] = ['direct', 'fanout', 'topic', 'headers'] satisfies ExchangeType[];
const topicDialects: readonly string[] = ['amqp', 'mqtt', 'nats'] satisfies TopicDialect[];
const noDestinations: readonly Destination[] = [];

/**
 * One exchange of a vhost: its declaration, its bindings, and an index that finds
 * the bindings a message matches in one hop. Following exchange-to-exchange
 * bindings and alternate exchanges is the {@link Router}'s job, not this class's.
 *
 * Destinations must be interned by the caller (one object per queue, stream or
 * exchange), because the indexes count copies by object identity.
 */
export class Exchange {
  readonly description: ExchangeDescription;
  private readonly index: BindingIndex;
  /** destination key → routing key → bindings that differ only in arguments. */
  private readonly bindingsByDestination = new Map<string, Map<string, Binding[]>>();
  private bindingTotal = 0;

  constructor(description: ExchangeDescription) {
    this.description = description;
    this.index = createIndex(description);
  }

  /**
   * Checks a declaration arriving from a front end and fills in its defaults.
   * Throws `UNKNOWN_EXCHANGE_TYPE` for a type other than direct, fanout, topic or headers,
   * and `INVALID_ARGUMENT` for a topic dialect that is unknown or given to a non-topic exchange.
   */
  static describe(name: string, declaration: ExchangeDeclaration): ExchangeDescription {
    const { type, topicDialect, alternateExchange, internal } = declaration;
    if (!exchangeTypes.includes(type)) {
      throw new FerryError('UNKNOWN_EXCHANGE_TYPE', `exchange ${JSON.stringify(name)}: unknown type ${JSON.stringify(type)}`);
    }
    if (topicDialect !== undefined && type !== 'topic') {
      throw new FerryError('INVALID_ARGUMENT', `exchange ${JSON.stringify(name)}: topicDialect is only for topic exchanges`);
    }
    if (topicDialect !== undefined && !topicDialects.includes(topicDialect)) {
      throw new FerryError('INVALID_ARGUMENT', `exchange ${JSON.stringify(name)}: unknown topic dialect ${JSON.stringify(topicDialect)}`);
    }
    return Object.freeze({
      name,
      type,
      topicDialect: type === 'topic' ? (topicDialect ?? 'amqp') : undefined,
      alternateExchange,
      internal: internal ?? false,
    });
  }

  /** The number of bindings with this exchange as source. */
  get bindingCount(): number {
    return this.bindingTotal;
  }

  /** The binding equal to the one described, if this exchange has it. */
  findBinding(destination: Destination, routingKey: string, bindingArguments: HeaderTable): Binding | undefined {
    const sameKey = this.bindingsByDestination.get(destinationKey(destination))?.get(routingKey);
    return sameKey?.find((binding) => headerValueEquals(binding.arguments, bindingArguments));
  }

  /**
   * Adds a binding that {@link findBinding} does not find. Throws `INVALID_TOPIC_PATTERN`
   * or `INVALID_BINDING_ARGUMENTS` when this exchange's type cannot use the binding;
   * the exchange is unchanged then.
   */
  addBinding(binding: Binding): void {
    assert(binding.source === this.description.name, 'a binding is added to its own source exchange');
    assert(this.findBinding(binding.destination, binding.routingKey, binding.arguments) === undefined, 'bindings are unique');
    // The index validates before it changes anything, so a throw here leaves no trace.
    this.index.add(binding);
    const key = destinationKey(binding.destination);
    let byRoutingKey = this.bindingsByDestination.get(key);
    if (byRoutingKey === undefined) this.bindingsByDestination.set(key, (byRoutingKey = new Map()));
    let sameKey = byRoutingKey.get(binding.routingKey);
    if (sameKey === undefined) byRoutingKey.set(binding.routingKey, (sameKey = []));
    sameKey.push(binding);
    this.bindingTotal += 1;
  }

  /** Removes a binding previously returned by {@link findBinding} or {@link bindings}. */
  removeBinding(binding: Binding): void {
    const key = destinationKey(binding.destination);
    const byRoutingKey = this.bindingsByDestination.get(key);
    const sameKey = byRoutingKey?.get(binding.routingKey);
    const position = sameKey?.indexOf(binding) ?? -1;
    assert(byRoutingKey !== undefined && sameKey !== undefined && position >= 0, 'only a held binding is removed');
    sameKey.splice(position, 1);
    if (sameKey.length === 0) byRoutingKey.delete(binding.routingKey);
    if (byRoutingKey.size === 0) this.bindingsByDestination.delete(key);
    this.index.remove(binding);
    this.bindingTotal -= 1;
  }

  /** Every binding with this exchange as source, in the order they were added per destination. */
  bindings(): Binding[] {
    const result: Binding[] = [];
    for (const byRoutingKey of this.bindingsByDestination.values()) {
      for (const sameKey of byRoutingKey.values()) result.push(...sameKey);
    }
    return result;
  }

  /**
   * The destinations of the bindings that match a message, one hop only; may repeat a
   * destination. Empty means this exchange routes the message nowhere.
   */
  match(routingKey: string, headers: HeaderTable): Iterable<Destination> {
    return this.index.match(routingKey, headers);
  }
}

/** The per-type structure that finds matching bindings quickly. */
interface BindingIndex {
  /** Validates, then adds; throws before changing anything. */
  add(binding: Binding): void;
  remove(binding: Binding): void;
  match(routingKey: string, headers: HeaderTable): Iterable<Destination>;
}

function createIndex(description: ExchangeDescription): BindingIndex {
  switch (description.type) {
    case 'direct':
      return new DirectIndex();
    case 'fanout':
      return new FanoutIndex();
    case 'topic':
      return new TopicIndex(description.topicDialect ?? 'amqp');
    case 'headers':
      return new HeadersIndex();
  }
}

/** Routing key → destinations, so a direct exchange routes in one map lookup. */
class DirectIndex implements BindingIndex {
  private readonly byRoutingKey = new Map<string, Map<Destination, number>>();

  add(binding: Binding): void {
    let copies = this.byRoutingKey.get(binding.routingKey);
    if (copies === undefined) this.byRoutingKey.set(binding.routingKey, (copies = new Map()));
    addCopy(copies, binding.destination);
  }

  remove(binding: Binding): void {
    const copies = this.byRoutingKey.get(binding.routingKey);
    assert(copies !== undefined, 'a removed direct binding was indexed');
    removeCopy(copies, binding.destination);
    if (copies.size === 0) this.byRoutingKey.delete(binding.routingKey);
  }

  match(routingKey: string): Iterable<Destination> {
    return this.byRoutingKey.get(routingKey)?.keys() ?? noDestinations;
  }
}

/** Every destination, whatever the message. */
class FanoutIndex implements BindingIndex {
  private readonly copies = new Map<Destination, number>();

  add(binding: Binding): void {
    addCopy(this.copies, binding.destination);
  }

  remove(binding: Binding): void {
    removeCopy(this.copies, binding.destination);
  }

  match(): Iterable<Destination> {
    return this.copies.keys();
  }
}

/** Binding keys as patterns in a trie of the exchange's dialect. */
class TopicIndex implements BindingIndex {
  private readonly trie: TopicTrie<Destination>;

  constructor(dialect: TopicDialect) {
    this.trie = new TopicTrie<Destination>(dialect);
  }

  add(binding: Binding): void {
    this.trie.add(binding.routingKey, binding.destination);
  }

  remove(binding: Binding): void {
    const removed = this.trie.remove(binding.routingKey, binding.destination);
    assert(removed, 'a removed topic binding was indexed');
  }

  match(routingKey: string): Iterable<Destination> {
    return this.trie.match(routingKey);
  }
}

/** Each binding's compiled matcher; a headers exchange must test them all (RabbitMQ does too). */
class HeadersIndex implements BindingIndex {
  private readonly matchers = new Map<Binding, HeadersMatch>();

  add(binding: Binding): void {
    this.matchers.set(binding, HeadersMatch.compile(binding.arguments));
  }

  remove(binding: Binding): void {
    const removed = this.matchers.delete(binding);
    assert(removed, 'a removed headers binding was indexed');
  }

  match(_routingKey: string, headers: HeaderTable): Iterable<Destination> {
    const result: Destination[] = [];
    for (const [binding, matcher] of this.matchers) {
      if (matcher.matches(headers)) result.push(binding.destination);
    }
    return result;
  }
}

function addCopy(copies: Map<Destination, number>, destination: Destination): void {
  copies.set(destination, (copies.get(destination) ?? 0) + 1);
}

function removeCopy(copies: Map<Destination, number>, destination: Destination): void {
  const count = copies.get(destination);
  assert(count !== undefined, 'a removed binding was counted');
  if (count > 1) copies.set(destination, count - 1);
  else copies.delete(destination);
}
