/**
 * The TypeScript client's whole surface, run twice by one shared suite:
 * against a broker's native listener over TCP (127.0.0.1, a free port) and
 * over the in-process transport (`ferry+mem://`, no socket). Every test
 * opens its own clients (closed after it) and uses names of its own.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { connect, FerryClientError, type FerryClient, type ReceivedMessage, type StreamEntry } from '../../../src/client/index.js';
import { partitionForKey } from '../../../src/lib/partitioner.js';
import type { ClientConnection } from '../../../src/client/client-connection.js';
import { FrameFlag, FRAMES, type RawFrame } from '../../../src/protocols/native/codec/index.js';
import { waitUntil } from '../amqp/wait-until.js';
import { ClientTestServer, type ClientTransport } from './client-test-server.js';

const encoder = new TextEncoder();

/** Rejects when `promise` takes longer than `ms`. */
async function within<T>(promise: Promise<T>, what: string, ms = 5_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** Takes `count` items from an async iterator. */
async function take<T>(iterator: AsyncIterator<T>, count: number, what: string): Promise<T[]> {
  const items: T[] = [];
  while (items.length < count) {
    const next = await within(iterator.next(), `${what}: item ${items.length + 1} of ${count}`);
    assert.ok(!next.done, `${what}: the iterator ended after ${items.length} items`);
    items.push(next.value);
  }
  return items;
}

/** Asserts that `promise` rejects with a FerryClientError of `code`. */
async function rejectsWith(promise: Promise<unknown>, code: string): Promise<FerryClientError> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof FerryClientError, `expected a FerryClientError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  return caught;
}

/** The client's live connection (internal), for tests that watch or cut the wire. */
function connectionOf(client: FerryClient): ClientConnection {
  const connection = (client as unknown as { current: ClientConnection | null }).current;
  assert.ok(connection !== null, 'the client has a connection');
  return connection;
}

/** Counts request frames of type `name` the client writes (by wrapping its connection's send/notify). */
function countFrames(client: FerryClient, name: keyof typeof FRAMES): { count: number; messages: number[] } {
  const connection = connectionOf(client) as unknown as { send: (...args: unknown[]) => void; notify: (...args: unknown[]) => void };
  const seen = { count: 0, messages: [] as number[] };
  for (const method of ['send', 'notify'] as const) {
    const original = connection[method].bind(connection);
    connection[method] = (...args: unknown[]) => {
      if (args[0] === name) {
        seen.count++;
        const values = args[2] as { messages?: unknown[] };
        if (values.messages !== undefined) seen.messages.push(values.messages.length);
      }
      original(...args);
    };
  }
  return seen;
}

/**
 * Cuts the connection when the answer to the next `name` request arrives,
 * before the client sees it: the request took effect but was never
 * confirmed, as when a connection breaks at the worst moment.
 */
function dropNextAnswer(client: FerryClient, name: keyof typeof FRAMES): { dropped: boolean } {
  const connection = connectionOf(client) as unknown as { dispatch: (frame: RawFrame) => void; destroy: () => void };
  const state = { dropped: false };
  const original = connection.dispatch.bind(connection);
  connection.dispatch = (frame: RawFrame) => {
    if (!state.dropped && frame.type === FRAMES[name].type && (frame.flags & FrameFlag.RESPONSE) !== 0) {
      state.dropped = true;
      connection.destroy();
      return;
    }
    original(frame);
  };
  return state;
}

function describeClientSuite(transport: ClientTransport): void {
  describe(`the client over ${transport}`, () => {
    let server: ClientTestServer;
    const clients: FerryClient[] = [];
    let nameSequence = 0;
    const unique = (prefix: string): string => `${prefix}-${transport}-${++nameSequence}`;

    before(async () => {
      server = await ClientTestServer.start(transport);
    });
    after(async () => {
      await server.close();
    });
    afterEach(async () => {
      await Promise.all(clients.splice(0).map((client) => client.close().catch(() => undefined)));
    });

    async function open(options: Record<string, unknown> = {}): Promise<FerryClient> {
      const client = await connect({ url: server.url(transport), reconnect: { delayMsInitial: 10, delayMsMax: 100, durationMsMax: 10_000 }, ...options });
      client.on('error', () => undefined);
      clients.push(client);
      return client;
    }

    // ── connection ─────────────────────────────────────────────────────

    test('connects as guest to the default vhost and reports the user and the server', async () => {
      const client = await open();
      assert.equal(client.user, 'guest');
      assert.match(client.server, /Ferry/);
      assert.equal(client.isOpen, true);
    });

    test('logs in with the credentials and vhost of the URL', async () => {
      await server.broker.core.access.putUser('app', 's3cret');
      await server.broker.core.access.setPermissions('app', '/', { configure: '.*', write: '.*', read: '.*' });
      const client = await connect(server.url(transport, { user: 'app', password: 's3cret', vhost: '/' }));
      clients.push(client);
      assert.equal(client.user, 'app');
    });

    test('a wrong password rejects the connect with NATIVE_AUTHENTICATION_FAILED', async () => {
      await rejectsWith(connect(server.url(transport, { user: 'guest', password: 'wrong' })), 'NATIVE_AUTHENTICATION_FAILED');
    });

    test('a vhost without access rejects the connect with ACCESS_REFUSED', async () => {
      const error = await rejectsWith(connect(server.url(transport, { vhost: 'no-such-vhost' })), 'ACCESS_REFUSED');
      assert.match(error.message, /no-such-vhost/);
    });

    test('a closed client rejects calls with CONNECTION_CLOSED and emits close', async () => {
      const client = await open();
      let closed: unknown = 'not emitted';
      client.on('close', (error) => (closed = error));
      await client.close();
      assert.equal(closed, null);
      assert.equal(client.isOpen, false);
      await rejectsWith(client.declareQueue(unique('after-close')), 'CONNECTION_CLOSED');
      assert.throws(() => client.publisher({ queue: 'x' }), (error: unknown) => error instanceof FerryClientError && error.code === 'CONNECTION_CLOSED');
    });

    // ── topology ───────────────────────────────────────────────────────

    test('declares, inspects, purges and deletes queues, with server codes for misuse', async () => {
      const client = await open();
      const queue = unique('queue');
      const declared = await client.declareQueue(queue, { durable: true, maxLength: 100 });
      assert.deepEqual(declared, { name: queue, messageCount: 0, consumerCount: 0 });
      await rejectsWith(client.declareQueue(queue, { durable: true, maxLength: 5 }), 'PRECONDITION_FAILED');
      await rejectsWith(client.declareQueue(unique('missing'), { passive: true }), 'QUEUE_NOT_FOUND');
      const publisher = client.publisher({ queue });
      await Promise.all([publisher.send('one'), publisher.send('two')]);
      assert.equal((await client.declareQueue(queue, { passive: true })).messageCount, 2);
      assert.equal(await client.purgeQueue(queue), 2);
      await publisher.send('three');
      assert.equal(await client.deleteQueue(queue), 1);
      await rejectsWith(client.deleteQueue(queue), 'QUEUE_NOT_FOUND');
      const named = await client.declareQueue('', { exclusive: true });
      assert.ok(named.name.length > 0, 'the server named the queue');
    });

    test('routes through declared exchanges and bindings, and unbinds', async () => {
      const client = await open();
      const exchange = unique('topic');
      const queue = unique('bound');
      await client.declareExchange(exchange, 'topic');
      await client.declareQueue(queue);
      await client.bind(exchange, queue, 'orders.*');
      const publisher = client.publisher({ exchange, mandatory: true });
      assert.deepEqual(await publisher.send({ body: 'a', routingKey: 'orders.created' }), { status: 'routed' });
      assert.deepEqual(await publisher.send({ body: 'b', routingKey: 'users.created' }), { status: 'unroutable' });
      assert.equal(await client.unbind(exchange, queue, 'orders.*'), true);
      assert.equal(await client.unbind(exchange, queue, 'orders.*'), false);
      assert.deepEqual(await publisher.send({ body: 'c', routingKey: 'orders.created' }), { status: 'unroutable' });
      const [message] = await client.get(queue);
      assert.equal(message?.bodyText(), 'a');
      assert.equal(message?.routingKey, 'orders.created');
      assert.equal(message?.exchange, exchange);
      assert.equal(await client.deleteExchange(exchange), true);
      await rejectsWith(client.publish(exchange, { body: 'd', routingKey: 'orders.x' }), 'EXCHANGE_NOT_FOUND');
    });

    // ── publishing ─────────────────────────────────────────────────────

    test('a turn of sends leaves in one publish frame, each send confirmed', async () => {
      const client = await open();
      const queue = unique('batched');
      await client.declareQueue(queue);
      const frames = countFrames(client, 'publish');
      const publisher = client.publisher({ queue });
      const results = await Promise.all(Array.from({ length: 50 }, (_, index) => publisher.send(`m${index}`)));
      assert.equal(results.length, 50);
      assert.ok(results.every((result) => result.status === 'routed'));
      assert.deepEqual(frames.messages, [50], 'one frame with all 50 messages');
      assert.equal((await client.declareQueue(queue, { passive: true })).messageCount, 50);
    });

    test('batchSize splits a turn into frames of at most that many messages, and write/flush confirm them all', async () => {
      const client = await open();
      const queue = unique('split');
      await client.declareQueue(queue);
      const frames = countFrames(client, 'publish');
      const publisher = client.publisher({ queue, batchSize: 20 });
      for (let index = 0; index < 50; index++) publisher.write(`m${index}`);
      await publisher.flush();
      assert.deepEqual(frames.messages, [20, 20, 10]);
      assert.equal((await client.declareQueue(queue, { passive: true })).messageCount, 50);
    });

    test('lingerMs gathers sends of several turns into one frame', async () => {
      const client = await open();
      const queue = unique('linger');
      await client.declareQueue(queue);
      const frames = countFrames(client, 'publish');
      const publisher = client.publisher({ queue, lingerMs: 50 });
      const first = publisher.send('a');
      await delay(5);
      const second = publisher.send('b');
      await Promise.all([first, second]);
      assert.deepEqual(frames.messages, [2]);
    });

    test('properties, headers and persistence travel intact', async () => {
      const client = await open();
      const queue = unique('properties');
      await client.declareQueue(queue);
      const properties = {
        contentType: 'application/json',
        contentEncoding: 'identity',
        messageId: 'id-1',
        correlationId: 'corr-1',
        replyTo: 'somewhere',
        timestampMs: 1_700_000_000_000,
        expirationMs: 60_000,
        priority: 3,
        type: 'order',
        appId: 'tests',
        groupId: 'group-1',
      };
      const headers = { text: 'value', number: 42, flag: true, nothing: null, bytes: new Uint8Array([1, 2, 3]), list: [1, 'two'], table: { inner: 'x' } };
      await client.publish('', { body: JSON.stringify({ ok: true }), routingKey: queue, properties, headers, persistent: false });
      const [message] = await client.get(queue, { autoAck: true });
      assert.ok(message !== undefined);
      assert.deepEqual(message.json(), { ok: true });
      assert.deepEqual({ ...message.properties }, properties);
      assert.deepEqual(message.headers, headers);
      assert.equal(message.persistent, false);
      assert.equal(message.redelivered, false);
      assert.equal(message.deliveryCount, 1);
      assert.ok(message.timestampMs > 0);
    });

    test('a message larger than the server frame limit is refused with MESSAGE_TOO_LARGE', async () => {
      const client = await open();
      const queue = unique('large');
      await client.declareQueue(queue);
      const frameBytesMax = connectionOf(client).frameBytesMax;
      await rejectsWith(client.publisher({ queue }).send(new Uint8Array(frameBytesMax + 1)), 'MESSAGE_TOO_LARGE');
    });

    test('publishing to a missing queue through the default exchange is unroutable, to a missing stream STREAM_NOT_FOUND', async () => {
      const client = await open();
      assert.deepEqual(await client.publisher({ queue: unique('nowhere'), mandatory: true }).send('x'), { status: 'unroutable' });
      await rejectsWith(client.append(unique('no-stream'), 'x'), 'STREAM_NOT_FOUND');
    });

    test('idempotent queue publishes carry a message id, and a deduplicating queue stores a re-sent batch once', async () => {
      const client = await open();
      const queue = unique('dedup');
      await client.declareQueue(queue, { deduplicationWindowMs: 60_000 });
      const publisher = client.publisher({ queue });
      const dropped = dropNextAnswer(client, 'publish');
      const results = await within(Promise.all(['a', 'b', 'c'].map((body) => publisher.send(body))), 'the re-sent batch is confirmed');
      assert.equal(dropped.dropped, true, 'the first answer was lost with the connection');
      assert.ok(results.every((result) => result.status === 'routed'));
      const messages = await client.get(queue, { max: 10, autoAck: true });
      assert.deepEqual(messages.map((message) => message.bodyText()), ['a', 'b', 'c'], 'each message once');
      assert.ok(messages.every((message) => message.properties.messageId?.startsWith(`${publisher.producerId.toString(36)}-`)));
    });

    test('close waits until what was written is confirmed', async () => {
      const client = await open();
      const queue = unique('drain');
      await client.declareQueue(queue);
      const publisher = client.publisher({ queue, lingerMs: 20 });
      for (let index = 0; index < 100; index++) publisher.write(`m${index}`);
      await client.close();
      assert.equal(server.broker.vhost().queue(queue).messageCount(), 100);
    });

    // ── queue consumers ────────────────────────────────────────────────

    test('a push consumer iterates deliveries within its prefetch, and acks free the window', async () => {
      const client = await open();
      const queue = unique('push');
      await client.declareQueue(queue);
      const publisher = client.publisher({ queue });
      await Promise.all(Array.from({ length: 10 }, (_, index) => publisher.send(`m${index}`)));
      const consumer = await client.consume(queue, { prefetch: 3 });
      const iterator = consumer[Symbol.asyncIterator]();
      const first = await take(iterator, 3, 'the prefetch window');
      assert.deepEqual(first.map((message) => message.bodyText()), ['m0', 'm1', 'm2']);
      await delay(50);
      assert.equal(consumer.bufferedCount, 0, 'nothing beyond the prefetch window before an ack');
      const rest: ReceivedMessage[] = [];
      for (const message of first) message.ack();
      while (rest.length < 7) {
        const [message] = await take(iterator, 1, 'after acks');
        rest.push(message!);
        message!.ack();
      }
      assert.deepEqual(rest.map((message) => message.bodyText()), ['m3', 'm4', 'm5', 'm6', 'm7', 'm8', 'm9']);
      await consumer.settled();
      assert.equal(server.broker.vhost().queue(queue).messageCount(), 0);
      await consumer.cancel();
      assert.equal((await iterator.next()).done, true, 'a cancelled consumer ends its iterator');
    });

    test('acks of one turn leave in one ack frame', async () => {
      const client = await open();
      const queue = unique('ack-batch');
      await client.declareQueue(queue);
      const publisher = client.publisher({ queue });
      await Promise.all(Array.from({ length: 20 }, (_, index) => publisher.send(`m${index}`)));
      const consumer = await client.consume(queue, { prefetch: 100 });
      const messages = await take(consumer[Symbol.asyncIterator](), 20, 'deliveries');
      const frames = countFrames(client, 'ack');
      for (const message of messages) message.ack();
      await consumer.settled();
      assert.equal(frames.count, 1);
    });

    test('nack requeues (redelivered, counted) or dead-letters', async () => {
      const client = await open();
      const queue = unique('nack');
      const deadLetters = unique('dead');
      await client.declareQueue(deadLetters);
      await client.declareQueue(queue, { deadLetterExchange: '', deadLetterRoutingKey: deadLetters });
      await client.publish('', { body: 'x', routingKey: queue });
      const consumer = await client.consume(queue, { prefetch: 1 });
      const iterator = consumer[Symbol.asyncIterator]();
      const [first] = await take(iterator, 1, 'first delivery');
      first!.nack({ requeue: true });
      const [second] = await take(iterator, 1, 'redelivery');
      assert.equal(second!.redelivered, true);
      assert.equal(second!.deliveryCount, 2);
      second!.nack({ requeue: false });
      const [dead] = await within(
        (async () => {
          for (;;) {
            const got = await client.get(deadLetters, { autoAck: true });
            if (got.length > 0) return got;
            await delay(10);
          }
        })(),
        'the dead letter',
      );
      assert.equal(dead!.bodyText(), 'x');
    });

    test('a handler consumer acks what the handler returns from and requeues what it throws on', async () => {
      const client = await open();
      const errors: FerryClientError[] = [];
      client.on('error', (error) => errors.push(error));
      const queue = unique('handler');
      await client.declareQueue(queue);
      const seen: string[] = [];
      let failOnce = true;
      await client.consume(queue, { prefetch: 10 }, async (message) => {
        seen.push(`${message.bodyText()}${message.redelivered ? '*' : ''}`);
        if (message.bodyText() === 'b' && failOnce) {
          failOnce = false;
          throw new Error('boom');
        }
      });
      const publisher = client.publisher({ queue });
      await Promise.all(['a', 'b', 'c'].map((body) => publisher.send(body)));
      await waitUntil(() => seen.includes('b*'), 'the failed message comes again');
      await waitUntil(() => server.broker.vhost().queue(queue).messageCount() === 0 && server.broker.vhost().queue(queue).unsettledCount() === 0, 'all acked');
      assert.ok(errors.some((error) => error.code === 'HANDLER_FAILED'));
    });

    test('deleting the queue ends its consumer with CONSUMER_CANCELLED', async () => {
      const client = await open();
      const queue = unique('deleted');
      await client.declareQueue(queue);
      const consumer = await client.consume(queue);
      const next = consumer.next();
      await client.deleteQueue(queue);
      await rejectsWith(within(next, 'the cancellation'), 'CONSUMER_CANCELLED');
    });

    test('consuming a missing queue rejects with QUEUE_NOT_FOUND', async () => {
      const client = await open();
      await rejectsWith(client.consume(unique('missing')), 'QUEUE_NOT_FOUND');
    });

    test('leaving a for-await loop cancels the consumer and returns unsettled deliveries', async () => {
      const client = await open();
      const queue = unique('break');
      await client.declareQueue(queue);
      const publisher = client.publisher({ queue });
      await Promise.all(['a', 'b', 'c'].map((body) => publisher.send(body)));
      const consumer = await client.consume(queue, { prefetch: 10 });
      for await (const message of consumer) {
        message.ack();
        break;
      }
      await waitUntil(() => server.broker.vhost().queue(queue).messageCount() === 2, 'b and c are ready again');
      const rest = await client.get(queue, { max: 10, autoAck: true });
      assert.deepEqual(rest.map((message) => message.bodyText()), ['b', 'c']);
    });

    // ── pull ───────────────────────────────────────────────────────────

    test('get pulls up to max, waits up to waitMs, and unacked messages return after the visibility timeout', async () => {
      const client = await open();
      const queue = unique('pull');
      await client.declareQueue(queue);
      assert.deepEqual(await client.get(queue, { max: 5 }), []);
      const waited = client.get(queue, { max: 5, waitMs: 2_000, visibilityTimeoutMs: 300 });
      await delay(30);
      await client.publish('', { body: 'late', routingKey: queue });
      assert.deepEqual((await within(waited, 'the waiting pull')).map((message) => message.bodyText()), ['late']);
      await client.publish('', { body: 'again', routingKey: queue });
      const invisible = await client.get(queue, { max: 5, visibilityTimeoutMs: 300 });
      assert.deepEqual(invisible.map((message) => message.bodyText()), ['again'], 'late is still invisible');
      await invisible[0]!.changeVisibility(5_000);
      await delay(450);
      const back = await client.get(queue, { max: 5 });
      assert.deepEqual(back.map((message) => message.bodyText()), ['late'], 'late came back after its visibility timeout, again was extended');
      for (const message of back) message.ack();
      invisible[0]!.ack();
      await waitUntil(() => server.broker.vhost().queue(queue).messageCount() === 0 && server.broker.vhost().queue(queue).unsettledCount() === 0, 'all acked');
    });

    // ── streams ────────────────────────────────────────────────────────

    test('appends go to the partition of their key, as the broker computes it', async () => {
      const client = await open();
      const stream = unique('keyed');
      assert.deepEqual(await client.declareStream(stream, { partitions: 3 }), { partitions: 3 });
      const publisher = client.publisher({ stream });
      const results = await Promise.all(['k1', 'k2', 'k3', 'k1'].map((key) => publisher.send({ body: key, properties: { key } })));
      for (const [index, key] of ['k1', 'k2', 'k3', 'k1'].entries()) {
        const result = results[index]!;
        assert.equal(result.status, 'stored');
        assert.equal('partition' in result && result.partition, partitionForKey(encoder.encode(key), 3));
      }
      const info = await client.streamInfo(stream);
      assert.equal(info.endOffsets.reduce((sum, end) => sum + end, 0), 4);
    });

    test('unkeyed appends spread over the partitions one batch at a time', async () => {
      const client = await open();
      const stream = unique('spread');
      await client.declareStream(stream, { partitions: 3 });
      const publisher = client.publisher({ stream, batchSize: 2 });
      const partitions: number[] = [];
      for (let turn = 0; turn < 3; turn++) {
        const results = await Promise.all(['a', 'b', 'c'].map((body) => publisher.send(body)));
        for (const result of results) partitions.push('partition' in result ? result.partition : -1);
      }
      // Batches of at most 2, each to the next partition: a b | c, then a b | c, …
      assert.deepEqual(partitions, [0, 0, 1, 2, 2, 0, 1, 1, 2]);
      assert.deepEqual((await client.streamInfo(stream)).endOffsets, [3, 3, 3]);
    });

    test('read returns entries from first, an offset or a timestamp, with the next offset', async () => {
      const client = await open();
      const stream = unique('read');
      await client.declareStream(stream);
      const publisher = client.publisher({ stream });
      await Promise.all(['a', 'b', 'c'].map((body) => publisher.send(body)));
      await delay(5);
      const before = Date.now();
      await delay(5);
      await publisher.send('d');
      const all = await client.read(stream, { from: 'first' });
      assert.deepEqual(all.entries.map((entry) => [entry.offset, entry.bodyText()]), [[0, 'a'], [1, 'b'], [2, 'c'], [3, 'd']]);
      assert.equal(all.nextOffset, 4);
      const fromOffset = await client.read(stream, { from: { offset: 2 }, max: 1 });
      assert.deepEqual(fromOffset.entries.map((entry) => entry.bodyText()), ['c']);
      assert.equal(fromOffset.nextOffset, 3);
      const fromTime = await client.read(stream, { from: { timestampMs: before } });
      assert.deepEqual(fromTime.entries.map((entry) => entry.bodyText()), ['d']);
      assert.deepEqual((await client.read(stream, { from: 'next' })).entries, []);
    });

    test('a stream reader follows a partition beyond its credit, from next or from an offset', async () => {
      const client = await open();
      const stream = unique('reader');
      await client.declareStream(stream);
      const publisher = client.publisher({ stream });
      for (let index = 0; index < 10; index++) publisher.write(`old${index}`);
      await publisher.flush();
      const live = await client.streamReader(stream, { from: 'next', credit: 8 });
      const replay = await client.streamReader(stream, { from: { offset: 5 }, credit: 8 });
      for (let index = 0; index < 50; index++) publisher.write(`new${index}`);
      await publisher.flush();
      const liveEntries = await take(live[Symbol.asyncIterator](), 50, 'live entries');
      assert.deepEqual(liveEntries.map((entry) => entry.bodyText()), Array.from({ length: 50 }, (_, index) => `new${index}`));
      const replayed = await take(replay[Symbol.asyncIterator](), 55, 'replayed entries');
      assert.deepEqual(replayed.map((entry) => entry.offset), Array.from({ length: 55 }, (_, index) => index + 5));
      assert.equal(replay.position, 60);
      await live.close();
      await replay.close();
      assert.equal((await live.next()).done, true);
    });

    test('an idempotent append re-sent after a lost answer is stored once, with its original offsets', async () => {
      const client = await open();
      const stream = unique('idempotent');
      await client.declareStream(stream);
      const publisher = client.publisher({ stream });
      await publisher.send('first');
      const dropped = dropNextAnswer(client, 'append');
      const results = await within(Promise.all(['a', 'b'].map((body) => publisher.send(body))), 're-sent append confirmed');
      assert.equal(dropped.dropped, true);
      assert.deepEqual(results, [
        { status: 'duplicate', partition: 0, offset: 1 },
        { status: 'duplicate', partition: 0, offset: 2 },
      ]);
      assert.deepEqual((await client.read(stream)).entries.map((entry) => entry.bodyText()), ['first', 'a', 'b']);
      assert.deepEqual(await client.append(stream, 'c'), { status: 'stored', partition: 0, offset: 3 });
    });

    // ── consumer groups ────────────────────────────────────────────────

    test('a consumer group member reads owned partitions from committed offsets and commits', async () => {
      const client = await open();
      const stream = unique('group-stream');
      const group = unique('group');
      await client.declareStream(stream, { partitions: 2 });
      const publisher = client.publisher({ stream });
      for (let index = 0; index < 6; index++) publisher.write({ body: `e${index}`, properties: { key: `key-${index}` } });
      await publisher.flush();
      const assigned: number[][] = [];
      const member = await client.consumerGroup(stream, group, { member: 'm1', autoCommit: false });
      member.on('assigned', (partitions) => assigned.push([...partitions]));
      assert.deepEqual(member.partitions, [0, 1]);
      const entries = await take(member[Symbol.asyncIterator](), 6, 'group entries');
      assert.deepEqual(entries.map((entry) => entry.bodyText()).sort(), ['e0', 'e1', 'e2', 'e3', 'e4', 'e5']);
      const lastOf = (partition: number): StreamEntry => entries.filter((entry) => entry.partition === partition).at(-1)!;
      await member.commit(lastOf(0));
      await member.commit(1, lastOf(1).offset);
      assert.deepEqual(
        await member.committed(),
        new Map([
          [0, lastOf(0).offset + 1],
          [1, lastOf(1).offset],
        ]),
      );
      await member.close();
      // A new member starts where the group committed: only partition 1's last entry comes again.
      const next = await client.consumerGroup(stream, group, { member: 'm2' });
      const [again] = await take(next[Symbol.asyncIterator](), 1, 'the uncommitted entry');
      assert.equal(again!.bodyText(), lastOf(1).bodyText());
      await next.close();
    });

    test('a second member takes partitions over cooperatively: the first is revoked, commits and confirms', async () => {
      const client = await open();
      const stream = unique('rebalance');
      const group = unique('group');
      await client.declareStream(stream, { partitions: 2 });
      const first = await client.consumerGroup(stream, group, { member: 'first' });
      const revoked: number[][] = [];
      first.on('revoked', (partitions) => revoked.push([...partitions]));
      assert.deepEqual(first.partitions, [0, 1]);
      const secondClient = await open();
      const second = await secondClient.consumerGroup(stream, group, { member: 'second' });
      const assignedToSecond: number[][] = [];
      second.on('assigned', (partitions) => assignedToSecond.push([...partitions]));
      await waitUntil(() => revoked.length === 1 && first.partitions.length + second.partitions.length === 2 && second.partitions.length === 1, 'one partition moved');
      assert.deepEqual(first.partitions.concat(second.partitions).sort(), [0, 1]);
      // Each member now reads only its own partition.
      const publisher = client.publisher({ stream, partition: second.partitions[0]! });
      await publisher.send('for-second');
      const [entry] = await take(second[Symbol.asyncIterator](), 1, 'the second member reads its partition');
      assert.equal(entry!.bodyText(), 'for-second');
    });

    test('after a reconnect a group member joins again and resumes from the committed offsets', async () => {
      const client = await open();
      const stream = unique('group-resume');
      const group = unique('group');
      await client.declareStream(stream);
      for (const body of ['a', 'b', 'c', 'd']) await client.append(stream, body);
      const member = await client.consumerGroup(stream, group, { member: 'resumer', autoCommit: false });
      const assignedEvents: number[][] = [];
      member.on('assigned', (partitions) => assignedEvents.push([...partitions]));
      const iterator = member[Symbol.asyncIterator]();
      const firstTwo = await take(iterator, 2, 'the first entries');
      await member.commit(firstTwo[1]!);
      assert.deepEqual((await take(iterator, 2, 'the uncommitted entries')).map((entry) => entry.bodyText()), ['c', 'd']);
      const reconnected = new Promise<unknown>((resolve) => client.once('reconnected', resolve));
      server.dropConnections();
      await within(reconnected, 'the reconnect');
      assert.deepEqual((await take(iterator, 2, 'entries after the reconnect')).map((entry) => entry.bodyText()), ['c', 'd'], 'read again from the committed offset');
      assert.deepEqual(assignedEvents, [[0]]);
      assert.deepEqual(member.partitions, [0]);
    });

    test('a share group consumes a stream like a queue, pushed or pulled, with acks', async () => {
      const client = await open();
      const stream = unique('shared');
      await client.declareStream(stream);
      for (const body of ['a', 'b', 'c']) await client.append(stream, body);
      const consumer = await client.consume(stream, { group: 'workers', prefetch: 10 });
      const messages = await take(consumer[Symbol.asyncIterator](), 3, 'share group deliveries');
      assert.deepEqual(messages.map((message) => message.bodyText()), ['a', 'b', 'c']);
      for (const message of messages) message.ack();
      await consumer.settled();
      await consumer.cancel();
      await client.append(stream, 'd');
      const pulled = await client.get(stream, { group: 'workers', max: 5, autoAck: true });
      assert.deepEqual(pulled.map((message) => message.bodyText()), ['d'], 'acked entries do not come again');
    });

    // ── transactions ───────────────────────────────────────────────────

    test('a transaction publishes, appends and acks atomically on commit', async () => {
      const client = await open();
      const source = unique('tx-source');
      const target = unique('tx-target');
      const stream = unique('tx-stream');
      await client.declareQueue(source);
      await client.declareQueue(target);
      await client.declareStream(stream);
      await client.publish('', { body: 'input', routingKey: source });
      const tx = await client.transaction();
      const [input] = await tx.get(source);
      assert.equal(input!.bodyText(), 'input');
      tx.ack(input!);
      tx.publish('', { body: 'output', routingKey: target });
      tx.append(stream, 'logged');
      assert.equal(server.broker.vhost().queue(target).messageCount(), 0, 'nothing before commit');
      assert.deepEqual(await tx.commit(), { unroutable: 0, rejectedBy: [] });
      assert.equal(server.broker.vhost().queue(target).messageCount(), 1);
      assert.equal(server.broker.vhost().queue(source).messageCount() + server.broker.vhost().queue(source).unsettledCount(), 0);
      assert.deepEqual((await client.read(stream)).entries.map((entry) => entry.bodyText()), ['logged']);
      assert.throws(() => tx.publish('', 'late'), (error: unknown) => error instanceof FerryClientError && error.code === 'TRANSACTION_CLOSED');
    });

    test('an aborted transaction leaves no trace and its pulled message returns', async () => {
      const client = await open();
      const source = unique('abort-source');
      const target = unique('abort-target');
      await client.declareQueue(source);
      await client.declareQueue(target);
      await client.publish('', { body: 'input', routingKey: source });
      const tx = await client.transaction();
      const [input] = await tx.get(source);
      tx.ack(input!);
      tx.publish('', { body: 'output', routingKey: target });
      await tx.abort();
      assert.equal(server.broker.vhost().queue(target).messageCount(), 0);
      await waitUntil(() => server.broker.vhost().queue(source).messageCount() === 1, 'the input is ready again');
    });

    test('a transaction refuses foreign deliveries and fails its commit when a staged step was refused', async () => {
      const client = await open();
      const queue = unique('tx-foreign');
      await client.declareQueue(queue);
      await client.publish('', { body: 'x', routingKey: queue });
      const [foreign] = await client.get(queue);
      const tx = await client.transaction();
      assert.throws(() => tx.ack(foreign!), (error: unknown) => error instanceof FerryClientError && error.code === 'INVALID_ARGUMENT');
      tx.publish(unique('no-such-exchange'), { body: 'y', routingKey: 'k' });
      tx.publish('', { body: 'z', routingKey: queue });
      await rejectsWith(tx.commit(), 'EXCHANGE_NOT_FOUND');
      assert.equal(server.broker.vhost().queue(queue).messageCount(), 0, 'z was not published either');
      foreign!.ack();
    });

    test('a transaction commits a consumer-group offset', async () => {
      const client = await open();
      const stream = unique('tx-group-stream');
      const group = unique('tx-group');
      await client.declareStream(stream);
      await client.append(stream, 'a');
      await client.append(stream, 'b');
      const member = await client.consumerGroup(stream, group, { member: 'tx-member', autoCommit: false });
      const tx = await client.transaction();
      tx.commitOffset(member, 0, 1);
      await tx.commit();
      assert.deepEqual(await member.committed(), new Map([[0, 1]]));
    });

    // ── request / reply ────────────────────────────────────────────────

    test('request gets the reply of a responder, correlated, many in parallel', async () => {
      const service = await open();
      const caller = await open();
      const queue = unique('rpc');
      await service.declareQueue(queue, { durable: false });
      const responder = await service.respond(queue, (request) => ({ body: `echo ${request.bodyText()}`, headers: { seen: request.properties.replyTo !== undefined } }));
      const replies = await Promise.all(Array.from({ length: 20 }, (_, index) => caller.request(queue, `call ${index}`, { timeoutMs: 5_000 })));
      assert.deepEqual(replies.map((reply) => reply.bodyText()), Array.from({ length: 20 }, (_, index) => `echo call ${index}`));
      assert.deepEqual(replies[0]!.headers, { seen: true });
      await responder.cancel();
    });

    test('a request nobody answers times out; one that reaches no queue is REQUEST_UNROUTABLE', async () => {
      const client = await open();
      const queue = unique('silent');
      await client.declareQueue(queue, { durable: false });
      await rejectsWith(client.request(queue, 'hello?', { timeoutMs: 100 }), 'TIMEOUT');
      await rejectsWith(client.request(unique('no-such-queue'), 'hello?', { timeoutMs: 2_000 }), 'REQUEST_UNROUTABLE');
    });

    // ── reconnect ──────────────────────────────────────────────────────

    test('after the server drops the connection the client reconnects, re-declares and resubscribes', async () => {
      const client = await open();
      const events: string[] = [];
      client.on('reconnecting', (error) => events.push(`reconnecting ${error.code}`));
      client.on('reconnected', () => events.push('reconnected'));
      const queue = unique('resubscribed');
      await client.declareQueue(queue);
      const exclusive = unique('exclusive');
      await client.declareQueue(exclusive, { exclusive: true });
      const stream = unique('resume');
      await client.declareStream(stream);
      const consumer = await client.consume(queue, { prefetch: 10 });
      const reader = await client.streamReader(stream, { from: 'first', credit: 4 });
      const publisher = client.publisher({ queue });
      const streamPublisher = client.publisher({ stream });
      await publisher.send('before');
      for (let index = 0; index < 6; index++) streamPublisher.write(`s${index}`);
      await streamPublisher.flush();
      const consumed = consumer[Symbol.asyncIterator]();
      const readIterator = reader[Symbol.asyncIterator]();
      const [beforeMessage] = await take(consumed, 1, 'before the drop');
      beforeMessage!.ack();
      await consumer.settled();
      const readBefore = await take(readIterator, 3, 'stream entries before the drop');
      const unsettled = (await publisher.send('unsettled')) && (await take(consumed, 1, 'an unsettled delivery'))[0]!;

      assert.ok(server.dropConnections() >= 1);
      await waitUntil(() => events.includes('reconnected'), 'the client reconnected');
      assert.equal(events[0], 'reconnecting NATIVE_CONNECTION_FORCED');
      unsettled.ack(); // a delivery of the lost connection: a no-op, it comes again
      await publisher.send('after');
      const afterDrop = await take(consumed, 2, 'after the reconnect');
      assert.deepEqual(afterDrop.map((message) => [message.bodyText(), message.redelivered]), [
        ['unsettled', true],
        ['after', false],
      ]);
      const readAfter = await take(readIterator, 3, 'stream entries after the reconnect');
      assert.deepEqual([...readBefore, ...readAfter].map((entry) => entry.bodyText()), ['s0', 's1', 's2', 's3', 's4', 's5'], 'every entry once, in order');
      // The exclusive queue died with the old connection and was declared again on the new one.
      assert.equal((await client.declareQueue(exclusive, { passive: true })).name, exclusive);
    });

    test('publishes waiting while the client reconnects are sent afterwards, and calls in between wait', async () => {
      const client = await open();
      const queue = unique('during');
      await client.declareQueue(queue);
      const publisher = client.publisher({ queue });
      let reconnected = false;
      client.on('reconnected', () => (reconnected = true));
      // Sent and asked while the client is reconnecting: they wait for the new connection.
      const during = new Promise<{ sent: Promise<unknown>; declared: Promise<{ messageCount: number }> }>((resolve) =>
        client.once('reconnecting', () => {
          assert.equal(client.isOpen, false);
          resolve({ sent: Promise.all(['x', 'y'].map((body) => publisher.send(body))), declared: client.declareQueue(queue, { passive: true }) });
        }),
      );
      server.dropConnections();
      const { sent, declared } = await within(during, 'the reconnecting event');
      await within(sent, 'sends after the reconnect');
      assert.equal(reconnected, true);
      assert.ok((await declared).messageCount >= 0, 'the passive declare waited for the new connection');
      const messages = await client.get(queue, { max: 10, autoAck: true });
      assert.deepEqual(messages.map((message) => message.bodyText()), ['x', 'y']);
    });

    test('without reconnect a lost connection closes the client and fails pending calls', async () => {
      const client = await open({ reconnect: false });
      const queue = unique('no-reconnect');
      await client.declareQueue(queue);
      const consumer = await client.consume(queue);
      const closed = new Promise<FerryClientError | null>((resolve) => client.once('close', resolve));
      const waiting = consumer.next();
      server.dropConnections();
      const error = await within(closed, 'the close event');
      assert.equal(error?.code, 'CONNECTION_CLOSED');
      await rejectsWith(waiting, 'CONNECTION_CLOSED');
      await rejectsWith(client.get(queue), 'CONNECTION_CLOSED');
    });
  });
}

describeClientSuite('tcp');
describeClientSuite('in-process');
