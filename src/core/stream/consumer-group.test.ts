import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fc from 'fast-check';
import { ManualClock } from '../../platform/clock.js';
import { isFerryError } from '../../lib/ferry-error.js';
import { ConsumerGroup, type MemberLossReason } from './consumer-group.js';

const propertyRuns = { numRuns: Number(process.env['PROPERTY_RUNS'] ?? 200) };

interface CallbackEvent {
  readonly member: string;
  readonly kind: 'assigned' | 'revoked' | 'lost';
  readonly partitions: readonly number[];
  readonly reason?: MemberLossReason;
}

interface SaveCall {
  readonly partition: number;
  readonly offset: number;
  resolve(): void;
  reject(error: unknown): void;
}

interface HarnessOptions {
  readonly partitionCount?: number;
  readonly sessionTimeoutMs?: number;
  readonly revocationTimeoutMsDefault?: number;
  readonly committed?: ReadonlyMap<number, number>;
  readonly membersMax?: number;
  /** When false, saveCommit calls wait until the test settles them. */
  readonly autoSave?: boolean;
}

interface MemberOptions {
  /** Confirm revocations from inside onRevoked (a consumer that stops at once). */
  readonly autoConfirm?: boolean;
  readonly sessionTimeoutMs?: number;
  readonly revocationTimeoutMs?: number;
  /** Runs after the ledger recorded an onAssigned: the member reacting from inside the callback. */
  readonly afterAssigned?: () => void;
}

/**
 * A group over a fake stream, with members whose callbacks keep a ledger of who
 * consumes which partition. A member consumes a partition from its onAssigned until
 * it confirms the revocation, leaves or is told it was lost; the ledger fails the
 * test the moment a partition is handed to a member while another still consumes it.
 */
class Harness {
  readonly clock = new ManualClock();
  partitionCount: number;
  readonly startOffsets: number[] = [];
  readonly endOffsets: number[] = [];
  readonly saves: SaveCall[] = [];
  readonly group: ConsumerGroup;
  readonly ledger = new Map<number, string>();
  readonly events: CallbackEvent[] = [];
  private readonly autoSave: boolean;

  constructor(options: HarnessOptions = {}) {
    this.partitionCount = options.partitionCount ?? 6;
    this.autoSave = options.autoSave ?? true;
    for (let partition = 0; partition < 64; partition++) {
      this.startOffsets.push(0);
      this.endOffsets.push(100);
    }
    this.group = new ConsumerGroup({
      name: 'workers',
      clock: this.clock,
      partitionCount: () => this.partitionCount,
      startOffset: (partition) => this.startOffsets[partition]!,
      endOffset: (partition) => this.endOffsets[partition]!,
      committed: options.committed ?? new Map(),
      saveCommit: (partition, offset) =>
        new Promise<void>((resolve, reject) => {
          this.saves.push({ partition, offset, resolve, reject });
          if (this.autoSave) resolve();
        }),
      sessionTimeoutMsDefault: options.sessionTimeoutMs ?? 10_000,
      ...(options.revocationTimeoutMsDefault === undefined ? {} : { revocationTimeoutMsDefault: options.revocationTimeoutMsDefault }),
      ...(options.membersMax === undefined ? {} : { membersMax: options.membersMax }),
    });
  }

  join(memberId: string, options: MemberOptions = {}): number {
    return this.group.join(memberId, {
      ...(options.sessionTimeoutMs === undefined ? {} : { sessionTimeoutMs: options.sessionTimeoutMs }),
      ...(options.revocationTimeoutMs === undefined ? {} : { revocationTimeoutMs: options.revocationTimeoutMs }),
      onAssigned: (partitions) => {
        assert.ok(partitions.length > 0, 'no empty onAssigned');
        for (const partition of partitions) {
          const consumer = this.ledger.get(partition);
          assert.equal(consumer, undefined, `partition ${partition} assigned to ${memberId} while ${consumer} still consumes it`);
          this.ledger.set(partition, memberId);
        }
        this.events.push({ member: memberId, kind: 'assigned', partitions: [...partitions] });
        options.afterAssigned?.();
      },
      onRevoked: (partitions) => {
        assert.ok(partitions.length > 0, 'no empty onRevoked');
        for (const partition of partitions) assert.equal(this.ledger.get(partition), memberId, `${memberId} is revoked ${partition}, which it consumes`);
        this.events.push({ member: memberId, kind: 'revoked', partitions: [...partitions] });
        if (options.autoConfirm === true) this.confirm(memberId, partitions);
      },
      onLost: (partitions, reason) => {
        assert.deepEqual([...partitions], this.ledgerOf(memberId), `${memberId} loses exactly what it consumed`);
        for (const partition of partitions) this.ledger.delete(partition);
        this.events.push({ member: memberId, kind: 'lost', partitions: [...partitions], reason });
      },
    });
  }

  /** The member stops consuming `partitions` (by default all revoked ones) and tells the group. */
  confirm(memberId: string, partitions: readonly number[] = this.group.pendingRevocations(memberId)): void {
    for (const partition of partitions) if (this.ledger.get(partition) === memberId) this.ledger.delete(partition);
    this.group.revoked(memberId, partitions);
  }

  leave(memberId: string): void {
    for (const partition of this.ledgerOf(memberId)) this.ledger.delete(partition);
    this.group.leave(memberId);
  }

  ledgerOf(memberId: string): number[] {
    return [...this.ledger].filter(([, consumer]) => consumer === memberId).map(([partition]) => partition).sort((x, y) => x - y);
  }

  eventsOf(memberId: string, since = 0): CallbackEvent[] {
    return this.events.slice(since).filter((event) => event.member === memberId);
  }

  /** What the group says each member owns is exactly what the member consumes. */
  checkAgreement(): void {
    const members = this.group.members();
    for (const memberId of members) assert.deepEqual(this.group.assignment(memberId), this.ledgerOf(memberId), `assignment of ${memberId}`);
    for (const consumer of this.ledger.values()) assert.ok(members.includes(consumer), `${consumer} consumes but is not a member`);
  }

  /** With no revocation pending, every partition has one owner and the counts are balanced. */
  checkSettledAndBalanced(): void {
    assert.equal(this.group.rebalancing(), false);
    const members = this.group.members();
    if (members.length === 0) {
      assert.equal(this.ledger.size, 0);
      return;
    }
    assert.equal(this.ledger.size, this.partitionCount, 'every partition is consumed');
    const counts = members.map((memberId) => this.ledgerOf(memberId).length);
    assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `balanced: ${counts.join(',')}`);
  }
}

function throwsCode(code: string): (error: unknown) => boolean {
  return (error) => {
    assert.ok(isFerryError(error, code), `expected ${code}, got ${String(error)}`);
    return true;
  };
}

describe('ConsumerGroup membership and cooperative rebalancing', () => {
  test('the first member gets every partition in one onAssigned, and the generation counts rebalances', () => {
    const harness = new Harness({ partitionCount: 4 });
    assert.equal(harness.group.generation(), 0);
    assert.equal(harness.join('a'), 1);
    assert.deepEqual(harness.events, [{ member: 'a', kind: 'assigned', partitions: [0, 1, 2, 3] }]);
    assert.deepEqual(harness.group.assignment('a'), [0, 1, 2, 3]);
    assert.deepEqual(harness.group.members(), ['a']);
    assert.equal(harness.group.rebalancing(), false);
  });

  test('a joining member gets moved partitions only after their owner confirms the revocation', () => {
    const harness = new Harness({ partitionCount: 4 });
    harness.join('a');
    harness.join('b');
    assert.deepEqual(harness.eventsOf('a', 1), [{ member: 'a', kind: 'revoked', partitions: [2, 3] }]);
    assert.deepEqual(harness.eventsOf('b'), [], 'b waits');
    assert.equal(harness.group.rebalancing(), true);
    assert.deepEqual(harness.group.assignment('a'), [0, 1, 2, 3], 'a still owns what it has not released');
    assert.deepEqual(harness.group.pendingRevocations('a'), [2, 3]);
    assert.deepEqual(harness.group.assignment('b'), []);

    harness.confirm('a', [3]);
    assert.deepEqual(harness.eventsOf('b'), [{ member: 'b', kind: 'assigned', partitions: [3] }], 'each confirmed partition moves at once');
    harness.confirm('a', [2]);
    assert.deepEqual(harness.eventsOf('b').at(-1), { member: 'b', kind: 'assigned', partitions: [2] });
    assert.deepEqual(harness.group.assignment('a'), [0, 1]);
    assert.deepEqual(harness.group.assignment('b'), [2, 3]);
    assert.equal(harness.group.generation(), 2, 'confirmations complete a rebalance, they do not start one');
    harness.checkAgreement();
    harness.checkSettledAndBalanced();
  });

  test('members whose partitions do not change get no callbacks', () => {
    const harness = new Harness({ partitionCount: 4 });
    harness.join('a', { autoConfirm: true });
    harness.join('b', { autoConfirm: true });
    // 4 partitions over 3 members: a keeps its two, b gives one to c.
    let mark = harness.events.length;
    harness.join('c', { autoConfirm: true });
    assert.deepEqual(harness.eventsOf('a', mark), []);
    assert.deepEqual(harness.eventsOf('b', mark), [{ member: 'b', kind: 'revoked', partitions: [3] }]);
    assert.deepEqual(harness.eventsOf('c', mark), [{ member: 'c', kind: 'assigned', partitions: [3] }]);

    // A fifth member over four partitions gets nothing, and nobody hears of it.
    harness.join('d', { autoConfirm: true });
    mark = harness.events.length;
    harness.join('e', { autoConfirm: true });
    assert.deepEqual(harness.events.slice(mark), []);

    // When c leaves, its partition goes to the idle member; the others hear nothing.
    assert.deepEqual(harness.group.assignment('e'), []);
    mark = harness.events.length;
    harness.leave('c');
    assert.deepEqual(harness.events.slice(mark), [{ member: 'e', kind: 'assigned', partitions: [3] }]);
    harness.checkAgreement();
    harness.checkSettledAndBalanced();
  });

  test('a revocation confirmed from inside onRevoked hands the partition over within the same call, revoke first', () => {
    const harness = new Harness({ partitionCount: 2 });
    harness.join('a', { autoConfirm: true });
    const mark = harness.events.length;
    harness.join('b');
    assert.deepEqual(harness.events.slice(mark), [
      { member: 'a', kind: 'revoked', partitions: [1] },
      { member: 'b', kind: 'assigned', partitions: [1] },
    ]);
    assert.equal(harness.group.rebalancing(), false);
  });

  test('a member that leaves from inside another member\'s callback gets none of the callbacks already queued for it', () => {
    const harness = new Harness({ partitionCount: 6 });
    let reacting = false;
    harness.join('a', { autoConfirm: true });
    harness.join('c', {
      autoConfirm: true,
      afterAssigned: () => {
        if (!reacting) return;
        reacting = false;
        harness.leave('d');
      },
    });
    harness.join('d', { autoConfirm: true });
    reacting = true;
    const mark = harness.events.length;
    // a's two partitions go to c and d in one rebalance; c's callback makes d leave before d hears of its share.
    harness.leave('a');
    assert.deepEqual(harness.eventsOf('d', mark), []);
    assert.deepEqual(harness.group.members(), ['c']);
    assert.deepEqual(harness.group.assignment('c'), [0, 1, 2, 3, 4, 5]);
    harness.checkAgreement();
    harness.checkSettledAndBalanced();
  });

  test('a leaving member frees its partitions at once, including those whose revocation was pending', () => {
    const harness = new Harness({ partitionCount: 4 });
    harness.join('a');
    harness.join('b');
    assert.deepEqual(harness.group.pendingRevocations('a'), [2, 3]);
    const mark = harness.events.length;
    harness.leave('a');
    assert.deepEqual(harness.eventsOf('b'), [{ member: 'b', kind: 'assigned', partitions: [0, 1, 2, 3] }]);
    assert.deepEqual(harness.eventsOf('a', mark), [], 'no callback to the leaver');
    assert.throws(() => harness.group.assignment('a'), throwsCode('UNKNOWN_MEMBER'));
    harness.checkSettledAndBalanced();
  });

  test('a partition retargeted to the member it is being revoked from returns to it once the revocation is confirmed', () => {
    const harness = new Harness({ partitionCount: 4 });
    harness.join('a', { autoConfirm: true });
    harness.join('b');
    harness.confirm('a');
    assert.deepEqual(harness.group.assignment('b'), [2, 3]);
    harness.join('c'); // b gives 3 to c
    assert.deepEqual(harness.group.pendingRevocations('b'), [3]);
    harness.leave('c'); // the target gives 3 back to b, but b was told to stop
    assert.deepEqual(harness.group.pendingRevocations('b'), [3], 'a revocation, once announced, completes');
    const mark = harness.events.length;
    harness.confirm('b');
    assert.deepEqual(harness.events.slice(mark), [{ member: 'b', kind: 'assigned', partitions: [3] }]);
    harness.checkAgreement();
    harness.checkSettledAndBalanced();
  });

  test('confirming twice is harmless; confirming a partition that was not revoked is refused and releases nothing', () => {
    const harness = new Harness({ partitionCount: 4 });
    harness.join('a');
    harness.join('b');
    harness.confirm('a', [2, 3]);
    harness.group.revoked('a', [2, 3]);
    harness.group.revoked('a', [17, 1.5]);
    assert.throws(() => harness.group.revoked('a', [0]), throwsCode('REVOCATION_NOT_PENDING'));
    // 4 partitions over 3 members: a and b owned two each, a keeps both (first in id order), b gives 3 to c.
    harness.join('c');
    assert.deepEqual(harness.group.pendingRevocations('b'), [3]);
    assert.throws(() => harness.group.revoked('b', [3, 2]), throwsCode('REVOCATION_NOT_PENDING'));
    assert.deepEqual(harness.group.pendingRevocations('b'), [3], 'the refused call released nothing');
    assert.deepEqual(harness.eventsOf('c'), []);
    harness.checkAgreement();
  });

  test('join refuses a taken id, an empty id, a bad session timeout and members over the limit', () => {
    const harness = new Harness({ membersMax: 2 });
    harness.join('a');
    assert.throws(() => harness.join('a'), throwsCode('MEMBER_EXISTS'));
    assert.throws(() => harness.join(''), throwsCode('INVALID_ARGUMENT'));
    assert.throws(() => harness.join('b', { sessionTimeoutMs: 0 }), throwsCode('INVALID_ARGUMENT'));
    assert.throws(() => harness.join('b', { sessionTimeoutMs: 1.5 }), throwsCode('INVALID_ARGUMENT'));
    harness.join('b');
    assert.throws(() => harness.join('c'), throwsCode('MEMBER_LIMIT_REACHED'));
    assert.deepEqual(harness.group.members(), ['a', 'b']);
    assert.equal(harness.group.generation(), 2, 'refused joins do not rebalance');
  });

  test('operations on unknown members are UNKNOWN_MEMBER', async () => {
    const harness = new Harness();
    assert.throws(() => harness.group.leave('ghost'), throwsCode('UNKNOWN_MEMBER'));
    assert.throws(() => harness.group.heartbeat('ghost'), throwsCode('UNKNOWN_MEMBER'));
    assert.throws(() => harness.group.revoked('ghost', [0]), throwsCode('UNKNOWN_MEMBER'));
    assert.throws(() => harness.group.assignment('ghost'), throwsCode('UNKNOWN_MEMBER'));
    assert.throws(() => harness.group.lag('ghost'), throwsCode('UNKNOWN_MEMBER'));
    await assert.rejects(harness.group.commit('ghost', 0, 1), throwsCode('UNKNOWN_MEMBER'));
  });

  test('the stream growing partitions gives the new ones out without moving the old', () => {
    const harness = new Harness({ partitionCount: 4 });
    harness.join('a', { autoConfirm: true });
    harness.join('b', { autoConfirm: true });
    const generation = harness.group.generation();
    harness.group.partitionsChanged();
    assert.equal(harness.group.generation(), generation, 'no change, no rebalance');
    harness.partitionCount = 6;
    const mark = harness.events.length;
    harness.group.partitionsChanged();
    assert.equal(harness.group.generation(), generation + 1);
    assert.deepEqual(harness.events.slice(mark), [
      { member: 'a', kind: 'assigned', partitions: [4] },
      { member: 'b', kind: 'assigned', partitions: [5] },
    ]);
    harness.checkSettledAndBalanced();
  });

  test('a callback that throws does not stop the others, and its error reaches the caller', () => {
    const harness = new Harness({ partitionCount: 3 });
    harness.group.join('thrower', {
      onAssigned: () => {},
      onRevoked: () => {
        throw new Error('consumer bug');
      },
    });
    harness.partitionCount = 4;
    // thrower keeps 0 and 1, is revoked 2 (and throws); u gets the new partition 3 in the same call.
    assert.throws(() => harness.join('u'), /consumer bug/u);
    assert.deepEqual(harness.eventsOf('u'), [{ member: 'u', kind: 'assigned', partitions: [3] }]);
    assert.deepEqual(harness.group.members(), ['thrower', 'u'], 'the join itself happened');
    assert.deepEqual(harness.group.pendingRevocations('thrower'), [2]);
  });
});

describe('ConsumerGroup sessions and timeouts', () => {
  test('a member silent for its session timeout is removed, told so, and its partitions move', () => {
    const harness = new Harness({ partitionCount: 4, sessionTimeoutMs: 10_000 });
    harness.join('a');
    harness.join('b', { sessionTimeoutMs: 30_000 });
    harness.confirm('a');
    const generation = harness.group.generation();
    harness.clock.advance(9_999);
    harness.group.heartbeat('b');
    assert.deepEqual(harness.group.members(), ['a', 'b']);
    harness.clock.advance(1);
    assert.deepEqual(harness.group.members(), ['b']);
    assert.deepEqual(harness.eventsOf('a').at(-1), { member: 'a', kind: 'lost', partitions: [0, 1], reason: 'session-expired' });
    assert.deepEqual(harness.eventsOf('b').at(-1), { member: 'b', kind: 'assigned', partitions: [0, 1] });
    assert.equal(harness.group.generation(), generation + 1);
    assert.throws(() => harness.group.heartbeat('a'), throwsCode('UNKNOWN_MEMBER'));
    harness.checkSettledAndBalanced();
  });

  test('heartbeats keep a member alive indefinitely; the timeout counts from the last one', () => {
    const harness = new Harness({ sessionTimeoutMs: 1_000 });
    harness.join('a');
    for (let step = 0; step < 50; step++) {
      harness.clock.advance(999);
      harness.group.heartbeat('a');
    }
    assert.deepEqual(harness.group.members(), ['a']);
    harness.clock.advance(999);
    assert.deepEqual(harness.group.members(), ['a']);
    harness.clock.advance(1);
    assert.deepEqual(harness.group.members(), []);
    assert.equal(harness.clock.pendingTimerCount(), 0, 'no timer left behind');
  });

  test('an expired member with a pending revocation releases it to the waiting member', () => {
    const harness = new Harness({ partitionCount: 4, sessionTimeoutMs: 5_000 });
    harness.join('a');
    harness.clock.advance(4_000);
    harness.join('b', { sessionTimeoutMs: 60_000 });
    assert.deepEqual(harness.eventsOf('b'), []);
    harness.clock.advance(1_000);
    assert.deepEqual(harness.eventsOf('a').at(-1), { member: 'a', kind: 'lost', partitions: [0, 1, 2, 3], reason: 'session-expired' });
    assert.deepEqual(harness.eventsOf('b'), [{ member: 'b', kind: 'assigned', partitions: [0, 1, 2, 3] }]);
  });

  test('a member that does not confirm a revocation in time is removed even though it heartbeats', () => {
    const harness = new Harness({ partitionCount: 4, sessionTimeoutMs: 10_000, revocationTimeoutMsDefault: 3_000 });
    harness.join('a');
    harness.join('b');
    harness.clock.advance(2_000);
    harness.group.heartbeat('a');
    harness.group.heartbeat('b');
    harness.clock.advance(999);
    assert.deepEqual(harness.group.members(), ['a', 'b']);
    harness.clock.advance(1);
    assert.deepEqual(harness.group.members(), ['b']);
    assert.deepEqual(harness.eventsOf('a').at(-1), { member: 'a', kind: 'lost', partitions: [0, 1, 2, 3], reason: 'revocation-timeout' });
    assert.deepEqual(harness.eventsOf('b'), [{ member: 'b', kind: 'assigned', partitions: [0, 1, 2, 3] }]);
  });

  test('a revocation confirmed in time stops the revocation timer', () => {
    const harness = new Harness({ partitionCount: 4, sessionTimeoutMs: 10_000, revocationTimeoutMsDefault: 3_000 });
    harness.join('a');
    harness.join('b');
    harness.clock.advance(2_000);
    harness.confirm('a');
    harness.clock.advance(5_000);
    harness.group.heartbeat('a');
    harness.group.heartbeat('b');
    assert.deepEqual(harness.group.members(), ['a', 'b']);
  });

  test('close cancels every timer and refuses member operations; accepted commits still complete', async () => {
    const harness = new Harness({ partitionCount: 2, autoSave: false });
    harness.join('a');
    harness.join('b');
    assert.ok(harness.clock.pendingTimerCount() > 0);
    const commit = harness.group.commit('a', 0, 10);
    harness.group.close();
    harness.group.close();
    assert.equal(harness.clock.pendingTimerCount(), 0);
    harness.clock.advance(1_000_000);
    assert.deepEqual(harness.group.members(), ['a', 'b'], 'nobody expires after close');
    assert.throws(() => harness.join('c'), throwsCode('CONSUMER_GROUP_CLOSED'));
    assert.throws(() => harness.group.heartbeat('a'), throwsCode('CONSUMER_GROUP_CLOSED'));
    assert.throws(() => harness.group.leave('a'), throwsCode('CONSUMER_GROUP_CLOSED'));
    await assert.rejects(harness.group.commit('a', 0, 11), throwsCode('CONSUMER_GROUP_CLOSED'));
    harness.saves[0]!.resolve();
    await commit;
    assert.equal(harness.group.committed(0), 10);
  });
});

describe('ConsumerGroup commits', () => {
  test('the owner commits; the offset is visible once saveCommit resolved', async () => {
    const harness = new Harness({ partitionCount: 2, autoSave: false, committed: new Map([[1, 7]]) });
    harness.join('a');
    assert.equal(harness.group.committed(1), 7, 'offsets loaded from storage');
    assert.equal(harness.group.committed(0), undefined);
    let resolved = false;
    const commit = harness.group.commit('a', 0, 42).then(() => (resolved = true));
    await Promise.resolve();
    assert.deepEqual(harness.saves.map(({ partition, offset }) => [partition, offset]), [[0, 42]]);
    assert.equal(harness.group.committed(0), undefined, 'not durable yet');
    assert.equal(resolved, false);
    harness.saves[0]!.resolve();
    await commit;
    assert.equal(harness.group.committed(0), 42);
  });

  test('only the owner may commit, including while its revocation is pending, and not after releasing', async () => {
    const harness = new Harness({ partitionCount: 2 });
    harness.join('a');
    harness.join('b');
    await assert.rejects(harness.group.commit('b', 1, 5), throwsCode('NOT_PARTITION_OWNER'), 'b waits for a to release 1');
    await harness.group.commit('a', 1, 5);
    harness.confirm('a');
    await assert.rejects(harness.group.commit('a', 1, 6), throwsCode('NOT_PARTITION_OWNER'));
    await harness.group.commit('b', 1, 6);
    assert.equal(harness.group.committed(1), 6);
  });

  test('offsets must lie within [start, end] of the partition; partitions must exist', async () => {
    const harness = new Harness({ partitionCount: 2 });
    harness.startOffsets[0] = 10;
    harness.endOffsets[0] = 20;
    harness.join('a');
    await assert.rejects(harness.group.commit('a', 0, 9), throwsCode('OFFSET_OUT_OF_RANGE'));
    await assert.rejects(harness.group.commit('a', 0, 21), throwsCode('OFFSET_OUT_OF_RANGE'));
    await assert.rejects(harness.group.commit('a', 0, 12.5), throwsCode('INVALID_ARGUMENT'));
    await assert.rejects(harness.group.commit('a', 2, 0), throwsCode('PARTITION_NOT_FOUND'));
    await assert.rejects(harness.group.commit('a', -1, 0), throwsCode('PARTITION_NOT_FOUND'));
    await harness.group.commit('a', 0, 10);
    await harness.group.commit('a', 0, 20);
    assert.equal(harness.group.committed(0), 20, 'the end offset itself means caught up');
    assert.equal(harness.saves.length, 2, 'refused commits write nothing');
  });

  test('explicit commits may rewind; automatic commits only move forward', async () => {
    const harness = new Harness({ partitionCount: 1 });
    harness.join('a');
    await harness.group.commit('a', 0, 50);
    await harness.group.commit('a', 0, 30);
    assert.equal(harness.group.committed(0), 30, 'an explicit rewind is kept');
    await harness.group.commit('a', 0, 20, { automatic: true });
    await harness.group.commit('a', 0, 30, { automatic: true });
    assert.equal(harness.group.committed(0), 30);
    assert.equal(harness.saves.length, 2, 'skipped automatic commits write nothing');
    await harness.group.commit('a', 0, 31, { automatic: true });
    assert.equal(harness.group.committed(0), 31);
    await harness.group.commit('a', 0, 0, { automatic: true });
    assert.equal(harness.group.committed(0), 31);
  });

  test('an automatic commit behind a newer commit still being written is skipped', async () => {
    const harness = new Harness({ partitionCount: 1, autoSave: false });
    harness.join('a');
    const explicit = harness.group.commit('a', 0, 60);
    await harness.group.commit('a', 0, 40, { automatic: true });
    assert.deepEqual(harness.saves.map(({ offset }) => offset), [60]);
    harness.saves[0]!.resolve();
    await explicit;
    assert.equal(harness.group.committed(0), 60);
  });

  test('commits to one partition reach storage in order, merged while a write is in progress', async () => {
    const harness = new Harness({ partitionCount: 2, autoSave: false });
    harness.join('a');
    const first = harness.group.commit('a', 0, 10);
    const second = harness.group.commit('a', 0, 11);
    const third = harness.group.commit('a', 0, 12);
    const other = harness.group.commit('a', 1, 5);
    await Promise.resolve();
    assert.deepEqual(harness.saves.map(({ partition, offset }) => [partition, offset]), [[0, 10], [1, 5]], 'one write per partition at a time');
    harness.saves[0]!.resolve();
    await first;
    assert.equal(harness.group.committed(0), 10);
    assert.deepEqual(harness.saves.map(({ partition, offset }) => [partition, offset]).at(-1), [0, 12], 'only the newest waiting commit is written');
    harness.saves.at(-1)!.resolve();
    await Promise.all([second, third]);
    assert.equal(harness.group.committed(0), 12);
    harness.saves[1]!.resolve();
    await other;
    assert.equal(harness.saves.length, 3);
  });

  test('a failed write rejects its commits and keeps the previous offset; the next commit writes again', async () => {
    const harness = new Harness({ partitionCount: 1, autoSave: false, committed: new Map([[0, 3]]) });
    harness.join('a');
    const failing = harness.group.commit('a', 0, 10);
    const waiting = harness.group.commit('a', 0, 11);
    await Promise.resolve();
    harness.saves[0]!.reject(new Error('disk gone'));
    await assert.rejects(failing, /disk gone/u);
    assert.equal(harness.group.committed(0), 3);
    assert.equal(harness.saves.length, 2, 'the waiting commit is written next');
    harness.saves[1]!.resolve();
    await waiting;
    assert.equal(harness.group.committed(0), 11);
  });
});

describe('ConsumerGroup lag', () => {
  test('lag counts from the committed offset, or the start offset, to the end of each owned partition', async () => {
    const harness = new Harness({ partitionCount: 3, committed: new Map([[2, 90]]) });
    harness.startOffsets[0] = 0;
    harness.endOffsets[0] = 100;
    harness.startOffsets[1] = 40;
    harness.endOffsets[1] = 50;
    harness.startOffsets[2] = 0;
    harness.endOffsets[2] = 100;
    harness.join('a', { autoConfirm: true });
    await harness.group.commit('a', 0, 75);
    assert.deepEqual([...harness.group.lag('a')], [
      [0, 25],
      [1, 10],
      [2, 10],
    ]);
    harness.join('b', { autoConfirm: true });
    assert.deepEqual([...harness.group.lag('a')], [
      [0, 25],
      [1, 10],
    ]);
    assert.deepEqual([...harness.group.lag('b')], [[2, 10]]);
    assert.equal(harness.group.totalLag(), 45);
  });

  test('a committed offset that retention has passed counts from the start offset', () => {
    const harness = new Harness({ partitionCount: 1, committed: new Map([[0, 5]]) });
    harness.startOffsets[0] = 60;
    harness.endOffsets[0] = 100;
    harness.join('a');
    assert.deepEqual([...harness.group.lag('a')], [[0, 40]]);
  });

  test('total lag includes partitions nobody owns', () => {
    const harness = new Harness({ partitionCount: 2, committed: new Map([[0, 100]]) });
    assert.equal(harness.group.totalLag(), 100);
  });
});

type Action =
  | { readonly kind: 'join'; readonly member: string; readonly autoConfirm: boolean; readonly sessionTimeoutMs: number }
  | { readonly kind: 'leave' | 'confirm' | 'heartbeat'; readonly member: string }
  | { readonly kind: 'advance'; readonly ms: number }
  | { readonly kind: 'grow' };

const memberPool = ['m1', 'm2', 'm3', 'm4', 'm5', 'm6'];
const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('join' as const), member: fc.constantFrom(...memberPool), autoConfirm: fc.boolean(), sessionTimeoutMs: fc.constantFrom(5_000, 20_000) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('leave' as const), member: fc.constantFrom(...memberPool) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('confirm' as const), member: fc.constantFrom(...memberPool) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('heartbeat' as const), member: fc.constantFrom(...memberPool) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 6_000 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'grow' as const }) },
);

describe('ConsumerGroup under random join, leave, confirm and time sequences', () => {
  test('no partition is ever consumed by two members, and the group settles balanced', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 12 }), fc.array(action, { maxLength: 60 }), (partitionCount, actions) => {
        const harness = new Harness({ partitionCount, sessionTimeoutMs: 10_000, revocationTimeoutMsDefault: 8_000 });
        for (const step of actions) {
          const present = harness.group.members();
          switch (step.kind) {
            case 'join':
              if (present.includes(step.member)) assert.throws(() => harness.join(step.member), throwsCode('MEMBER_EXISTS'));
              else harness.join(step.member, { autoConfirm: step.autoConfirm, sessionTimeoutMs: step.sessionTimeoutMs });
              break;
            case 'leave':
              if (present.includes(step.member)) harness.leave(step.member);
              else assert.throws(() => harness.leave(step.member), throwsCode('UNKNOWN_MEMBER'));
              break;
            case 'confirm':
              if (present.includes(step.member)) harness.confirm(step.member);
              break;
            case 'heartbeat':
              if (present.includes(step.member)) harness.group.heartbeat(step.member);
              break;
            case 'advance':
              harness.clock.advance(step.ms);
              break;
            case 'grow':
              harness.partitionCount = Math.min(harness.partitionCount + 1, 16);
              harness.group.partitionsChanged();
              break;
          }
          harness.checkAgreement();
        }
        // Every slow member finally confirms; then ownership is complete and balanced.
        for (const memberId of harness.group.members()) harness.confirm(memberId);
        harness.checkAgreement();
        harness.checkSettledAndBalanced();
        harness.group.close();
        assert.equal(harness.clock.pendingTimerCount(), 0);
      }),
      propertyRuns,
    );
  });

  test('with prompt members, a member whose partitions end up unchanged hears nothing', () => {
    const change = fc.oneof(
      fc.record({ kind: fc.constant('join' as const), member: fc.constantFrom(...memberPool) }),
      fc.record({ kind: fc.constant('leave' as const), member: fc.constantFrom(...memberPool) }),
      fc.constant({ kind: 'grow' as const }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 12 }), fc.array(change, { maxLength: 30 }), (partitionCount, changes) => {
        const harness = new Harness({ partitionCount });
        for (const step of changes) {
          const before = new Map(harness.group.members().map((memberId) => [memberId, harness.group.assignment(memberId)]));
          const mark = harness.events.length;
          if (step.kind === 'join' && !before.has(step.member)) harness.join(step.member, { autoConfirm: true });
          else if (step.kind === 'leave' && before.has(step.member)) harness.leave(step.member);
          else if (step.kind === 'grow') {
            harness.partitionCount = Math.min(harness.partitionCount + 1, 16);
            harness.group.partitionsChanged();
          } else continue;
          harness.checkSettledAndBalanced();
          for (const memberId of harness.group.members()) {
            const unchanged = JSON.stringify(before.get(memberId) ?? []) === JSON.stringify(harness.group.assignment(memberId));
            if (unchanged) assert.deepEqual(harness.eventsOf(memberId, mark), [], `${memberId} kept its partitions and heard nothing`);
          }
        }
      }),
      propertyRuns,
    );
  });
});
