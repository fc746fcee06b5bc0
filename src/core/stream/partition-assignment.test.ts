import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fc from 'fast-check';
import { assignPartitions } from './partition-assignment.js';

const propertyRuns = { numRuns: Number(process.env['PROPERTY_RUNS'] ?? 500) };

/** Checks that every partition has exactly one owner among `members`, and that the counts are balanced. */
function checkBalancedOwnership(assignment: Map<string, number[]>, partitionCount: number, members: readonly string[]): void {
  if (members.length === 0) {
    assert.equal(assignment.size, 0, 'no members, no assignment');
    return;
  }
  assert.deepEqual([...assignment.keys()].sort(), [...members].sort(), 'every member, and only members, appear');
  const owners = new Array<number>(partitionCount).fill(0);
  for (const partitions of assignment.values()) {
    for (const partition of partitions) {
      assert.ok(Number.isInteger(partition) && partition >= 0 && partition < partitionCount, `partition ${partition} is in range`);
      owners[partition]!++;
    }
  }
  owners.forEach((count, partition) => assert.equal(count, 1, `partition ${partition} has exactly one owner`));
  const low = Math.floor(partitionCount / members.length);
  const high = Math.ceil(partitionCount / members.length);
  for (const [member, partitions] of assignment) {
    assert.ok(partitions.length === low || partitions.length === high, `${member} owns ${partitions.length}, not ${low} or ${high}`);
  }
}

/** The owner of each partition, or undefined; for a well-formed previous assignment. */
function ownerOf(assignment: ReadonlyMap<string, readonly number[]>, partitionCount: number): Array<string | undefined> {
  const owners = new Array<string | undefined>(partitionCount).fill(undefined);
  for (const [member, partitions] of assignment) for (const partition of partitions) owners[partition] = member;
  return owners;
}

/**
 * The fewest partitions any balanced assignment must move, given who owned what before (each
 * partition at most one previous owner, possibly a departed member or nobody).
 *
 * Balance forces exactly `remainder = P mod M` members to own `base + 1` partitions and the rest
 * `base = floor(P / M)`. A member keeps at most min(previous, quota) of its partitions, so the
 * partitions kept are at most Σ min(previous, base) plus one for each member granted `base + 1`
 * that owned more than `base`, which is at most min(remainder, #members owning more than base).
 * Every partition not kept moves (including those of departed members and unowned ones).
 */
function minimumMoves(partitionCount: number, members: readonly string[], previousOwners: ReadonlyArray<string | undefined>): number {
  // With no members every partition ends up ownerless, so each one that had an owner changes.
  if (members.length === 0) return previousOwners.filter((owner) => owner !== undefined).length;
  const base = Math.floor(partitionCount / members.length);
  const remainder = partitionCount % members.length;
  let keptAtBase = 0;
  let aboveBase = 0;
  for (const member of members) {
    const owned = previousOwners.filter((owner) => owner === member).length;
    keptAtBase += Math.min(owned, base);
    if (owned > base) aboveBase++;
  }
  return partitionCount - keptAtBase - Math.min(remainder, aboveBase);
}

function movedCount(previousOwners: ReadonlyArray<string | undefined>, assignment: Map<string, number[]>): number {
  const next = ownerOf(assignment, previousOwners.length);
  return next.filter((owner, partition) => owner !== previousOwners[partition]).length;
}

function shuffled<T>(items: readonly T[], seed: number): T[] {
  const copy = [...items];
  let state = seed >>> 0 || 1;
  for (let index = copy.length - 1; index > 0; index--) {
    state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
    const other = state % (index + 1);
    [copy[index], copy[other]] = [copy[other]!, copy[index]!];
  }
  return copy;
}

const memberIds = fc.uniqueArray(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'member-10', 'member-2'), { maxLength: 8 });

/** A well-formed previous state: each partition owned by a present member, a departed one, or nobody. */
const cleanScenario = fc
  .record({
    partitionCount: fc.integer({ min: 0, max: 40 }),
    previousPartitionCount: fc.integer({ min: 0, max: 40 }),
    members: memberIds,
    departed: fc.uniqueArray(fc.constantFrom('gone-1', 'gone-2', 'gone-3'), { maxLength: 3 }),
    ownerChoices: fc.array(fc.nat(), { minLength: 40, maxLength: 40 }),
  })
  .map(({ partitionCount, previousPartitionCount, members, departed, ownerChoices }) => {
    // Owners are drawn from present, departed and "nobody"; the previous state may have had more or fewer partitions.
    const candidates: Array<string | undefined> = [...members, ...departed, undefined];
    const previous = new Map<string, number[]>();
    for (let partition = 0; partition < previousPartitionCount; partition++) {
      const owner = candidates[ownerChoices[partition]! % candidates.length];
      if (owner === undefined) continue;
      previous.set(owner, [...(previous.get(owner) ?? []), partition]);
    }
    return { partitionCount, members, previous };
  });

/** Any previous state at all: duplicates, negative, fractional and out-of-range partitions, unknown members. */
const messyScenario = fc.record({
  partitionCount: fc.integer({ min: 0, max: 30 }),
  members: memberIds,
  previous: fc
    .array(
      fc.tuple(
        fc.constantFrom('a', 'b', 'c', 'd', 'gone'),
        fc.array(fc.oneof(fc.integer({ min: -3, max: 35 }), fc.constant(1.5), fc.constant(Number.NaN)), { maxLength: 12 }),
      ),
      { maxLength: 5 },
    )
    .map((entries) => new Map(entries)),
});

describe('assignPartitions', () => {
  test('every partition has exactly one owner and counts are balanced, whatever the previous state', () => {
    fc.assert(
      fc.property(messyScenario, ({ partitionCount, members, previous }) => {
        checkBalancedOwnership(assignPartitions(partitionCount, members, previous), partitionCount, members);
      }),
      propertyRuns,
    );
  });

  test('the result depends only on its inputs, not on the order of members, of previous or of its lists', () => {
    fc.assert(
      fc.property(messyScenario, fc.nat(), ({ partitionCount, members, previous }, seed) => {
        const first = assignPartitions(partitionCount, members, previous);
        const again = assignPartitions(partitionCount, members, previous);
        const reordered = new Map(shuffled([...previous], seed).map(([member, partitions]) => [member, shuffled(partitions, seed + 1)]));
        const permuted = assignPartitions(partitionCount, shuffled(members, seed + 2), reordered);
        assert.deepEqual([...again], [...first]);
        assert.deepEqual([...permuted], [...first]);
        assert.deepEqual([...first.keys()], [...members].sort(), 'members come in id order');
        for (const partitions of first.values()) assert.deepEqual(partitions, [...partitions].sort((x, y) => x - y));
      }),
      propertyRuns,
    );
  });

  test('the number of partitions that change owner is the least any balanced assignment can achieve', () => {
    fc.assert(
      fc.property(cleanScenario, ({ partitionCount, members, previous }) => {
        const next = assignPartitions(partitionCount, members, previous);
        checkBalancedOwnership(next, partitionCount, members);
        const previousOwners = ownerOf(
          new Map([...previous].map(([member, partitions]) => [member, partitions.filter((partition) => partition < partitionCount)])),
          partitionCount,
        );
        assert.equal(movedCount(previousOwners, next), minimumMoves(partitionCount, members, previousOwners));
      }),
      propertyRuns,
    );
  });

  test('a balanced assignment is a fixed point: feeding the result back in moves nothing', () => {
    fc.assert(
      fc.property(messyScenario, ({ partitionCount, members, previous }) => {
        const first = assignPartitions(partitionCount, members, previous);
        assert.deepEqual([...assignPartitions(partitionCount, members, first)], [...first]);
      }),
      propertyRuns,
    );
  });

  test('the minimum-move bound is tight: brute force over every balanced assignment of small groups agrees', () => {
    // Checks the formula the property above relies on, by enumerating all owner vectors.
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 6 }),
        fc.integer({ min: 1, max: 3 }),
        fc.array(fc.integer({ min: -1, max: 3 }), { minLength: 6, maxLength: 6 }),
        (partitionCount, memberCount, ownerIndexes) => {
          const members = ['a', 'b', 'c'].slice(0, memberCount);
          // Index 3 is a departed member, -1 nobody; 'b' and 'c' are departed too when the group is smaller.
          const previousOwners = ownerIndexes.slice(0, partitionCount).map((index) => (index < 0 ? undefined : ['a', 'b', 'c', 'gone'][index]));
          let best = Infinity;
          const vector = new Array<number>(partitionCount).fill(0);
          const visit = (position: number): void => {
            if (position === partitionCount) {
              const counts = members.map((_, member) => vector.filter((owner) => owner === member).length);
              if (Math.max(...counts) - Math.min(...counts) > 1) return;
              best = Math.min(best, vector.filter((owner, partition) => members[owner] !== previousOwners[partition]).length);
              return;
            }
            for (let member = 0; member < memberCount; member++) {
              vector[position] = member;
              visit(position + 1);
            }
          };
          visit(0);
          assert.equal(minimumMoves(partitionCount, members, previousOwners), best);
        },
      ),
      { numRuns: 200 },
    );
  });

  test('no members means no assignment; no partitions means every member owns nothing', () => {
    assert.deepEqual([...assignPartitions(5, [], new Map([['a', [0, 1]]]))], []);
    assert.deepEqual([...assignPartitions(0, ['b', 'a'], new Map([['a', [0, 1]]]))], [
      ['a', []],
      ['b', []],
    ]);
  });

  test('a first member takes everything, a second takes the upper half, a third takes one from each', () => {
    const first = assignPartitions(6, ['a'], new Map());
    assert.deepEqual([...first], [['a', [0, 1, 2, 3, 4, 5]]]);
    const second = assignPartitions(6, ['a', 'b'], first);
    assert.deepEqual([...second], [
      ['a', [0, 1, 2]],
      ['b', [3, 4, 5]],
    ]);
    const third = assignPartitions(6, ['a', 'b', 'c'], second);
    assert.deepEqual([...third], [
      ['a', [0, 1]],
      ['b', [3, 4]],
      ['c', [2, 5]],
    ]);
  });

  test('when a member leaves only its partitions move, spread over the others', () => {
    const before = new Map([
      ['a', [0, 1]],
      ['b', [2, 3]],
      ['c', [4, 5]],
    ]);
    const after = assignPartitions(6, ['a', 'c'], before);
    assert.deepEqual([...after], [
      ['a', [0, 1, 2]],
      ['c', [3, 4, 5]],
    ]);
  });

  test('the extra partition of an uneven split goes to a member that already holds it', () => {
    // 7 partitions over 3 members: one member owns 3. b owned 4 before, so b keeps 3 and gives up one.
    const before = new Map([
      ['a', [0, 1, 2]],
      ['b', [3, 4, 5, 6]],
    ]);
    const after = assignPartitions(7, ['a', 'b', 'c'], before);
    assert.deepEqual([...after], [
      ['a', [0, 1]],
      ['b', [3, 4, 5]],
      ['c', [2, 6]],
    ]);
  });

  test('more members than partitions leaves some members idle, and a leave hands its partition to an idle one', () => {
    const before = assignPartitions(2, ['a', 'b', 'c', 'd'], new Map());
    assert.deepEqual([...before], [
      ['a', [0]],
      ['b', [1]],
      ['c', []],
      ['d', []],
    ]);
    const after = assignPartitions(2, ['b', 'c', 'd'], before);
    assert.deepEqual([...after], [
      ['b', [1]],
      ['c', [0]],
      ['d', []],
    ]);
  });

  test('growing the partition count gives the new partitions out without moving old ones', () => {
    const before = assignPartitions(4, ['a', 'b'], new Map());
    const after = assignPartitions(6, ['a', 'b'], before);
    assert.deepEqual([...after], [
      ['a', [0, 1, 4]],
      ['b', [2, 3, 5]],
    ]);
  });

  test('a sequence of joins and leaves keeps every step minimal', () => {
    const partitionCount = 12;
    const steps: string[][] = [['a'], ['a', 'b'], ['a', 'b', 'c'], ['b', 'c'], ['b', 'c', 'd', 'e'], ['e'], ['e', 'f', 'g', 'h', 'i']];
    let current = new Map<string, number[]>();
    for (const members of steps) {
      const previousOwners = ownerOf(current, partitionCount);
      const next = assignPartitions(partitionCount, members, current);
      checkBalancedOwnership(next, partitionCount, members);
      assert.equal(movedCount(previousOwners, next), minimumMoves(partitionCount, members, previousOwners), `step ${members.join(',')}`);
      current = next;
    }
  });

  test('garbage in previous is ignored: unknown members, out-of-range, repeated and fractional partitions', () => {
    const previous = new Map<string, number[]>([
      ['gone', [0, 1]],
      ['a', [3, 3, 9, -1, 1.5]],
      ['b', [3, 2]],
    ]);
    // a claims 3 first (id order), so b keeps only 2.
    assert.deepEqual([...assignPartitions(4, ['b', 'a'], previous)], [
      ['a', [0, 3]],
      ['b', [1, 2]],
    ]);
  });
});
