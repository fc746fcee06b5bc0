import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isFerryError } from '../../lib/ferry-error.js';
import type { Destination } from './destination.js';
import type { HeaderTable } from './header-value.js';
import { Router, type RouterOptions } from './router.js';

function queue(name: string): Destination {
  return { kind: 'queue', name };
}

function stream(name: string): Destination {
  return { kind: 'stream', name };
}

function exchange(name: string): Destination {
  return { kind: 'exchange', name };
}

/** A router whose vhost holds the given queues and streams (a stand-in for the queue registry). */
function routerWith(destinations: readonly Destination[], limits: Partial<RouterOptions> = {}): Router {
  const byName = new Map(destinations.map((destination) => [destination.name, destination]));
  return new Router({ ...limits, findDestination: (name) => byName.get(name) });
}

/** The names reached by a route, sorted, as `kind:name`. */
function reached(router: Router, exchangeName: string, routingKey: string, headers?: HeaderTable): string[] {
  const outcome = router.route(exchangeName, routingKey, headers);
  assert.equal(outcome.unroutable, outcome.destinations.length === 0, 'unroutable means no destinations');
  return outcome.destinations.map((destination) => `${destination.kind}:${destination.name}`).sort();
}

function throwsCode(code: string): (error: unknown) => boolean {
  return (error) => isFerryError(error, code);
}

const queues = ['q1', 'q2', 'q3', 'q4'].map(queue);

test('the default exchange routes to the queue or stream named by the routing key', () => {
  const router = routerWith([queue('orders'), stream('events')]);
  assert.deepEqual(reached(router, '', 'orders'), ['queue:orders']);
  assert.deepEqual(reached(router, '', 'events'), ['stream:events']);
  const outcome = router.route('', 'missing');
  assert.equal(outcome.unroutable, true);
  assert.deepEqual(outcome.destinations, []);
});

test('the default exchange cannot be declared, deleted, or bound from or to', () => {
  const router = routerWith(queues);
  router.declareExchange('x', { type: 'fanout' });
  assert.throws(() => router.declareExchange('', { type: 'direct' }), throwsCode('DEFAULT_EXCHANGE_RESERVED'));
  assert.throws(() => router.deleteExchange(''), throwsCode('DEFAULT_EXCHANGE_RESERVED'));
  assert.throws(() => router.bind('', queue('q1'), 'q1'), throwsCode('DEFAULT_EXCHANGE_RESERVED'));
  assert.throws(() => router.bind('x', exchange(''), ''), throwsCode('DEFAULT_EXCHANGE_RESERVED'));
  assert.throws(() => router.unbind('', queue('q1'), 'q1'), throwsCode('DEFAULT_EXCHANGE_RESERVED'));
  assert.throws(() => router.unbind('x', exchange(''), ''), throwsCode('DEFAULT_EXCHANGE_RESERVED'));
  assert.equal(router.bindingCount, 0);
  assert.deepEqual(router.getExchange(''), { name: '', type: 'direct', topicDialect: undefined, alternateExchange: undefined, internal: false });
});

test('redeclaring an exchange with the same declaration is a no-op and returns false', () => {
  const router = routerWith(queues);
  assert.equal(router.declareExchange('x', { type: 'topic', alternateExchange: 'ae' }), true);
  assert.equal(router.declareExchange('x', { type: 'topic', topicDialect: 'amqp', alternateExchange: 'ae', internal: false }), false);
  assert.deepEqual(router.getExchange('x'), { name: 'x', type: 'topic', topicDialect: 'amqp', alternateExchange: 'ae', internal: false });
});

test('redeclaring an exchange with a different type or option fails with EXCHANGE_DECLARATION_MISMATCH', () => {
  const router = routerWith(queues);
  router.declareExchange('x', { type: 'topic', topicDialect: 'mqtt', alternateExchange: 'ae' });
  router.bind('x', queue('q1'), 'a/+');
  const conflicting = [
    { type: 'direct' },
    { type: 'topic', alternateExchange: 'ae' },
    { type: 'topic', topicDialect: 'nats', alternateExchange: 'ae' },
    { type: 'topic', topicDialect: 'mqtt' },
    { type: 'topic', topicDialect: 'mqtt', alternateExchange: 'other' },
    { type: 'topic', topicDialect: 'mqtt', alternateExchange: 'ae', internal: true },
  ] as const;
  for (const declaration of conflicting) {
    assert.throws(() => router.declareExchange('x', declaration), throwsCode('EXCHANGE_DECLARATION_MISMATCH'), JSON.stringify(declaration));
  }
  // The existing exchange and its bindings are untouched.
  assert.deepEqual(reached(router, 'x', 'a/b'), ['queue:q1']);
});

test('a declaration with an unknown type or a misplaced topic dialect is refused', () => {
  const router = routerWith(queues);
  assert.throws(() => router.declareExchange('x', { type: 'x-consistent-hash' as 'direct' }), throwsCode('UNKNOWN_EXCHANGE_TYPE'));
  assert.throws(() => router.declareExchange('x', { type: 'direct', topicDialect: 'mqtt' }), throwsCode('INVALID_ARGUMENT'));
  assert.throws(() => router.declareExchange('x', { type: 'topic', topicDialect: 'stomp' as 'mqtt' }), throwsCode('INVALID_ARGUMENT'));
  assert.equal(router.getExchange('x'), undefined);
});

test('a direct exchange routes to the bindings whose key equals the routing key', () => {
  const router = routerWith(queues);
  router.declareExchange('logs', { type: 'direct' });
  router.bind('logs', queue('q1'), 'error');
  router.bind('logs', queue('q2'), 'error');
  router.bind('logs', queue('q2'), 'info');
  router.bind('logs', queue('q3'), 'info');
  assert.deepEqual(reached(router, 'logs', 'error'), ['queue:q1', 'queue:q2']);
  assert.deepEqual(reached(router, 'logs', 'info'), ['queue:q2', 'queue:q3']);
  assert.deepEqual(reached(router, 'logs', 'Error'), []);
  assert.deepEqual(reached(router, 'logs', 'error.x'), []);
});

test('a fanout exchange routes to every binding whatever the key', () => {
  const router = routerWith([...queues, stream('s1')]);
  router.declareExchange('all', { type: 'fanout' });
  router.bind('all', queue('q1'), '');
  router.bind('all', queue('q2'), 'ignored');
  router.bind('all', stream('s1'), '');
  assert.deepEqual(reached(router, 'all', 'anything'), ['queue:q1', 'queue:q2', 'stream:s1']);
  assert.deepEqual(reached(router, 'all', ''), ['queue:q1', 'queue:q2', 'stream:s1']);
});

test('a topic exchange matches binding keys in its dialect, AMQP by default', () => {
  const router = routerWith(queues);
  router.declareExchange('amqp', { type: 'topic' });
  router.declareExchange('mqtt', { type: 'topic', topicDialect: 'mqtt' });
  router.declareExchange('nats', { type: 'topic', topicDialect: 'nats' });
  router.bind('amqp', queue('q1'), 'sensor.*.temperature');
  router.bind('amqp', queue('q2'), 'sensor.#');
  router.bind('mqtt', queue('q1'), 'sensor/+/temperature');
  router.bind('mqtt', queue('q2'), 'sensor/#');
  router.bind('nats', queue('q1'), 'sensor.*.temperature');
  router.bind('nats', queue('q2'), 'sensor.>');
  assert.deepEqual(reached(router, 'amqp', 'sensor.kitchen.temperature'), ['queue:q1', 'queue:q2']);
  assert.deepEqual(reached(router, 'amqp', 'sensor'), ['queue:q2']);
  assert.deepEqual(reached(router, 'mqtt', 'sensor/kitchen/temperature'), ['queue:q1', 'queue:q2']);
  assert.deepEqual(reached(router, 'mqtt', 'sensor'), ['queue:q2']);
  assert.deepEqual(reached(router, 'mqtt', 'sensor.kitchen.temperature'), []);
  assert.deepEqual(reached(router, 'nats', 'sensor.kitchen.temperature'), ['queue:q1', 'queue:q2']);
  assert.deepEqual(reached(router, 'nats', 'sensor'), []);
});

test('a topic binding with an invalid pattern is refused and changes nothing', () => {
  const router = routerWith(queues);
  router.declareExchange('mqtt', { type: 'topic', topicDialect: 'mqtt' });
  assert.throws(() => router.bind('mqtt', queue('q1'), 'a/#/b'), throwsCode('INVALID_TOPIC_PATTERN'));
  assert.equal(router.bindingCount, 0);
  assert.deepEqual(router.bindingsTo(queue('q1')), []);
  assert.deepEqual(router.bindingsFrom('mqtt'), []);
});

test('a headers exchange routes by binding arguments and ignores the routing key', () => {
  const router = routerWith(queues);
  router.declareExchange('match', { type: 'headers' });
  router.bind('match', queue('q1'), 'ignored', { 'x-match': 'all', format: 'pdf', type: 'report' });
  router.bind('match', queue('q2'), '', { 'x-match': 'any', format: 'pdf', type: 'log' });
  assert.deepEqual(reached(router, 'match', 'any key', { format: 'pdf', type: 'report' }), ['queue:q1', 'queue:q2']);
  assert.deepEqual(reached(router, 'match', '', { type: 'log' }), ['queue:q2']);
  assert.deepEqual(reached(router, 'match', ''), []);
  assert.throws(() => router.bind('match', queue('q3'), '', { 'x-match': 'most' }), throwsCode('INVALID_BINDING_ARGUMENTS'));
  assert.equal(router.bindingCount, 2);
});

test('binding is idempotent for an identical binding, and arguments make bindings distinct', () => {
  const router = routerWith(queues);
  router.declareExchange('x', { type: 'direct' });
  assert.equal(router.bind('x', queue('q1'), 'k', { a: 1, b: [1, 2] }), true);
  assert.equal(router.bind('x', queue('q1'), 'k', { b: [1, 2], a: 1n }), false);
  assert.equal(router.bindingCount, 1);
  assert.equal(router.bind('x', queue('q1'), 'k', { a: 2 }), true);
  assert.equal(router.bind('x', queue('q1'), 'k'), true);
  assert.equal(router.bindingCount, 3);
  // The queue is reached once, and stays reachable until its last binding for the key goes.
  assert.deepEqual(reached(router, 'x', 'k'), ['queue:q1']);
  assert.equal(router.unbind('x', queue('q1'), 'k', { a: 1, b: [1, 2] }), true);
  assert.equal(router.unbind('x', queue('q1'), 'k', { a: 1, b: [1, 2] }), false);
  assert.equal(router.unbind('x', queue('q1'), 'k'), true);
  assert.deepEqual(reached(router, 'x', 'k'), ['queue:q1']);
  assert.equal(router.unbind('x', queue('q1'), 'k', { a: 2 }), true);
  assert.deepEqual(reached(router, 'x', 'k'), []);
  assert.equal(router.bindingCount, 0);
});

test('the same topic binding key to one queue with different arguments survives removing one of them', () => {
  const router = routerWith(queues);
  router.declareExchange('t', { type: 'topic' });
  router.bind('t', queue('q1'), 'a.*', { tag: 1 });
  router.bind('t', queue('q1'), 'a.*', { tag: 2 });
  router.unbind('t', queue('q1'), 'a.*', { tag: 1 });
  assert.deepEqual(reached(router, 't', 'a.b'), ['queue:q1']);
});

test('a binding keeps its arguments even if the caller later changes the object it passed', () => {
  const router = routerWith(queues);
  router.declareExchange('match', { type: 'headers' });
  const bindingArguments: Record<string, string> = { format: 'pdf' };
  router.bind('match', queue('q1'), '', bindingArguments);
  bindingArguments['format'] = 'zip';
  assert.deepEqual(reached(router, 'match', '', { format: 'pdf' }), ['queue:q1']);
  assert.deepEqual(router.bindingsFrom('match')[0]!.arguments, { format: 'pdf' });
});

test('binding to or from something missing fails with a code naming what is missing', () => {
  const router = routerWith([queue('q1'), stream('s1')]);
  router.declareExchange('x', { type: 'direct' });
  assert.throws(() => router.bind('nope', queue('q1'), 'k'), throwsCode('EXCHANGE_NOT_FOUND'));
  assert.throws(() => router.bind('x', exchange('nope'), 'k'), throwsCode('EXCHANGE_NOT_FOUND'));
  assert.throws(() => router.bind('x', queue('nope'), 'k'), throwsCode('DESTINATION_NOT_FOUND'));
  // A stream is not a queue of the same name.
  assert.throws(() => router.bind('x', queue('s1'), 'k'), throwsCode('DESTINATION_NOT_FOUND'));
  assert.throws(() => router.bind('x', stream('q1'), 'k'), throwsCode('DESTINATION_NOT_FOUND'));
  assert.equal(router.bind('x', stream('s1'), 'k'), true);
  assert.throws(() => router.unbind('nope', queue('q1'), 'k'), throwsCode('EXCHANGE_NOT_FOUND'));
  assert.equal(router.unbind('x', queue('q1'), 'k'), false);
});

test('routing to a missing exchange fails with EXCHANGE_NOT_FOUND', () => {
  const router = routerWith(queues);
  assert.throws(() => router.route('nope', 'k'), throwsCode('EXCHANGE_NOT_FOUND'));
});

test('exchange-to-exchange bindings are followed transitively', () => {
  const router = routerWith(queues);
  router.declareExchange('entry', { type: 'topic' });
  router.declareExchange('middle', { type: 'fanout' });
  router.declareExchange('last', { type: 'direct' });
  router.bind('entry', exchange('middle'), 'orders.#');
  router.bind('middle', exchange('last'), '');
  router.bind('middle', queue('q1'), '');
  router.bind('last', queue('q2'), 'orders.eu');
  assert.deepEqual(reached(router, 'entry', 'orders.eu'), ['queue:q1', 'queue:q2']);
  assert.deepEqual(reached(router, 'entry', 'orders.us'), ['queue:q1']);
  assert.deepEqual(reached(router, 'entry', 'invoices'), []);
});

test('a cycle of exchange-to-exchange bindings ends, delivering once to each queue on it', () => {
  const router = routerWith(queues);
  for (const name of ['a', 'b', 'c']) router.declareExchange(name, { type: 'fanout' });
  router.bind('a', exchange('b'), '');
  router.bind('b', exchange('c'), '');
  router.bind('c', exchange('a'), '');
  router.bind('b', queue('q1'), '');
  router.bind('c', queue('q2'), '');
  assert.deepEqual(reached(router, 'a', 'k'), ['queue:q1', 'queue:q2']);
  assert.deepEqual(reached(router, 'c', 'k'), ['queue:q1', 'queue:q2']);
});

test('an exchange bound to itself routes once', () => {
  const router = routerWith(queues);
  router.declareExchange('self', { type: 'fanout' });
  router.bind('self', exchange('self'), '');
  router.bind('self', queue('q1'), '');
  assert.deepEqual(reached(router, 'self', 'k'), ['queue:q1']);
});

test('a queue reachable by two paths appears once among the destinations', () => {
  const router = routerWith(queues);
  for (const name of ['top', 'left', 'right']) router.declareExchange(name, { type: 'fanout' });
  router.bind('top', exchange('left'), '');
  router.bind('top', exchange('right'), '');
  router.bind('left', queue('q1'), '');
  router.bind('right', queue('q1'), '');
  router.bind('top', queue('q1'), '');
  router.bind('right', queue('q2'), '');
  const outcome = router.route('top', 'k');
  assert.equal(outcome.destinations.length, 2);
  assert.deepEqual(reached(router, 'top', 'k'), ['queue:q1', 'queue:q2']);
});

test('the alternate exchange receives what an exchange routes nowhere, and only that', () => {
  const router = routerWith(queues);
  router.declareExchange('unrouted', { type: 'fanout' });
  router.declareExchange('orders', { type: 'direct', alternateExchange: 'unrouted' });
  router.bind('orders', queue('q1'), 'eu');
  router.bind('unrouted', queue('q4'), '');
  assert.deepEqual(reached(router, 'orders', 'eu'), ['queue:q1']);
  assert.deepEqual(reached(router, 'orders', 'us'), ['queue:q4']);
});

test('alternate exchanges chain transitively until one routes the message', () => {
  const router = routerWith(queues);
  router.declareExchange('first', { type: 'direct', alternateExchange: 'second' });
  router.declareExchange('second', { type: 'direct', alternateExchange: 'third' });
  router.declareExchange('third', { type: 'fanout' });
  router.bind('second', queue('q2'), 'known-to-second');
  router.bind('third', queue('q3'), '');
  assert.deepEqual(reached(router, 'first', 'known-to-second'), ['queue:q2']);
  assert.deepEqual(reached(router, 'first', 'other'), ['queue:q3']);
});

test('a cycle of alternate exchanges ends with the message unroutable', () => {
  const router = routerWith(queues);
  router.declareExchange('a', { type: 'direct', alternateExchange: 'b' });
  router.declareExchange('b', { type: 'direct', alternateExchange: 'a' });
  router.declareExchange('self', { type: 'direct', alternateExchange: 'self' });
  const outcome = router.route('a', 'k');
  assert.equal(outcome.unroutable, true);
  assert.deepEqual(outcome.destinations, []);
  assert.equal(router.route('self', 'k').unroutable, true);
  router.bind('b', queue('q2'), 'k');
  assert.deepEqual(reached(router, 'a', 'k'), ['queue:q2']);
});

test('a missing alternate exchange is ignored, and an exchange declared later under its name takes over', () => {
  const router = routerWith(queues);
  router.declareExchange('orders', { type: 'direct', alternateExchange: 'later' });
  assert.equal(router.route('orders', 'k').unroutable, true);
  router.declareExchange('later', { type: 'fanout' });
  router.bind('later', queue('q1'), '');
  assert.deepEqual(reached(router, 'orders', 'k'), ['queue:q1']);
});

test('the default exchange can serve as an alternate exchange', () => {
  const router = routerWith(queues);
  router.declareExchange('orders', { type: 'direct', alternateExchange: '' });
  router.bind('orders', queue('q1'), 'eu');
  assert.deepEqual(reached(router, 'orders', 'eu'), ['queue:q1']);
  assert.deepEqual(reached(router, 'orders', 'q2'), ['queue:q2']);
  assert.deepEqual(reached(router, 'orders', 'none'), []);
});

test('an exchange that matched a binding to another exchange does not use its alternate, as in RabbitMQ', () => {
  const router = routerWith(queues);
  router.declareExchange('outer', { type: 'fanout', alternateExchange: 'outer-ae' });
  router.declareExchange('inner', { type: 'direct', alternateExchange: 'inner-ae' });
  router.declareExchange('outer-ae', { type: 'fanout' });
  router.declareExchange('inner-ae', { type: 'fanout' });
  router.bind('outer', exchange('inner'), '');
  router.bind('outer-ae', queue('q1'), '');
  router.bind('inner-ae', queue('q2'), '');
  assert.deepEqual(reached(router, 'outer', 'k'), ['queue:q2']);
});

test('an internal exchange refuses direct publishes but routes through bindings and as an alternate', () => {
  const router = routerWith(queues);
  router.declareExchange('hidden', { type: 'fanout', internal: true });
  router.declareExchange('public', { type: 'direct', alternateExchange: 'hidden' });
  router.declareExchange('entry', { type: 'fanout' });
  router.bind('hidden', queue('q1'), '');
  router.bind('entry', exchange('hidden'), '');
  assert.throws(() => router.route('hidden', 'k'), throwsCode('EXCHANGE_INTERNAL'));
  assert.deepEqual(router.route('hidden', 'k', {}, { internalAllowed: true }).destinations, [queue('q1')]);
  assert.deepEqual(reached(router, 'entry', 'k'), ['queue:q1']);
  assert.deepEqual(reached(router, 'public', 'k'), ['queue:q1']);
});

test('deleting an exchange removes the bindings from it and to it', () => {
  const router = routerWith(queues);
  router.declareExchange('upstream', { type: 'fanout' });
  router.declareExchange('doomed', { type: 'fanout' });
  router.bind('upstream', exchange('doomed'), '');
  router.bind('upstream', queue('q2'), '');
  router.bind('doomed', queue('q1'), '');
  router.bind('doomed', exchange('doomed'), '');
  assert.equal(router.deleteExchange('doomed'), true);
  assert.equal(router.getExchange('doomed'), undefined);
  assert.deepEqual(router.listBindings().map((binding) => binding.destination.name), ['q2']);
  assert.deepEqual(router.bindingsTo(queue('q1')), []);
  assert.equal(router.bindingCount, 1);
  assert.deepEqual(reached(router, 'upstream', 'k'), ['queue:q2']);
  assert.equal(router.deleteExchange('doomed'), false);
  // A new exchange of the old name starts with no bindings.
  router.declareExchange('doomed', { type: 'fanout' });
  assert.deepEqual(reached(router, 'doomed', 'k'), []);
});

test('deleting with ifUnused refuses an exchange that is the source of bindings', () => {
  const router = routerWith(queues);
  router.declareExchange('busy', { type: 'fanout' });
  router.declareExchange('idle', { type: 'fanout' });
  router.bind('busy', queue('q1'), '');
  router.bind('busy', exchange('idle'), '');
  assert.throws(() => router.deleteExchange('busy', { ifUnused: true }), throwsCode('EXCHANGE_IN_USE'));
  assert.deepEqual(reached(router, 'busy', 'k'), ['queue:q1']);
  // Being a destination does not make an exchange used, as in RabbitMQ.
  assert.equal(router.deleteExchange('idle', { ifUnused: true }), true);
  assert.deepEqual(router.bindingsFrom('busy').map((binding) => binding.destination.name), ['q1']);
});

test('unbindAllTo removes every binding to a deleted queue across exchanges', () => {
  const router = routerWith(queues);
  router.declareExchange('direct', { type: 'direct' });
  router.declareExchange('topic', { type: 'topic' });
  router.declareExchange('headers', { type: 'headers' });
  router.bind('direct', queue('q1'), 'a');
  router.bind('direct', queue('q1'), 'b');
  router.bind('topic', queue('q1'), '#');
  router.bind('headers', queue('q1'), '', { format: null });
  router.bind('topic', queue('q2'), '#');
  assert.equal(router.unbindAllTo(queue('q1')), 4);
  assert.equal(router.unbindAllTo(queue('q1')), 0);
  assert.deepEqual(reached(router, 'direct', 'a'), []);
  assert.deepEqual(reached(router, 'topic', 'x'), ['queue:q2']);
  assert.deepEqual(reached(router, 'headers', '', { format: 'pdf' }), []);
  assert.equal(router.bindingCount, 1);
});

test('listings show exchanges with the default first, and bindings by source and by destination', () => {
  const router = routerWith(queues);
  router.declareExchange('x', { type: 'direct' });
  router.declareExchange('y', { type: 'fanout', internal: true });
  router.bind('x', queue('q1'), 'k1');
  router.bind('x', exchange('y'), 'k2');
  router.bind('y', queue('q1'), '');
  assert.deepEqual(router.listExchanges().map((description) => description.name), ['', 'x', 'y']);
  assert.equal(router.listExchanges()[2]!.internal, true);
  assert.deepEqual(router.bindingsFrom('x'), [
    { source: 'x', destination: queue('q1'), routingKey: 'k1', arguments: {} },
    { source: 'x', destination: exchange('y'), routingKey: 'k2', arguments: {} },
  ]);
  assert.deepEqual(router.bindingsTo(queue('q1')).map((binding) => binding.source).sort(), ['x', 'y']);
  assert.deepEqual(router.bindingsTo(exchange('y')).map((binding) => binding.source), ['x']);
  assert.deepEqual(router.bindingsFrom(''), []);
  assert.deepEqual(router.bindingsFrom('missing'), []);
  assert.equal(router.listBindings().length, 3);
  assert.ok(Object.isFrozen(router.listBindings()[0]), 'bindings handed out are frozen');
});

test('the exchange and binding limits refuse one more than allowed', () => {
  const router = routerWith(queues, { exchangesMax: 2, bindingsMax: 2 });
  router.declareExchange('a', { type: 'fanout' });
  router.declareExchange('b', { type: 'fanout' });
  assert.throws(() => router.declareExchange('c', { type: 'fanout' }), throwsCode('EXCHANGE_LIMIT_REACHED'));
  // Redeclaring an existing exchange at the limit is still fine.
  assert.equal(router.declareExchange('a', { type: 'fanout' }), false);
  router.bind('a', queue('q1'), '');
  router.bind('a', queue('q2'), '');
  assert.throws(() => router.bind('a', queue('q3'), ''), throwsCode('BINDING_LIMIT_REACHED'));
  assert.equal(router.bind('a', queue('q1'), ''), false);
  router.unbind('a', queue('q1'), '');
  assert.equal(router.bind('a', queue('q3'), ''), true);
  router.deleteExchange('b');
  assert.equal(router.declareExchange('c', { type: 'fanout' }), true);
});

test('extra routing keys (CC/BCC): each destination any key reaches, once; the alternate exchange only when no key matched', () => {
  const router = routerWith(queues);
  router.declareExchange('ae', { type: 'fanout' });
  router.bind('ae', queue('q4'), '');
  router.declareExchange('d', { type: 'direct', alternateExchange: 'ae' });
  router.bind('d', queue('q1'), 'a');
  router.bind('d', queue('q2'), 'b');
  router.bind('d', queue('q3'), 'a');
  router.bind('d', queue('q3'), 'b');
  const names = (exchangeName: string, routingKey: string, extraRoutingKeys: string[]) =>
    router.route(exchangeName, routingKey, {}, { extraRoutingKeys }).destinations.map((destination) => destination.name).sort();
  assert.deepEqual(names('d', 'a', ['b']), ['q1', 'q2', 'q3']);
  assert.deepEqual(names('d', 'nothing', ['b']), ['q2', 'q3'], 'a matching extra key keeps the alternate exchange out');
  assert.deepEqual(names('d', 'nothing', ['none']), ['q4']);
  assert.deepEqual(names('', 'q1', ['q2', 'missing']), ['q1', 'q2'], 'the default exchange: keys name queues');
  assert.equal(router.route('', 'missing', {}, { extraRoutingKeys: ['gone'] }).unroutable, true);
});
