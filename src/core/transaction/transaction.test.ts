import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Broker } from '../../server/broker.js';
import { ManualClock } from '../../platform/clock.js';
import { SimulatedFileSystem } from '../../platform/simulated-file-system.js';
import { SeededRandom } from '../../platform/random.js';
import { HookedFileSystem } from '../../platform/hooked-file-system.js';
import { JournalWriteGate } from '../../platform/journal-write-gate.js';
import { bodies, bodyText, settle, settleUntil, testPasswordHasher, withCode } from '../test-broker.js';

function memoryBroker(clock = new ManualClock()): Promise<Broker> {
  return Broker.start({ memory: true, clock, passwordHasher: testPasswordHasher });
}

function simulatedBroker(fileSystem: SimulatedFileSystem, clock = new ManualClock()): Promise<Broker> {
  return Broker.start({ dataDir: 'data', fileSystem, clock, passwordHasher: testPasswordHasher });
}

async function streamTexts(broker: Broker, stream: string): Promise<string[]> {
  return (await broker.readStream(stream, { max: 10_000 })).map((entry) => bodyText(entry.message as never));
}

test('nothing of a transaction is visible before commit; at commit publishes, appends and acks all take effect', async (t) => {
  const broker = await memoryBroker();
  t.after(() => broker.close());
  await broker.declareQueue('in');
  await broker.declareQueue('out');
  await broker.declareStream('log');
  await broker.publish('', { body: 'input', routingKey: 'in' });
  const [delivery] = await broker.get('in');
  const transaction = await broker.transaction();
  transaction.publish('', { body: 'result', routingKey: 'out' }).appendToStream('log', { body: 'audit' }).ack(delivery!);
  await settle();
  assert.equal(broker.vhost().queue('out').messageCount(), 0, 'the publish waits for commit');
  assert.deepEqual(await streamTexts(broker, 'log'), [], 'the append waits for commit');
  const outcome = await transaction.commit();
  assert.deepEqual(outcome, { unroutable: 0, rejectedBy: [] });
  assert.deepEqual(bodies(await broker.get('out')), ['result']);
  assert.deepEqual(await streamTexts(broker, 'log'), ['audit']);
  await assert.rejects(broker.ack(delivery!), withCode('UNKNOWN_DELIVERY'), 'the input was acked by the commit');
  assert.equal(broker.vhost().queue('in').messageCount(), 0);
});

test('abort discards everything and leaves consumed messages unacked; a timeout aborts', async (t) => {
  const clock = new ManualClock();
  const broker = await memoryBroker(clock);
  t.after(() => broker.close());
  await broker.declareQueue('in');
  await broker.declareQueue('out');
  await broker.publish('', { body: 'input', routingKey: 'in' });
  const [delivery] = await broker.get('in');
  const aborted = await broker.transaction();
  aborted.publish('', { body: 'never', routingKey: 'out' }).ack(delivery!);
  aborted.abort();
  await assert.rejects(aborted.commit(), withCode('TRANSACTION_ABORTED'));
  assert.equal(broker.vhost().queue('out').messageCount(), 0);
  await broker.nack(delivery!, { requeue: true });
  assert.deepEqual(bodies(await broker.get('in')), ['input'], 'the input was not acked');

  const slow = await broker.transaction({ timeoutMs: 1_000 });
  slow.publish('', { body: 'late', routingKey: 'out' });
  clock.advance(1_001);
  await assert.rejects(slow.commit(), withCode('TRANSACTION_ABORTED'));
  assert.throws(() => slow.publish('', { body: 'x', routingKey: 'out' }), withCode('TRANSACTION_ABORTED'));
  assert.equal(broker.vhost().queue('out').messageCount(), 0);
});

test('a commit with an invalid operation applies nothing', async (t) => {
  const broker = await memoryBroker();
  t.after(() => broker.close());
  await broker.declareQueue('out');
  const transaction = await broker.transaction();
  transaction.publish('', { body: 'x', routingKey: 'out' });
  transaction.appendToStream('missing', { body: 'y' });
  await assert.rejects(transaction.commit(), withCode('STREAM_NOT_FOUND'));
  assert.equal(broker.vhost().queue('out').messageCount(), 0);
  const unknownAck = await broker.transaction();
  unknownAck.publish('', { body: 'x', routingKey: 'out' });
  unknownAck.ack({ id: 999, queue: 'out' } as never);
  await assert.rejects(unknownAck.commit(), withCode('UNKNOWN_DELIVERY'));
  assert.equal(broker.vhost().queue('out').messageCount(), 0);
});

test('consumer-group offsets commit with the output, and only for partitions the member owns', async (t) => {
  const broker = await memoryBroker();
  t.after(() => broker.close());
  await broker.declareStream('input', { partitions: 2 });
  await broker.declareStream('output');
  await broker.appendToStream('input', [{ body: 'a' }, { body: 'b' }], { partition: 0 });
  const group = broker.consumerGroup('input', 'transformers');
  group.join('m', { onAssigned: () => undefined, onRevoked: (partitions) => group.revoked('m', partitions) });
  const transaction = await broker.transaction();
  transaction.appendToStream('output', { body: 'A' }).appendToStream('output', { body: 'B' }).commitOffset('input', 'transformers', 'm', 0, 2);
  await transaction.commit();
  assert.equal(group.committed(0), 2);
  assert.deepEqual(await streamTexts(broker, 'output'), ['A', 'B']);
  const stranger = await broker.transaction();
  stranger.commitOffset('input', 'transformers', 'nobody', 0, 1);
  await assert.rejects(stranger.commit(), withCode('UNKNOWN_MEMBER'));
  group.join('m2', { onAssigned: () => undefined, onRevoked: () => undefined });
  assert.deepEqual(group.assignment('m2'), [1]);
  const notOwner = await broker.transaction();
  notOwner.appendToStream('output', { body: 'C' }).commitOffset('input', 'transformers', 'm2', 0, 1);
  await assert.rejects(notOwner.commit(), withCode('NOT_PARTITION_OWNER'));
  assert.equal(group.committed(0), 2);
  assert.deepEqual(await streamTexts(broker, 'output'), ['A', 'B'], 'the refused transaction wrote nothing');
  // Fencing by generation: m read partition 0 at generation `before`; a rebalance since makes its commit stale.
  const before = group.generation();
  group.join('m3', { onAssigned: () => undefined, onRevoked: () => undefined });
  const stale = await broker.transaction();
  stale.appendToStream('output', { body: 'D' }).commitOffset('input', 'transformers', 'm', 0, 2, { generation: before });
  await assert.rejects(stale.commit(), withCode('ILLEGAL_GENERATION'));
  assert.deepEqual(await streamTexts(broker, 'output'), ['A', 'B']);
});

test('a crash at any instant of a commit leaves all of the transaction or none of it', async () => {
  const seen = { applied: 0, notApplied: 0 };
  for (let seed = 1; seed <= 30; seed++) {
    const random = new SeededRandom(seed);
    const fileSystem = new SimulatedFileSystem();
    const before = await simulatedBroker(fileSystem);
    await before.declareQueue('in');
    await before.declareQueue('out-a');
    await before.declareQueue('out-b');
    await before.declareStream('out-s', { partitions: 2 });
    await before.declareExchange('fan', { type: 'fanout' });
    await before.bind('fan', 'out-a');
    await before.bind('fan', 'out-b');
    await before.bind('fan', 'out-s');
    await before.publish('', { body: 'input', routingKey: 'in' });
    const [delivery] = await before.get('in');
    const transaction = await before.transaction();
    transaction.publish('fan', { body: 'fanned' }).appendToStream('out-s', { body: 'direct' }, { partition: 1 }).ack(delivery!);
    const committing = transaction.commit().then(
      () => true,
      () => false,
    );
    // Let the commit run for a random number of turns, then crash (as kill -9, or as a power loss).
    const turns = random.int(40);
    let committed = false;
    void committing.then((value) => (committed = value));
    for (let turn = 0; turn < turns; turn++) await new Promise<void>((resolve) => setImmediate(resolve));
    before.abandon();
    const powerLoss = random.int(2) === 0;
    if (powerLoss) fileSystem.crash(random);
    else fileSystem.crashAfterKill();
    const after = await simulatedBroker(fileSystem);
    try {
      const outA = bodies(await after.get('out-a', { max: 10 }));
      const outB = bodies(await after.get('out-b', { max: 10 }));
      const stream = [...(await after.readStream('out-s', { partition: 0, max: 10 })), ...(await after.readStream('out-s', { partition: 1, max: 10 }))].map((entry) => bodyText(entry.message as never));
      const input = bodies(await after.get('in', { max: 10 }));
      const context = `seed ${seed} (${powerLoss ? 'power loss' : 'kill -9'} after ${turns} turns, commit ${committed ? 'resolved' : 'not resolved'})`;
      const applied = outA.length === 1;
      assert.deepEqual(outA, applied ? ['fanned'] : [], context);
      assert.deepEqual(outB, applied ? ['fanned'] : [], `${context}: out-b disagrees with out-a`);
      assert.deepEqual([...stream].sort(), applied ? ['direct', 'fanned'] : [], `${context}: the stream disagrees`);
      assert.deepEqual(input, applied ? [] : ['input'], `${context}: the ack disagrees with the publishes`);
      if (committed) assert.ok(applied, `${context}: a resolved commit was lost`);
      seen[applied ? 'applied' : 'notApplied']++;
    } finally {
      await after.close();
    }
  }
  assert.ok(seen.applied > 0 && seen.notApplied > 0, `crashes landed on both sides of the commit point: ${JSON.stringify(seen)}`);
});

/**
 * Holds journal writes so the commit stops right after its Nth journal write
 * (1: the intent; 2: the intent and the stamped writes), then kills the
 * process and restarts: recovery must finish the transaction exactly once.
 */
async function crashAfterJournalWrites(writesLetThrough: number): Promise<Broker> {
  const simulated = new SimulatedFileSystem();
  const fileSystem = new HookedFileSystem(simulated);
  const gate = new JournalWriteGate(fileSystem);
  const clock = new ManualClock();
  const before = await Broker.start({ dataDir: 'data', fileSystem, clock, passwordHasher: testPasswordHasher });
  await before.declareQueue('in');
  await before.declareQueue('out');
  await before.declareStream('log');
  await before.publish('', { body: 'input', routingKey: 'in' });
  const [delivery] = await before.get('in');
  await settle(20);
  const transaction = await before.transaction();
  transaction.publish('', { body: 'result', routingKey: 'out' }).appendToStream('log', { body: 'audit' }).ack(delivery!);
  gate.holding = true;
  let resolved = false;
  void transaction.commit().then(
    () => (resolved = true),
    () => undefined,
  );
  for (let released = 0; released < writesLetThrough; released++) {
    await settleUntil(() => gate.heldCount() === 1);
    gate.releaseOne();
  }
  await settleUntil(() => gate.heldCount() === 1);
  // The commit resolves once its writes are durable; the `applied` entry follows without being awaited.
  assert.equal(resolved, writesLetThrough >= 2, `after ${writesLetThrough} journal writes the commit has ${resolved ? '' : 'not '}resolved`);
  before.abandon();
  simulated.crashAfterKill();
  gate.holding = false;
  gate.releaseOne();
  return Broker.start({ dataDir: 'data', fileSystem: simulated, clock: new ManualClock(clock.nowMs()), passwordHasher: testPasswordHasher });
}

for (const [writes, when] of [
  [1, 'only its intent is durable'],
  [2, 'its writes are durable but not marked applied'],
] as const) {
  test(`a transaction killed when ${when} is completed exactly once at restart`, async () => {
    const after = await crashAfterJournalWrites(writes);
    try {
      assert.deepEqual(bodies(await after.get('out', { max: 10 })), ['result']);
      assert.deepEqual(await streamTexts(after, 'log'), ['audit']);
      assert.deepEqual(bodies(await after.get('in', { max: 10 })), [], 'the input ack was completed');
    } finally {
      await after.close();
    }
  });
}

test('a committed message keeps its properties, headers and unsaid persistence in every destination', async (t) => {
  const broker = await simulatedBroker(new SimulatedFileSystem());
  t.after(() => broker.close());
  await broker.declareQueue('out');
  await broker.declareStream('log', { partitions: 2 });
  const message = {
    routingKey: 'out',
    body: new TextEncoder().encode('kept'),
    headers: { trace: 'abc' },
    properties: { contentType: 'text/plain', key: new Uint8Array([1, 2]) },
    persistent: false,
    persistenceImplicit: true,
  };
  const transaction = await broker.vhost().beginTransaction();
  transaction.publish('', message);
  transaction.appendToStream('log', message, 1);
  await transaction.commit();
  const [delivery] = await broker.get('out');
  const [entry] = await broker.readStream('log', { partition: 1 });
  for (const stored of [delivery!.message, entry!.message]) {
    assert.equal(new TextDecoder().decode(stored.body), 'kept');
    assert.deepEqual(stored.headers, { trace: 'abc' });
    assert.equal(stored.properties.contentType, 'text/plain');
    assert.deepEqual([...stored.properties.key!], [1, 2]);
    assert.equal(stored.persistent, false);
    assert.equal(stored.persistenceImplicit, true);
  }
  assert.equal(entry!.message.exchange, '', 'a stream append goes through no exchange');
});
