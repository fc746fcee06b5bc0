import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Queue } from '../../core/queue/queue.js';
import { isFerryError } from '../../lib/ferry-error.js';
import { DeliveryReceipts } from './delivery-receipts.js';

/** Receipts only read a queue's name and identity. */
const queueNamed = (name: string) => ({ name }) as unknown as Queue;

test('a receipt gives back the delivery id it was issued for', () => {
  const receipts = new DeliveryReceipts();
  const queue = queueNamed('jobs');
  const issued = [1, 35, 36, 2 ** 40].map((id) => receipts.issue('/', queue, id));
  assert.deepEqual(receipts.deliveryIdsOf('/', queue, issued), [1, 35, 36, 2 ** 40]);
});

test('a receipt of another queue, vhost or process, or a tampered one, is INVALID_RECEIPT', () => {
  const receipts = new DeliveryReceipts();
  const queue = queueNamed('jobs');
  const receipt = receipts.issue('/', queue, 7);
  const refused = (vhost: string, target: Queue, candidate: string, code = 'INVALID_RECEIPT') =>
    assert.throws(() => receipts.deliveryIdsOf(vhost, target, [candidate]), (error: unknown) => isFerryError(error, code));
  refused('/', queueNamed('other'), receipt);
  refused('other-vhost', queue, receipt);
  refused('/', queue, new DeliveryReceipts().issue('/', queue, 7));
  const [incarnation, , signature] = receipt.split('.');
  refused('/', queue, `${incarnation}.8.${signature}`);
  refused('/', queue, 'not a receipt');
  refused('/', queue, '');
});

test('a receipt of a queue deleted and declared again is UNKNOWN_DELIVERY, not another delivery of the new one', () => {
  const receipts = new DeliveryReceipts();
  const before = queueNamed('jobs');
  const receipt = receipts.issue('/', before, 1);
  const after = queueNamed('jobs');
  receipts.issue('/', after, 1);
  assert.throws(() => receipts.deliveryIdsOf('/', after, [receipt]), (error: unknown) => isFerryError(error, 'UNKNOWN_DELIVERY'));
});
