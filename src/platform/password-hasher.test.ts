import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ScryptPasswordHasher } from './password-hasher.js';

test('scrypt hashes verify the right password and refuse others, before and after a remembered login', async () => {
  const hasher = new ScryptPasswordHasher();
  const hash = await hasher.hash('s3cret');
  assert.match(hash, /^scrypt\$[0-9a-f]{32}\$[0-9a-f]{64}$/);
  assert.equal(await hasher.verify('wrong', hash), false);
  assert.equal(await hasher.verify('s3cret', hash), true);
  // Remembered now: still exact.
  assert.equal(await hasher.verify('s3cret', hash), true);
  assert.equal(await hasher.verify('s3cret ', hash), false);
  assert.equal(await hasher.verify('wrong', hash), false);
  // A new hash of another password does not accept the remembered one.
  const changed = await hasher.hash('n3w');
  assert.equal(await hasher.verify('s3cret', changed), false);
  assert.equal(await hasher.verify('n3w', changed), true);
  assert.equal(await hasher.verify('x', 'plain-not-a-hash'), false);
});

test('scrypt hashing runs off the event loop: a 1 ms timer keeps firing while a hash is made', async () => {
  const hasher = new ScryptPasswordHasher();
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  let ticksDuringHash: number;
  let hash: string;
  try {
    hash = await hasher.hash('s3cret');
    ticksDuringHash = ticks;
  } finally {
    clearInterval(timer);
  }
  assert.ok(ticksDuringHash >= 1, `the timer fired ${ticksDuringHash} times during the hash`);
  assert.equal(await hasher.verify('s3cret', hash), true, 'and the hash is a valid one');
});
