import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Broker } from '../../server/broker.js';
import { ManualClock } from '../../platform/clock.js';
import { NodeFileSystem } from '../../platform/node-file-system.js';
import { HookedFileSystem } from '../../platform/hooked-file-system.js';
import { JournalWriteGate } from '../../platform/journal-write-gate.js';
import { SimulatedFileSystem } from '../../platform/simulated-file-system.js';
import { SeededRandom } from '../../platform/random.js';
import { bodies, deathRecords, settle, settleUntil, withCode, testPasswordHasher } from '../test-broker.js';

/** A broker on the real disk in a fresh temporary directory; `restart` closes it cleanly and opens the same directory with a new clock. */
async function onDisk(t: { after: (fn: () => Promise<void>) => void }) {
  const dataDir = await mkdtemp(join(tmpdir(), 'ferry-queue-durability-'));
  let clock = new ManualClock();
  const open = () => {
    clock = new ManualClock();
    return Broker.start({ passwordHasher: testPasswordHasher, dataDir, fileSystem: new NodeFileSystem(), clock });
  };
  let broker = await open();
  t.after(async () => {
    await broker.close().catch(() => undefined);
    await rm(dataDir, { recursive: true, force: true });
  });
  return {
    get broker() {
      return broker;
    },
    /** The clock of the running broker (each start gets a new one, at the same wall time). */
    get clock() {
      return clock;
    },
    async restart(): Promise<Broker> {
      await broker.close();
      broker = await open();
      return broker;
    },
  };
}

async function publishAll(broker: Broker, exchange: string, routingKey: string, texts: readonly string[], persistent = true): Promise<void> {
  for (const body of texts) await broker.publish(exchange, { body, routingKey, persistent });
}

test('a durable queue, its binding and its persistent messages survive a clean restart; acked messages do not come back', async (t) => {
  const disk = await onDisk(t);
  let broker = disk.broker;
  await broker.declareExchange('orders', { type: 'direct' });
  await broker.declareQueue('jobs', { durable: true });
  await broker.bind('orders', 'jobs', 'new');
  await publishAll(broker, 'orders', 'new', ['m1', 'm2', 'm3', 'm4']);
  const [m1, m2] = await broker.get('jobs', { max: 2 });
  await broker.ack(m1!);
  assert.ok(m2, 'm2 stays in flight over the restart');

  broker = await disk.restart();
  const queue = broker.vhost().queue('jobs');
  assert.equal(queue.messageCount(), 3, 'm2 (in flight at close), m3, m4');
  assert.deepEqual(bodies(await broker.get('jobs', { max: 10 })), ['m2', 'm3', 'm4']);
  assert.equal((await broker.publish('orders', { body: 'm5', routingKey: 'new' })).routed, true, 'the binding was restored');
  assert.deepEqual(bodies(await broker.get('jobs', { max: 10 })), ['m5']);
});

test('acknowledged messages stay gone over two restarts, and the rest keep their order', async (t) => {
  const disk = await onDisk(t);
  let broker = disk.broker;
  await broker.declareQueue('jobs');
  await publishAll(broker, '', 'jobs', ['m1', 'm2', 'm3', 'm4', 'm5']);
  const taken = await broker.get('jobs', { max: 5 });
  await broker.ack([taken[0]!, taken[2]!, taken[4]!]);
  broker = await disk.restart();
  const after = await broker.get('jobs', { max: 10 });
  assert.deepEqual(bodies(after), ['m2', 'm4']);
  await broker.ack(after[0]!);
  broker = await disk.restart();
  assert.deepEqual(bodies(await broker.get('jobs', { max: 10 })), ['m4']);
});

test('a turn publishing more to a queue than one storage batch holds is written as several batches: all confirmed, delivered, acked and gone after a restart', async (t) => {
  const disk = await onDisk(t);
  let broker = disk.broker;
  await broker.declareQueue('big');
  const body = new Uint8Array(1 << 20).fill(7);
  // 40 MiB in one turn, over the store's 32 MiB batch limit.
  const results = await Promise.allSettled(Array.from({ length: 40 }, (_, index) => broker.publish('', { body, routingKey: 'big', properties: { messageId: `m${index}` } })));
  assert.deepEqual(results.map((result) => result.status), Array.from({ length: 40 }, () => 'fulfilled'));
  await broker.publish('', { body: 'after', routingKey: 'big' });
  const got = await broker.get('big', { max: 100 });
  assert.deepEqual(got.map((delivery) => delivery.message.properties.messageId ?? 'after'), [...Array.from({ length: 40 }, (_, index) => `m${index}`), 'after']);
  await broker.ack(got.slice(0, 30));
  broker = await disk.restart();
  const left = await broker.get('big', { max: 100 });
  assert.deepEqual(left.map((delivery) => delivery.message.properties.messageId ?? 'after'), [...Array.from({ length: 10 }, (_, index) => `m${30 + index}`), 'after']);
  assert.ok(left.every((delivery) => delivery.message.body.byteLength === (delivery.message.properties.messageId === undefined ? 5 : 1 << 20)));
});

test('a message whose record would not fit one storage batch is refused at publish, and the queue goes on', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'ferry-huge-message-'));
  const broker = await Broker.start({ passwordHasher: testPasswordHasher, dataDir, fileSystem: new NodeFileSystem(), clock: new ManualClock(), limits: { messageBytesMax: 64 * 1024 * 1024 } });
  t.after(async () => {
    await broker.close().catch(() => undefined);
    await rm(dataDir, { recursive: true, force: true });
  });
  await broker.declareQueue('jobs');
  await assert.rejects(broker.publish('', { body: new Uint8Array(33 * 1024 * 1024), routingKey: 'jobs' }), withCode('MESSAGE_TOO_LARGE'));
  await broker.publish('', { body: 'small', routingKey: 'jobs' });
  const got = await broker.get('jobs', { max: 10 });
  assert.deepEqual(bodies(got), ['small']);
  await broker.ack(got);
  assert.equal(broker.vhost().queue('jobs').messageCount(), 0);
});

test('transient messages in a durable queue do not survive a restart; persistent ones around them do', async (t) => {
  const disk = await onDisk(t);
  let broker = disk.broker;
  await broker.declareQueue('jobs');
  await publishAll(broker, '', 'jobs', ['p1']);
  await publishAll(broker, '', 'jobs', ['t1', 't2'], false);
  await publishAll(broker, '', 'jobs', ['p2']);
  broker = await disk.restart();
  assert.deepEqual(bodies(await broker.get('jobs', { max: 10 })), ['p1', 'p2']);
  assert.equal(broker.vhost().queue('jobs').messageCount(), 0);
});

test('acked transient messages (acks not logged) stay out of the ready count after a clean restart', async (t) => {
  const disk = await onDisk(t);
  let broker = disk.broker;
  await broker.declareQueue('jobs');
  await publishAll(broker, '', 'jobs', ['t1', 't2'], false);
  await publishAll(broker, '', 'jobs', ['p1', 'p2']);
  const got = await broker.get('jobs', { max: 3 });
  assert.deepEqual(bodies(got), ['t1', 't2', 'p1']);
  await broker.ack(got);
  broker = await disk.restart();
  assert.equal(broker.vhost().queue('jobs').messageCount(), 1);
  assert.deepEqual(bodies(await broker.get('jobs', { max: 10 })), ['p2']);
});

test('the ready count right after a restart excludes transient messages that did not survive', async (t) => {
  const disk = await onDisk(t);
  let broker = disk.broker;
  await broker.declareQueue('jobs');
  await publishAll(broker, '', 'jobs', ['p1']);
  await publishAll(broker, '', 'jobs', ['t1', 't2'], false);
  broker = await disk.restart();
  assert.equal(broker.vhost().queue('jobs').messageCount(), 1);
});

test('a transient queue and its bindings do not survive a restart; a durable exchange does', async (t) => {
  const disk = await onDisk(t);
  let broker = disk.broker;
  await broker.declareExchange('fan', { type: 'fanout' });
  await broker.declareQueue('temp', { durable: false });
  await broker.declareQueue('kept', { durable: true });
  await broker.bind('fan', 'temp');
  await broker.bind('fan', 'kept');
  await publishAll(broker, 'fan', '', ['m1']);
  broker = await disk.restart();
  assert.equal(broker.vhost().findQueue('temp'), undefined);
  assert.ok(broker.vhost().router.getExchange('fan'));
  await broker.declareQueue('temp', { durable: false });
  await publishAll(broker, 'fan', '', ['m2']);
  assert.deepEqual(await broker.get('temp', { max: 10 }), [], 'the old binding is gone');
  assert.deepEqual(bodies(await broker.get('kept', { max: 10 })), ['m1', 'm2']);
});

test('queue policies survive a restart: the same declaration is accepted, a different one refused, and they still apply', async (t) => {
  const disk = await onDisk(t);
  let broker = disk.broker;
  await broker.declareExchange('dlx', { type: 'fanout' });
  await broker.declareQueue('dead');
  await broker.bind('dlx', 'dead');
  const policies = { maxLength: 2, deadLetterExchange: 'dlx', deliveryLimit: 5, maxPriority: 3 } as const;
  await broker.declareQueue('jobs', policies);
  await publishAll(broker, '', 'jobs', ['m1', 'm2']);
  broker = await disk.restart();
  await broker.declareQueue('jobs', policies);
  await assert.rejects(broker.declareQueue('jobs', { ...policies, maxLength: 3 }), withCode('PRECONDITION_FAILED'));
  await publishAll(broker, '', 'jobs', ['m3']);
  await settleUntil(() => broker.vhost().queue('dead').messageCount() === 1);
  assert.deepEqual(bodies(await broker.get('dead', { max: 10 })), ['m1'], 'drop-head dead-letters the oldest, even unread after the restart');
  assert.deepEqual(bodies(await broker.get('jobs', { max: 10 })), ['m2', 'm3']);
});

test('message priorities survive a restart', async (t) => {
  const disk = await onDisk(t);
  let broker = disk.broker;
  await broker.declareQueue('jobs', { maxPriority: 5 });
  for (const [body, priority] of [['low', 1], ['high', 5], ['mid', 3]] as const) {
    await broker.publish('', { body, routingKey: 'jobs', properties: { priority } });
  }
  broker = await disk.restart();
  assert.deepEqual(bodies(await broker.get('jobs', { max: 10 })), ['high', 'mid', 'low']);
});

test('a delayed message survives a restart in the schedule and is delivered when due', async (t) => {
  const disk = await onDisk(t);
  let broker = disk.broker;
  await broker.declareQueue('jobs');
  await broker.publish('', { body: 'later', routingKey: 'jobs', properties: { delayMs: 5_000 } });
  await broker.publish('', { body: 'now', routingKey: 'jobs' });
  broker = await disk.restart();
  const queue = broker.vhost().queue('jobs');
  assert.equal(queue.scheduledCount(), 1);
  assert.deepEqual(bodies(await broker.get('jobs', { max: 10, autoAck: true })), ['now']);
  // The restarted broker has a new ManualClock starting at the same wall time.
  disk.clock.advance(4_999);
  await settle(10);
  assert.deepEqual(await broker.get('jobs'), []);
  disk.clock.advance(1);
  await settleUntil(() => queue.messageCount() === 1);
  assert.equal(queue.scheduledCount(), 0);
  assert.deepEqual(bodies(await broker.get('jobs', { max: 10 })), ['later']);
});

test('delivery counts survive a restart, so the delivery limit still dead-letters a poison message', async (t) => {
  const disk = await onDisk(t);
  let broker = disk.broker;
  await broker.declareExchange('dlx', { type: 'fanout' });
  await broker.declareQueue('dead');
  await broker.bind('dlx', 'dead');
  await broker.declareQueue('jobs', { deliveryLimit: 2, deadLetterExchange: 'dlx' });
  await publishAll(broker, '', 'jobs', ['poison']);
  const [first] = await broker.get('jobs');
  await broker.nack(first!, { requeue: true });
  broker = await disk.restart();
  const [second] = await broker.get('jobs');
  assert.equal(second!.deliveryCount, 2);
  assert.equal(second!.redelivered, true);
  await broker.nack(second!, { requeue: true });
  const [dead] = await broker.get('dead');
  assert.deepEqual(bodies([dead!]), ['poison']);
  assert.equal(deathRecords(dead!)[0]?.['reason'], 'delivery_limit');
});

test('maxLengthBytes still holds after a restart for the messages restored from disk', async (t) => {
  const disk = await onDisk(t);
  let broker = disk.broker;
  await broker.declareQueue('jobs', { maxLengthBytes: 10, overflow: 'reject-publish' });
  await publishAll(broker, '', 'jobs', ['aaaaa', 'bbbbb']);
  broker = await disk.restart();
  const result = await broker.publish('', { body: 'c', routingKey: 'jobs' });
  assert.deepEqual(result.rejectedBy, ['jobs']);
});

test('messageBytes never goes negative after consuming messages restored by a restart', async (t) => {
  const disk = await onDisk(t);
  let broker = disk.broker;
  await broker.declareQueue('jobs');
  await publishAll(broker, '', 'jobs', ['aaaaa', 'bbbbb']);
  broker = await disk.restart();
  await broker.get('jobs', { max: 10, autoAck: true });
  assert.equal(broker.vhost().queue('jobs').messageBytes(), 0);
});

/** Starts a broker on the simulated disk; each (re)start gets its own ManualClock. */
function simulatedBroker(fileSystem: SimulatedFileSystem): Promise<Broker> {
  return Broker.start({ passwordHasher: testPasswordHasher, dataDir: '/ferry', fileSystem, clock: new ManualClock() });
}

for (const seed of [1, 2, 3, 4, 5]) {
  test(`after a power loss (seed ${seed}) every confirmed message survives and no acked message comes back`, async () => {
    const fileSystem = new SimulatedFileSystem();
    const before = await simulatedBroker(fileSystem);
    await before.declareExchange('orders', { type: 'topic' });
    await before.declareQueue('jobs');
    await before.bind('orders', 'jobs', 'order.#');
    const texts = Array.from({ length: 30 }, (_, index) => `m${index}`);
    await publishAll(before, 'orders', 'order.new', texts);
    const acked = await before.get('jobs', { max: 10 });
    await before.ack(acked);
    const inFlight = await before.get('jobs', { max: 5 });
    assert.equal(inFlight.length, 5);
    // Unconfirmed work at the instant of the crash: an ack and a publish not awaited.
    void before.ack(inFlight[0]!).catch(() => undefined);
    void before.publish('orders', { body: 'unconfirmed', routingKey: 'order.new' }).catch(() => undefined);

    before.abandon();
    fileSystem.crash(new SeededRandom(seed));
    const after = await simulatedBroker(fileSystem);
    const recovered = bodies(await after.get('jobs', { max: 100 }));
    const expected = texts.slice(10);
    const unexpectedlyBack = recovered.filter((body) => texts.slice(0, 10).includes(body));
    assert.deepEqual(unexpectedlyBack, [], 'acked messages are not delivered again');
    const confirmed = recovered.filter((body) => body !== 'unconfirmed');
    // m10 may or may not be there (its ack was not confirmed); every other confirmed one must be, in order.
    assert.deepEqual(confirmed.filter((body) => body !== 'm10'), expected.filter((body) => body !== 'm10'));
    assert.ok(recovered.length <= 21);
    assert.equal((await after.publish('orders', { body: 'post-crash', routingKey: 'order.new' })).routed, true, 'the binding survived');
    await after.close();
  });
}

test('after kill -9 every confirmed message survives, including what was in flight', async () => {
  const fileSystem = new SimulatedFileSystem();
  const before = await simulatedBroker(fileSystem);
  await before.declareQueue('jobs');
  await publishAll(before, '', 'jobs', ['m1', 'm2', 'm3', 'm4']);
  const [m1, m2] = await before.get('jobs', { max: 2 });
  await before.ack(m1!);
  assert.ok(m2);
  before.abandon();
  fileSystem.crashAfterKill();
  const after = await simulatedBroker(fileSystem);
  assert.deepEqual(bodies(await after.get('jobs', { max: 10 })), ['m2', 'm3', 'm4']);
  await after.close();
});

test('a turn that publishes to many queues is confirmed only once its journal write is durable, and a power loss then keeps all of it', async () => {
  const simulated = new SimulatedFileSystem();
  const fileSystem = new HookedFileSystem(simulated);
  const gate = new JournalWriteGate(fileSystem);
  const clock = new ManualClock();
  const before = await Broker.start({ passwordHasher: testPasswordHasher, dataDir: '/ferry', fileSystem, clock });
  const names = Array.from({ length: 8 }, (_, index) => `q${index}`);
  for (const name of names) await before.declareQueue(name);
  gate.holding = true;
  let confirmed = 0;
  // One turn: one message to each queue (each queue appends its own batch at the end of the turn).
  const confirms = names.map((name) => before.publish('', { body: `to ${name}`, routingKey: name }).then(() => confirmed++));
  await settleUntil(() => gate.heldCount() > 0);
  await settle(20);
  assert.equal(confirmed, 0, 'nothing is confirmed while the write is held');
  gate.holding = false;
  while (gate.heldCount() > 0) gate.releaseOne();
  await Promise.all(confirms);
  assert.equal(confirmed, names.length);
  before.abandon();
  simulated.crash(new SeededRandom(11));
  const after = await simulatedBroker(simulated);
  for (const name of names) assert.deepEqual(bodies(await after.get(name, { max: 10 })), [`to ${name}`], name);
  await after.close();
});

test('a dead letter to several queues whose write fails (the disk stops) is no unhandled rejection', async () => {
  const simulated = new SimulatedFileSystem();
  const fileSystem = new HookedFileSystem(simulated);
  const broker = await Broker.start({ passwordHasher: testPasswordHasher, dataDir: '/ferry', fileSystem, clock: new ManualClock() });
  await broker.declareExchange('dlx', { type: 'fanout' });
  for (const name of ['dead-a', 'dead-b']) {
    await broker.declareQueue(name);
    await broker.bind('dlx', name);
  }
  await broker.declareQueue('jobs', { deadLetterExchange: 'dlx' });
  await broker.publish('', { body: 'm1', routingKey: 'jobs' });
  const [delivery] = await broker.get('jobs');
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  try {
    fileSystem.hook = (operation, path) => {
      if (operation === 'write' && path.includes('journal/')) throw new Error('disk gone');
    };
    await assert.rejects(broker.nack(delivery!, { requeue: false }));
    await settle(50);
    assert.deepEqual(unhandled, []);
  } finally {
    process.off('unhandledRejection', onUnhandled);
    broker.abandon();
  }
});

test('after kill -9 transient messages held in memory do not come back, and the ready count settles to the persistent ones', async () => {
  const fileSystem = new SimulatedFileSystem();
  const before = await simulatedBroker(fileSystem);
  await before.declareQueue('jobs');
  await publishAll(before, '', 'jobs', ['p1']);
  await publishAll(before, '', 'jobs', ['t1', 't2'], false);
  await publishAll(before, '', 'jobs', ['p2']);
  const [p1] = await before.get('jobs');
  assert.deepEqual(bodies([p1!]), ['p1'], 'p1 in flight over the crash');
  before.abandon();
  fileSystem.crashAfterKill();
  const after = await simulatedBroker(fileSystem);
  assert.deepEqual(bodies(await after.get('jobs', { max: 10 })), ['p1', 'p2']);
  assert.equal(after.vhost().queue('jobs').messageCount(), 0);
  await after.close();
});

test('after kill -9 acked transient messages (acks not logged) and unwritten transient publishes stay gone; unacked persistent ones come back', async () => {
  const fileSystem = new SimulatedFileSystem();
  const before = await simulatedBroker(fileSystem);
  await before.declareQueue('jobs');
  await publishAll(before, '', 'jobs', ['p1']);
  await publishAll(before, '', 'jobs', ['t1', 't2'], false);
  await publishAll(before, '', 'jobs', ['p2', 'p3']);
  await publishAll(before, '', 'jobs', ['t3'], false);
  const got = await before.get('jobs', { max: 10 });
  assert.deepEqual(bodies(got), ['p1', 't1', 't2', 'p2', 'p3', 't3']);
  await before.ack(got.filter((delivery) => ['p1', 't1', 't2', 't3'].includes(bodies([delivery])[0]!)));
  // A transient message alone: its batch waits for a group that something else starts, and none comes.
  void before.publish('', { body: 't4', routingKey: 'jobs', persistent: false }).catch(() => undefined);
  before.abandon();
  fileSystem.crashAfterKill();
  const after = await simulatedBroker(fileSystem);
  const again = await after.get('jobs', { max: 10 });
  assert.deepEqual(bodies(again), ['p2', 'p3']);
  assert.equal(after.vhost().queue('jobs').messageCount(), 0, 'the transient offsets read back were settled');
  assert.ok(again.every((delivery) => delivery.redelivered), 'delivered before the crash');
  await after.ack(again);
  await publishAll(after, '', 'jobs', ['p4']);
  assert.deepEqual(bodies(await after.get('jobs', { max: 10 })), ['p4'], 'the queue goes on after the lost offsets');
  await after.close();
});

test('after kill -9, delivery state logged about transient offsets never written does not touch the messages that take those offsets', async () => {
  const fileSystem = new SimulatedFileSystem();
  const before = await simulatedBroker(fileSystem);
  await before.declareQueue('jobs');
  await before.declareQueue('other');
  // Held as a count by the log (Log.appendEmpty): not written before the kill.
  await publishAll(before, '', 'jobs', ['t1', 't2', 't3'], false);
  const got = await before.get('jobs', { max: 2 });
  assert.deepEqual(bodies(got), ['t1', 't2']);
  await before.nack([got[0]!], { requeue: false });
  // A durable write elsewhere takes the queue's state (offset 0 dead-lettered) with its group.
  await publishAll(before, '', 'other', ['o1']);
  before.abandon();
  fileSystem.crashAfterKill();
  const after = await simulatedBroker(fileSystem);
  assert.equal(after.vhost().queue('jobs').messageCount(), 0);
  await publishAll(after, '', 'jobs', ['p1', 'p2', 'p3']);
  const again = await after.get('jobs', { max: 10 });
  assert.deepEqual(bodies(again), ['p1', 'p2', 'p3'], 'every new message is ready, none taken for settled');
  assert.ok(again.every((delivery) => !delivery.redelivered), 'none marked delivered before');
  await after.close();
});

test('transient messages beyond what a durable queue holds in memory are written in full and delivered in order', async (t) => {
  const disk = await onDisk(t);
  const broker = disk.broker;
  await broker.declareQueue('jobs');
  // 40 x 512 KiB is past the 16 MiB of ready messages a durable queue holds in memory.
  const texts = Array.from({ length: 40 }, (_, index) => `t${index}`.padEnd(512 * 1024, '.'));
  await publishAll(broker, '', 'jobs', texts, false);
  const got = await broker.get('jobs', { max: 100 });
  const names = (all: readonly string[]) => all.map((body) => body.split('.')[0]);
  assert.deepEqual(names(bodies(got)), names(texts));
  assert.equal(broker.vhost().queue('jobs').messageCount(), 0);
});

test('a message delivered before a restart comes back marked redelivered', async (t) => {
  const disk = await onDisk(t);
  let broker = disk.broker;
  await broker.declareQueue('jobs');
  await publishAll(broker, '', 'jobs', ['m1', 'm2']);
  await broker.get('jobs');
  broker = await disk.restart();
  const [again, fresh] = await broker.get('jobs', { max: 10 });
  assert.deepEqual(bodies([again!, fresh!]), ['m1', 'm2']);
  assert.equal(again!.redelivered, true);
  assert.equal(fresh!.redelivered, false);
});

test('a restored queue with a TTL expires its backlog on time without a reader', async (t) => {
  const disk = await onDisk(t);
  let broker = disk.broker;
  await broker.declareExchange('dlx', { type: 'fanout' });
  await broker.declareQueue('dead');
  await broker.bind('dlx', 'dead');
  await broker.declareQueue('jobs', { messageTtlMs: 1_000, deadLetterExchange: 'dlx' });
  await publishAll(broker, '', 'jobs', ['m1', 'm2']);
  broker = await disk.restart();
  await settle();
  disk.clock.advance(1_000);
  for (let round = 0; round < 10 && broker.vhost().queue('dead').messageCount() < 2; round++) {
    await settle();
    disk.clock.advance(0);
  }
  assert.equal(broker.vhost().queue('jobs').messageCount(), 0);
  assert.deepEqual(bodies(await broker.get('dead', { max: 10 })), ['m1', 'm2']);
});

test('a durable exclusive queue is not restored, and a new queue of its name does not inherit its messages', async (t) => {
  const disk = await onDisk(t);
  let broker = disk.broker;
  await broker.declareQueue('private', { exclusiveOwner: 'connection-1' });
  await publishAll(broker, '', 'private', ['secret']);
  broker = await disk.restart();
  assert.equal(broker.vhost().findQueue('private'), undefined);
  await broker.declareQueue('private');
  assert.deepEqual(await broker.get('private', { max: 10 }), []);
});

test('a deleted durable queue stays deleted after a restart, and a new one of that name starts empty', async (t) => {
  const disk = await onDisk(t);
  let broker = disk.broker;
  await broker.declareQueue('jobs');
  await publishAll(broker, '', 'jobs', ['old']);
  await broker.deleteQueue('jobs');
  broker = await disk.restart();
  assert.equal(broker.vhost().findQueue('jobs'), undefined);
  await broker.declareQueue('jobs');
  assert.deepEqual(await broker.get('jobs', { max: 10 }), []);
});

test('purged messages stay purged after a restart', async (t) => {
  const disk = await onDisk(t);
  let broker = disk.broker;
  await broker.declareQueue('jobs');
  await publishAll(broker, '', 'jobs', ['m1', 'm2']);
  assert.equal(await broker.purgeQueue('jobs'), 2);
  await publishAll(broker, '', 'jobs', ['m3']);
  broker = await disk.restart();
  assert.deepEqual(bodies(await broker.get('jobs', { max: 10 })), ['m3']);
});

test('the deduplication window survives a restart', async (t) => {
  const disk = await onDisk(t);
  let broker = disk.broker;
  await broker.declareQueue('jobs', { deduplicationWindowMs: 60_000 });
  await broker.publish('', { body: 'original', routingKey: 'jobs', properties: { messageId: 'id-1' } });
  broker = await disk.restart();
  await broker.publish('', { body: 'retry', routingKey: 'jobs', properties: { messageId: 'id-1' } });
  assert.deepEqual(bodies(await broker.get('jobs', { max: 10 })), ['original']);
});

// Acked records must stay readable for the window: the queue rebuilds it from them after a restart. One message
// (its run must not become a hole), and 1,100 (enough acks for a reclaim of the log's start).
for (const count of [1, 1_100]) {
  test(`the deduplication window survives a restart for ${count} message(s) consumed and acked before it`, async (t) => {
    const disk = await onDisk(t);
    let broker = disk.broker;
    await broker.declareQueue('jobs', { deduplicationWindowMs: 60_000 });
    for (let index = 0; index < count; index++) void broker.publish('', { body: `m${index}`, routingKey: 'jobs', persistent: true, properties: { messageId: `id-${index}` } });
    await broker.publish('', { body: 'last', routingKey: 'jobs', persistent: true, properties: { messageId: 'id-last' } });
    for (let deliveries = await broker.get('jobs', { max: 500 }); deliveries.length > 0; deliveries = await broker.get('jobs', { max: 500 })) await broker.ack(deliveries);
    await settle(20);
    broker = await disk.restart();
    await broker.publish('', { body: 'retry', routingKey: 'jobs', persistent: true, properties: { messageId: 'id-0' } });
    assert.deepEqual(bodies(await broker.get('jobs', { max: 10 })), [], 'the retry of the first was recognised as a duplicate');
  });
}

test('a restored queue with expiresMs is deleted after that long unused', async (t) => {
  const disk = await onDisk(t);
  let broker = disk.broker;
  await broker.declareQueue('idle', { expiresMs: 1_000 });
  broker = await disk.restart();
  assert.ok(broker.vhost().findQueue('idle'));
  disk.clock.advance(1_000);
  assert.equal(broker.vhost().findQueue('idle'), undefined);
  // Let the deletion finish on disk before the clean restart.
  await settle(20);
  broker = await disk.restart();
  assert.equal(broker.vhost().findQueue('idle'), undefined, 'the deletion was stored');
});

test('drop-head after a restart dead-letters unread messages oldest first', async (t) => {
  const disk = await onDisk(t);
  let broker = disk.broker;
  await broker.declareExchange('dlx', { type: 'fanout' });
  await broker.declareQueue('dead');
  await broker.bind('dlx', 'dead');
  await broker.declareQueue('jobs', { maxLength: 3, deadLetterExchange: 'dlx' });
  await publishAll(broker, '', 'jobs', ['m1', 'm2', 'm3']);
  broker = await disk.restart();
  await publishAll(broker, '', 'jobs', ['m4', 'm5']);
  await settleUntil(() => broker.vhost().queue('dead').messageCount() === 2);
  assert.deepEqual(bodies(await broker.get('dead', { max: 10 })), ['m1', 'm2']);
  assert.deepEqual(bodies(await broker.get('jobs', { max: 10 })), ['m3', 'm4', 'm5']);
});

for (const seed of [11, 12, 13]) {
  test(`a delayed message confirmed before a power loss (seed ${seed}) is still delayed after it`, async () => {
    const fileSystem = new SimulatedFileSystem();
    const before = await simulatedBroker(fileSystem);
    await before.declareQueue('jobs');
    await before.publish('', { body: 'later', routingKey: 'jobs', properties: { delayMs: 60_000 } });
    before.abandon();
    fileSystem.crash(new SeededRandom(seed));
    const after = await simulatedBroker(fileSystem);
    const queue = after.vhost().queue('jobs');
    assert.equal(queue.scheduledCount(), 1);
    assert.deepEqual(await after.get('jobs'), [], 'not delivered before it is due');
    await after.close();
  });
}
