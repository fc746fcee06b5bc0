/**
 * Fuzzing the AMQP listener over real sockets: garbage, garbage after a valid
 * start, mutated valid streams, and valid streams split at every byte
 * position. The broker must never crash, must answer split streams exactly as
 * unsplit ones, must let go of every closed connection, and must serve a new
 * amqplib connection after each batch. Bounded in count and in time; replay a
 * failure with SEED=<n> (printed at the start); FUZZ_BATCHES=<n> and
 * FUZZ_TIME_MS_MAX=<ms> fuzz longer.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { SeededRandom } from '../../../src/platform/random.js';
import type { PasswordHasher } from '../../../src/platform/password-hasher.js';
import { AmqpTestServer } from './amqp-test-server.js';
import { waitUntil } from './wait-until.js';
import { PROTOCOL_HEADER, RawAmqpClient, long, longstr, octet, short, shortstr } from './raw-amqp-client.js';

const SEED = process.env['SEED'] !== undefined ? Number(process.env['SEED']) : (Date.now() ^ (process.pid << 16)) >>> 0;
/** FUZZ_BATCHES and FUZZ_TIME_MS_MAX run it longer (the defaults keep CI quick). */
const BATCHES = Number(process.env['FUZZ_BATCHES'] ?? 4);
const CONNECTIONS_PER_BATCH = 25;
const FUZZ_TIME_MS_MAX = Number(process.env['FUZZ_TIME_MS_MAX'] ?? 6_000);

/** scrypt costs ~50 ms of event loop per login; the fuzz logs in hundreds of times. */
const plainHasher: PasswordHasher = {
  hash: (password) => `plain$${password}`,
  verify: (password, hash) => hash === `plain$${password}`,
};

let ferry: AmqpTestServer;

before(async () => {
  console.log(`listener-fuzz: SEED=${SEED}`);
  ferry = await AmqpTestServer.start({ broker: { memory: true, passwordHasher: plainHasher } });
});

after(async () => {
  await ferry.close();
});

/** Protocol header, start-ok, tune-ok (frame-max 131072, no heartbeat) and open, as one stream. */
function handshakeBytes(): Buffer {
  const response = Buffer.from('\0guest\0guest');
  return Buffer.concat([
    PROTOCOL_HEADER,
    RawAmqpClient.method(0, 10, 11, [long(0), shortstr('PLAIN'), longstr(response), shortstr('en_US')]),
    RawAmqpClient.method(0, 10, 31, [short(2047), long(131_072), short(0)]),
    RawAmqpClient.method(0, 10, 40, [shortstr('/'), shortstr(''), octet(0)]),
  ]);
}

/** On `channel`: open, declare `queue`, publish `body` to it, get it (no-ack), close. */
function sessionBytes(channel: number, queue: string, body: Buffer): Buffer {
  return Buffer.concat([
    RawAmqpClient.method(channel, 20, 10, [shortstr('')]),
    RawAmqpClient.method(channel, 50, 10, [short(0), shortstr(queue), octet(0), long(0)]),
    RawAmqpClient.publish(channel, '', queue),
    RawAmqpClient.contentHeader(channel, body.byteLength),
    RawAmqpClient.body(channel, body),
    RawAmqpClient.method(channel, 60, 70, [short(0), shortstr(queue), octet(1)]),
    RawAmqpClient.method(channel, 20, 40, [short(200), shortstr('bye'), short(0), short(0)]),
  ]);
}

/** Reads what the server answers to sessionBytes: open-ok, declare-ok, get-ok with the body, close-ok. */
async function expectSession(client: RawAmqpClient, channel: number, body: Buffer): Promise<void> {
  await client.expectMethod(channel, 20, 11);
  await client.expectMethod(channel, 50, 11);
  await client.expectMethod(channel, 60, 71);
  const header = await client.nextFrame();
  assert.equal(header?.type, 2, 'a content header follows get-ok');
  const bodyFrame = await client.nextFrame();
  assert.equal(bodyFrame?.type, 3, 'a body frame follows the header');
  assert.deepEqual(bodyFrame!.payload, body);
  await client.expectMethod(channel, 20, 41);
}

/** Writes `bytes` in pieces cut at `cuts`, pausing between pieces so that they arrive as separate reads. */
async function writeSplit(client: RawAmqpClient, bytes: Buffer, cuts: readonly number[]): Promise<void> {
  let from = 0;
  for (const cut of [...cuts, bytes.byteLength]) {
    client.write(bytes.subarray(from, cut));
    from = cut;
    if (cut < bytes.byteLength) await delay(1);
  }
}

async function assertServing(): Promise<void> {
  const connection = await ferry.connect();
  const channel = await connection.createChannel();
  await channel.assertQueue('fuzz-liveness');
  channel.sendToQueue('fuzz-liveness', Buffer.from('alive'));
  const message = await channel.get('fuzz-liveness', { noAck: true });
  assert.ok(message, 'the broker still serves');
  assert.equal(message.content.toString(), 'alive');
  await connection.close();
}

test('a handshake split at every byte position opens the connection', async () => {
  const bytes = handshakeBytes();
  const started = Date.now();
  for (let cut = 1; cut < bytes.byteLength; cut++) {
    const client = await RawAmqpClient.open(ferry.port);
    await writeSplit(client, bytes, [cut]);
    await client.expectMethod(0, 10, 10);
    await client.expectMethod(0, 10, 30);
    await client.expectMethod(0, 10, 41);
    client.destroy();
  }
  assert.ok(Date.now() - started < 20_000);
  await waitUntil(() => ferry.server.connectionCount() === 0, 'every raw connection is released');
  await assertServing();
});

test('a session split at every byte position (and byte by byte) gets the same answers', async () => {
  const client = await RawAmqpClient.openConnection(ferry.port);
  const body = Buffer.from('split me anywhere');
  const length = sessionBytes(1, 'split-queue', body).byteLength;
  for (let cut = 1; cut < length; cut++) {
    const channel = (cut % 50) + 1;
    await writeSplit(client, sessionBytes(channel, 'split-queue', body), [cut]);
    await expectSession(client, channel, body);
  }
  const bytes = sessionBytes(7, 'split-queue', body);
  await writeSplit(client, bytes, Array.from({ length: bytes.byteLength - 1 }, (_, index) => index + 1));
  await expectSession(client, 7, body);
  client.destroy();
  await assertServing();
});

/** One fuzz case: what a connection sends, drawn from the seeded generator. */
function fuzzCase(random: SeededRandom): Buffer {
  const garbage = (length: number) => Buffer.from(Array.from({ length }, () => random.int(256)));
  const validStream = Buffer.concat([handshakeBytes(), sessionBytes(1, `fuzz-${random.int(5)}`, garbage(random.int(64)))]);
  switch (random.int(5)) {
    case 0:
      return garbage(1 + random.int(2_000));
    case 1:
      return Buffer.concat([PROTOCOL_HEADER, garbage(1 + random.int(2_000))]);
    case 2:
      return Buffer.concat([handshakeBytes(), garbage(1 + random.int(2_000))]);
    case 3: {
      // A valid stream with a few bytes changed after the protocol header.
      const mutated = Buffer.from(validStream);
      for (let flips = 1 + random.int(4); flips > 0; flips--) mutated[8 + random.int(mutated.byteLength - 8)] = random.int(256);
      return mutated;
    }
    default: {
      // A valid stream cut short, then garbage frames with plausible headers.
      const cut = validStream.subarray(0, 8 + random.int(validStream.byteLength - 8));
      const frames = Array.from({ length: 1 + random.int(4) }, () =>
        RawAmqpClient.frame([1, 2, 3, 8][random.int(4)]!, random.int(4), garbage(random.int(300)), random.int(8) === 0 ? random.int(256) : 0xce),
      );
      return Buffer.concat([cut, ...frames]);
    }
  }
}

test('garbage, mutated and truncated streams never crash the broker, and every connection is released', async () => {
  const random = new SeededRandom(SEED);
  const started = Date.now();
  let cases = 0;
  for (let batch = 0; batch < BATCHES && Date.now() - started < FUZZ_TIME_MS_MAX; batch++) {
    const clients: RawAmqpClient[] = [];
    for (let index = 0; index < CONNECTIONS_PER_BATCH; index++) {
      const client = await RawAmqpClient.open(ferry.port);
      clients.push(client);
      const bytes = fuzzCase(random);
      const cuts = random.int(2) === 0 ? [] : [1 + random.int(bytes.byteLength - 1)].filter((cut) => cut < bytes.byteLength);
      await writeSplit(client, bytes, cuts);
      cases++;
    }
    // Give the server a moment to answer, then hang up on it.
    await delay(50);
    for (const client of clients) client.destroy();
    await waitUntil(() => ferry.server.connectionCount() === 0, `every connection of batch ${batch} is released (SEED=${SEED})`, 4_000);
    await assertServing();
  }
  assert.ok(cases >= CONNECTIONS_PER_BATCH, `${cases} cases ran`);
});
