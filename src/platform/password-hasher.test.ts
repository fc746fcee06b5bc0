import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ScryptPasswordHasher } from './password-hasher.js';

test('scrypt hashes verify the right password and refuse others, before and after a remembered login', async () => {
  const hasher = new ScryptPasswordHasher();
  const hash = hasher.hash('s3cret');
  assert.match(hash, /^scrypt\$[0-9a-f]{32}\$[0-9a-f]{64}$/);
  assert.equal(await hasher.verify('wrong', hash), false);
  assert.equal(await hasher.verify('s3cret', hash), true);
  // Remembered now: still exact.
  assert.equal(await hasher.verify('s3cret', hash), true);
  assert.equal(await hasher.verify('s3cret ', hash), false);
  assert.equal(await hasher.verify('wrong', hash), false);
  // A new hash of another password does not accept the remembered one.
  const changed = hasher.hash('n3w');
  assert.equal(await hasher.verify('s3cret', changed), false);
  assert.equal(await hasher.verify('n3w', changed), true);
  assert.equal(await hasher.verify('x', 'plain-not-a-hash'), false);
});
