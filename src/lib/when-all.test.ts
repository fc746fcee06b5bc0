import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deferred } from './deferred.js';
import { whenAll } from './when-all.js';

test('whenAll resolves only once every promise has resolved, whatever the order', async () => {
  const [first, second, third] = [deferred<void>(), deferred<number>(), deferred<string>()];
  let done = false;
  const all = whenAll([first.promise, second.promise, third.promise]).then(() => (done = true));
  third.resolve('c');
  first.resolve();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(done, false);
  second.resolve(2);
  assert.equal(await all, true);
});

test('whenAll of nothing or of one promise resolves to undefined', async () => {
  assert.equal(await whenAll([]), undefined);
  assert.equal(await whenAll([Promise.resolve(5)]), undefined);
});

test('whenAll rejects with the first rejection, even while others are pending', async () => {
  const pending = deferred<void>();
  const first = new Error('first');
  const all = whenAll([pending.promise, Promise.reject(first), Promise.reject(new Error('second'))]);
  await assert.rejects(all, (error) => error === first);
  pending.resolve();
});

test('whenAll counts a promise given twice twice', async () => {
  const shared = deferred<void>();
  let done = false;
  void whenAll([shared.promise, shared.promise]).then(() => (done = true));
  shared.resolve();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(done, true);
});
