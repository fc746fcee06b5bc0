import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { isFerryError } from '../lib/ferry-error.js';
import { testPasswordHasher } from '../core/test-broker.js';
import { Broker } from '../server/broker.js';
import { BasicAuthenticator } from './basic-authenticator.js';

let broker: Broker;

before(async () => {
  broker = await Broker.start({ memory: true, passwordHasher: testPasswordHasher });
  await broker.core.access.putUser('remote', 'pw', { tags: ['management'] });
});

after(() => broker.close());

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const refused = (error: unknown) => isFerryError(error, 'UNAUTHORIZED');

test('guest logs in from loopback only, even once its login is remembered', async () => {
  const authenticator = new BasicAuthenticator(() => broker.core.access);
  assert.deepEqual(await authenticator.authenticate(basic('guest', 'guest'), '127.0.0.1'), { user: 'guest', tags: ['administrator'] });
  assert.equal((await authenticator.authenticate(basic('guest', 'guest'), '::ffff:127.0.0.1')).user, 'guest');
  await assert.rejects(authenticator.authenticate(basic('guest', 'guest'), '10.1.2.3'), refused);
  await assert.rejects(authenticator.authenticate(basic('guest', 'guest'), undefined), refused);
});

test('other users log in from anywhere', async () => {
  const authenticator = new BasicAuthenticator(() => broker.core.access);
  assert.equal((await authenticator.authenticate(basic('remote', 'pw'), '10.1.2.3')).user, 'remote');
});

test('a remembered login expires after its time to live and is checked again', async () => {
  let nowMs = 0;
  let verifications = 0;
  const access = broker.core.access;
  const counting = new Proxy(access, {
    get: (target, property, receiver) =>
      property === 'authenticate'
        ? (...args: Parameters<typeof access.authenticate>) => {
            verifications++;
            return target.authenticate(...args);
          }
        : Reflect.get(target, property, receiver),
  });
  const authenticator = new BasicAuthenticator(() => counting, { cacheTtlMs: 1_000, monotonicMs: () => nowMs });
  await authenticator.authenticate(basic('remote', 'pw'), '10.0.0.1');
  await authenticator.authenticate(basic('remote', 'pw'), '10.0.0.1');
  assert.equal(verifications, 1);
  nowMs += 1_001;
  await authenticator.authenticate(basic('remote', 'pw'), '10.0.0.1');
  assert.equal(verifications, 2);
  await assert.rejects(authenticator.authenticate(basic('remote', 'wrong'), '10.0.0.1'), refused);
  await assert.rejects(authenticator.authenticate(basic('remote', 'wrong'), '10.0.0.1'), refused);
  assert.equal(verifications, 4, 'failures are never remembered');
});

test('missing, malformed and colon-less credentials are UNAUTHORIZED', async () => {
  const authenticator = new BasicAuthenticator(() => broker.core.access);
  for (const header of [undefined, '', 'Basic', 'Bearer token', `Basic ${Buffer.from('no-colon').toString('base64')}`, 'Basic !!!']) {
    await assert.rejects(authenticator.authenticate(header, '127.0.0.1'), refused, String(header));
  }
});
