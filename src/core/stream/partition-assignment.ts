import { assert } from '../../lib/assert.js';

/**
 * Orders member ids by UTF-16 code units. Not `localeCompare`: the order must be
 * the same on every machine, or two brokers would compute different assignments.
 */
export function compareMemberIds(left: string, right: string): number {
  return left < right ? -1 : left > right ? 1 : 0;
}

/**
 * Assigns the partitions `0..partitionCount-1` of a stream to the members of a
 * consumer group: balanced, sticky and deterministic.
 *
 * - Every partition has exactly one owner when there is at least one member
 *   (with no members the result is empty); each member owns
 *   `floor(partitionCount / members)` or one more.
 * - A partition stays with its owner in `previous` whenever balance allows, and
 *   the number of partitions whose owner changes is the least any balanced
 *   assignment can achieve: members that left lose theirs, overloaded members
 *   give up only their excess (their highest partitions), and underloaded or
 *   new members take the freed and unowned partitions.
 * - The result depends only on the set of members and on the set of partitions
 *   each previously owned: not on the order of `members`, of `previous` or of
 *   its lists. Members appear in id order, partitions ascending.
 *
 * Entries of `previous` for members not in `members`, partitions out of range
 * and repeated partitions are ignored; a partition listed under several members
 * counts as previously owned by the first of them in id order.
 *
 * `members` must not repeat an id (a broken invariant of the caller).
 */
export function assignPartitions(
  partitionCount: number,
  members: readonly string[],
  previous: ReadonlyMap<string, readonly number[]>,
): Map<string, number[]> {
  assert(Number.isSafeInteger(partitionCount) && partitionCount >= 0, `partition count ${partitionCount} is a non-negative integer`);
  const sortedMembers = [...members].sort(compareMemberIds);
  for (let index = 1; index < sortedMembers.length; index++) {
    assert(sortedMembers[index] !== sortedMembers[index - 1], `member id '${sortedMembers[index]}' is listed once`);
  }
  const result = new Map<string, number[]>();
  if (sortedMembers.length === 0) return result;

  // What each present member previously owned, after dropping everything the contract says to ignore.
  const claimed = new Uint8Array(partitionCount);
  const previouslyOwned = new Map<string, number[]>();
  for (const member of sortedMembers) {
    const owned: number[] = [];
    // Filter before sorting: NaN would make the comparator inconsistent, and the order input-dependent.
    const listed = (previous.get(member) ?? [])
      .filter((partition) => Number.isInteger(partition) && partition >= 0 && partition < partitionCount)
      .sort((left, right) => left - right);
    for (const partition of listed) {
      if (claimed[partition] === 1) continue;
      claimed[partition] = 1;
      owned.push(partition);
    }
    previouslyOwned.set(member, owned);
  }

  // Balance: `remainder` members get one partition above the base quota. Granting the extra
  // one to a member that already owned more than the base lets it keep one more partition, so
  // those go first (most owned first, then id order); among the others the choice moves nothing.
  const baseQuota = Math.floor(partitionCount / sortedMembers.length);
  const remainder = partitionCount % sortedMembers.length;
  const byOwnedCount = [...sortedMembers].sort(
    (left, right) =>
      previouslyOwned.get(right)!.length - previouslyOwned.get(left)!.length || compareMemberIds(left, right),
  );
  const quota = new Map<string, number>();
  byOwnedCount.forEach((member, rank) => quota.set(member, baseQuota + (rank < remainder ? 1 : 0)));

  // Each member keeps what it owned up to its quota; everything else is free.
  const taken = new Uint8Array(partitionCount);
  for (const member of sortedMembers) {
    const kept = previouslyOwned.get(member)!.slice(0, quota.get(member)!);
    for (const partition of kept) taken[partition] = 1;
    result.set(member, kept);
  }
  const free: number[] = [];
  for (let partition = 0; partition < partitionCount; partition++) {
    if (taken[partition] === 0) free.push(partition);
  }

  // Members below their quota fill up from the free partitions, in id order.
  let nextFree = 0;
  for (const member of sortedMembers) {
    const owned = result.get(member)!;
    const memberQuota = quota.get(member)!;
    while (owned.length < memberQuota) {
      assert(nextFree < free.length, 'the quotas add up to the partition count');
      owned.push(free[nextFree++]!);
    }
    owned.sort((left, right) => left - right);
  }
  assert(nextFree === free.length, 'every free partition found an owner');
  return result;
}
