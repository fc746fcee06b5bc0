import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deferred, type Deferred } from '../../lib/deferred.js';
import { PublishTurn } from './publish-turn.js';

/** Lets pending microtasks and one macrotask turn run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Settles to 'resolved', 'rejected: <message>' or 'pending' after a settle. */
async function stateOf(promise: Promise<void>): Promise<string> {
  let state = 'pending';
  promise.then(
    () => (state = 'resolved'),
    (error: Error) => (state = `rejected: ${error.message}`),
  );
  await settle();
  return state;
}

test('members run once at the end of the turn, in join order, those joining meanwhile too; the promise waits for written()', async () => {
  const writes: Deferred<void>[] = [];
  const turn = new PublishTurn(() => {
    const write = deferred<void>();
    writes.push(write);
    return write.promise;
  });
  const ran: string[] = [];
  const late = { endOfTurn: () => ran.push('late') };
  turn.join({ endOfTurn: () => ran.push('a') });
  const durable = turn.durable();
  turn.join({
    endOfTurn: () => {
      ran.push('b');
      turn.join(late);
    },
  });
  assert.equal(turn.durable(), durable, 'one promise for the turn');
  assert.equal(ran.length, 0, 'nothing runs before the turn ends');
  await Promise.resolve();
  assert.deepEqual(ran, ['a', 'b', 'late']);
  assert.equal(writes.length, 1, 'written() is asked once, after every member ran');
  assert.equal(await stateOf(durable), 'pending', 'not before the write');
  writes[0]!.resolve();
  assert.equal(await stateOf(durable), 'resolved');

  // The next turn has a promise of its own.
  turn.join({ endOfTurn: () => ran.push('c') });
  const next = turn.durable();
  assert.notEqual(next, durable);
  await Promise.resolve();
  writes[1]!.reject(new Error('disk gone'));
  assert.equal(await stateOf(next), 'rejected: disk gone');
});

test('a failed append rejects the turn without waiting for the write; a turn nobody waits on asks for none', async () => {
  let asked = 0;
  const turn = new PublishTurn(() => {
    asked++;
    return Promise.resolve();
  });
  turn.join({ endOfTurn: () => turn.fail(new Error('RECORD_TOO_LARGE')) });
  const durable = turn.durable();
  assert.equal(await stateOf(durable), 'rejected: RECORD_TOO_LARGE');
  assert.equal(asked, 0);

  turn.join({ endOfTurn: () => undefined });
  await settle();
  assert.equal(asked, 0, 'no publish waited: nothing to ask');
  turn.fail(new Error('no turn to fail'));
  turn.join({ endOfTurn: () => undefined });
  assert.equal(await stateOf(turn.durable()), 'resolved', 'a failure outside a waited turn is not carried over');
  assert.equal(asked, 1);
});

test('written() throwing rejects the turn', async () => {
  const turn = new PublishTurn(() => {
    throw new Error('store closed');
  });
  turn.join({ endOfTurn: () => undefined });
  assert.equal(await stateOf(turn.durable()), 'rejected: store closed');
});

test('a failed turn that nobody awaits (only dead letters took its promise) is no unhandled rejection', async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  try {
    const turn = new PublishTurn(() => Promise.reject(new Error('disk gone')));
    turn.join({ endOfTurn: () => undefined });
    void turn.durable();
    await settle();
    await settle();
    assert.deepEqual(unhandled, []);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});
