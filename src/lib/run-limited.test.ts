import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runLimited } from './run-limited.js';

test('runLimited keeps at most `limit` calls in flight, starts them in item order, and waits for all', async () => {
  let inFlight = 0;
  let most = 0;
  const started: number[] = [];
  const done: number[] = [];
  await runLimited([0, 1, 2, 3, 4, 5, 6], 3, async (item) => {
    started.push(item);
    inFlight++;
    most = Math.max(most, inFlight);
    // Later items end sooner: a slot freed by any call takes the next item.
    await new Promise((resolve) => setTimeout(resolve, (7 - item) * 2));
    inFlight--;
    done.push(item);
  });
  assert.equal(most, 3);
  assert.deepEqual(started, [0, 1, 2, 3, 4, 5, 6]);
  assert.deepEqual([...done].sort(), [0, 1, 2, 3, 4, 5, 6]);
  await runLimited([], 4, async () => assert.fail('no items, no calls'));
});

test('runLimited starts nothing after a failure, lets the calls in flight end, and rejects with the first failure', async () => {
  const started: number[] = [];
  let ended = 0;
  await assert.rejects(
    runLimited([0, 1, 2, 3, 4, 5], 2, async (item) => {
      started.push(item);
      await new Promise((resolve) => setTimeout(resolve, item === 1 ? 1 : 10));
      ended++;
      if (item === 1) throw new Error('one failed');
      if (item === 0) throw new Error('zero failed later');
    }),
    /one failed/,
  );
  assert.deepEqual(started, [0, 1], 'item 1 failed before item 0 ended: nothing more started');
  assert.equal(ended, 2, 'item 0 ran to its end');
});
