import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SequenceMap } from './sequence-map.js';

/** A small seeded generator (xorshift32), so a failure replays. */
function generator(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 0x1_0000_0000;
  };
}

/**
 * The same operations on a SequenceMap and a Map must give the same answers and the same
 * iteration (the same entries in key order when `anyOrder` also sets keys below the last and
 * sets keys again, where only the side map's order may differ).
 */
function compareWithMap(seed: number, steps: number, anyOrder = false): void {
  const random = generator(seed);
  const map = new SequenceMap<string>();
  const model = new Map<number, string>();
  let nextKey = Math.floor(random() * 10);
  for (let step = 0; step < steps; step++) {
    const roll = random();
    if (anyOrder && roll < 0.12) {
      // A key below the last set (a redelivered offset), or one present set again.
      const key = Math.floor(random() * nextKey);
      map.set(key, `w${key}`);
      model.set(key, `w${key}`);
    } else if (roll < 0.45) {
      // Mostly consecutive keys, sometimes a gap, sometimes a long one (a run of keys never set).
      const gapRoll = random();
      nextKey += gapRoll < 0.8 ? 0 : gapRoll < 0.97 ? Math.floor(random() * 20) : 1_000 + Math.floor(random() * 3_000);
      map.set(nextKey, `v${nextKey}`);
      model.set(nextKey, `v${nextKey}`);
      nextKey++;
    } else if (roll < 0.9 && model.size > 0) {
      // Delete: mostly the oldest few (acks in order), sometimes any, sometimes one never set.
      const keys = [...model.keys()];
      const pick = random();
      const key = pick < 0.6 ? keys[Math.floor(random() * Math.min(4, keys.length))]! : pick < 0.95 ? keys[Math.floor(random() * keys.length)]! : nextKey + 5;
      assert.equal(map.delete(key), model.delete(key), `seed ${seed} step ${step}: delete ${key}`);
    } else if (roll < 0.93) {
      // Delete while iterating, as a Map allows.
      for (const [key] of map) {
        if (random() < 0.3) {
          map.delete(key);
          model.delete(key);
        }
      }
    } else if (roll < 0.935) {
      map.clear();
      model.clear();
    } else {
      const key = Math.floor(random() * (nextKey + 10));
      assert.equal(map.get(key), model.get(key), `seed ${seed} step ${step}: get ${key}`);
      assert.equal(map.has(key), model.has(key));
    }
    assert.equal(map.size, model.size, `seed ${seed} step ${step}: size`);
    if (step % 97 === 0) assert.deepEqual(inOrder([...map.entries()], anyOrder), inOrder([...model.entries()], anyOrder), `seed ${seed} step ${step}: entries`);
  }
  assert.deepEqual(inOrder([...map.entries()], anyOrder), inOrder([...model.entries()], anyOrder));
  if (!anyOrder) assert.deepEqual([...map.values()], [...model.values()]);
}

function inOrder(entries: [number, string][], sort: boolean): [number, string][] {
  return sort ? entries.sort((a, b) => a[0] - b[0]) : entries;
}

test('a SequenceMap answers as a Map does under random sets, deletes, iteration and clears', () => {
  for (let seed = 1; seed <= 40; seed++) compareWithMap(seed, 3_000);
});

test('a SequenceMap with keys set in any order and set again answers as a Map does', () => {
  for (let seed = 101; seed <= 140; seed++) compareWithMap(seed, 3_000, true);
});

test('a SequenceMap refuses keys that are not integers and undefined values', () => {
  const map = new SequenceMap<number | undefined>();
  assert.throws(() => map.set(1.5, 1));
  assert.throws(() => map.set(Number.NaN, 1));
  assert.throws(() => map.set(2, undefined));
  map.set(5, 1);
  map.set(3, 2);
  map.set(5, 4);
  assert.deepEqual([...map.entries()].sort((a, b) => a[0] - b[0]), [[3, 2], [5, 4]]);
  assert.equal(map.size, 2);
});

test('an entry left at the head does not keep a window of holes: memory follows the entries', () => {
  const map = new SequenceMap<number>();
  map.set(0, 0); // never deleted, as a message a consumer never acks
  for (let key = 1; key <= 200_000; key++) {
    map.set(key, key);
    map.delete(key - 1 === 0 ? -1 : key - 1);
  }
  assert.equal(map.size, 2);
  assert.equal(map.get(0), 0);
  assert.equal(map.get(200_000), 200_000);
  assert.deepEqual([...map.keys()], [0, 200_000]);
  // The window holds a few slots, not 200,000.
  const window = (map as unknown as { window: unknown[]; head: number }).window;
  assert.ok(window.length < 4_000, `window of ${window.length} slots`);
});
