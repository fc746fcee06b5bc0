import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inequivalentQueueMessage, resolveQueueConfig, sameQueueConfig } from './queue-config.js';

test('a redeclaration with another setting is named in RabbitMQ\'s words, in the units its arguments use', () => {
  const current = resolveQueueConfig({ name: 'q', maxLength: 10, deliveryLimit: 21 });
  assert.equal(sameQueueConfig(current, resolveQueueConfig({ name: 'q', maxLength: 10, deliveryLimit: 21 })), true);
  assert.equal(
    inequivalentQueueMessage(current, resolveQueueConfig({ name: 'q', maxLength: 20, deliveryLimit: 21 }), '/'),
    "inequivalent arg 'x-max-length' for queue 'q' in vhost '/': received '20' but current is '10'",
  );
  assert.equal(
    inequivalentQueueMessage(current, resolveQueueConfig({ name: 'q', maxLength: 10, deliveryLimit: 6 }), '/'),
    "inequivalent arg 'x-delivery-limit' for queue 'q' in vhost '/': received '5' but current is '20'",
    'the core counts deliveries, RabbitMQ returns',
  );
});

test('a quorum queue stored before queues kept their type is still one; a classic queue is not', () => {
  const quorum = resolveQueueConfig({ name: 'q', queueType: 'quorum', deliveryLimit: 21 });
  const storedWithoutType = resolveQueueConfig({ name: 'q', deliveryLimit: 21 });
  assert.equal(sameQueueConfig(storedWithoutType, quorum), true);
  assert.equal(sameQueueConfig(resolveQueueConfig({ name: 'q' }), quorum), false);
  assert.match(inequivalentQueueMessage(resolveQueueConfig({ name: 'q' }), quorum, 'v'), /^inequivalent arg 'x-queue-type' for queue 'q' in vhost 'v': received the value 'quorum' of type 'longstr' but current is none$/);
  assert.equal(sameQueueConfig(quorum, storedWithoutType), false, 'a quorum queue is not redeclared as classic');
});

test('a setting on one side only is named with its type: the protocol\'s when it knows it, else by its value', () => {
  const plain = resolveQueueConfig({ name: 'q' });
  const limited = resolveQueueConfig({ name: 'q', maxLength: 10 });
  assert.equal(
    inequivalentQueueMessage(limited, plain, '/'),
    "inequivalent arg 'x-max-length' for queue 'q' in vhost '/': received none but current is the value '10' of type 'long'",
  );
  assert.equal(
    inequivalentQueueMessage(plain, limited, '/', (argument, side) => (argument === 'x-max-length' && side === 'requested' ? 'short' : undefined)),
    "inequivalent arg 'x-max-length' for queue 'q' in vhost '/': received the value '10' of type 'short' but current is none",
  );
  assert.equal(
    inequivalentQueueMessage(plain, resolveQueueConfig({ name: 'q', deadLetterExchange: 'dlx' }), 'v'),
    "inequivalent arg 'x-dead-letter-exchange' for queue 'q' in vhost 'v': received the value 'dlx' of type 'longstr' but current is none",
  );
});
