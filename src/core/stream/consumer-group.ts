import { assert } from '../../lib/assert.js';
import { FerryError } from '../../lib/ferry-error.js';
import type { Clock, TimerHandle } from '../../platform/clock.js';
import { assignPartitions, compareMemberIds } from './partition-assignment.js';

/** What a {@link ConsumerGroup} needs from the stream it coordinates and from storage. */
export interface ConsumerGroupOptions {
  /** The group's name, used in error messages. */
  readonly name: string;
  /** Drives session and revocation timeouts (monotonic time and timers only). */
  readonly clock: Clock;
  /** The stream's current number of partitions; read at every rebalance (see {@link ConsumerGroup.partitionsChanged}). */
  readonly partitionCount: () => number;
  /** The offset the next record appended to `partition` will get. */
  readonly endOffset: (partition: number) => number;
  /** The first offset still stored in `partition` (retention moves it forward). */
  readonly startOffset: (partition: number) => number;
  /** Committed offsets loaded from storage, by partition. The map is copied. */
  readonly committed: ReadonlyMap<number, number>;
  /** Durably records `offset` as the group's position in `partition`; resolves once it would survive a crash. */
  readonly saveCommit: (partition: number, offset: number) => Promise<void>;
  /** Session timeout of members that do not choose their own. */
  readonly sessionTimeoutMsDefault: number;
  /**
   * How long a member may take to confirm a revocation before it is removed from the group
   * (Kafka's rebalance timeout), for members that do not choose their own. Default: the
   * member's session timeout.
   */
  readonly revocationTimeoutMsDefault?: number;
  /** Most members the group accepts at once. Default {@link CONSUMER_GROUP_MEMBERS_MAX_DEFAULT}. */
  readonly membersMax?: number;
}

/** Default of {@link ConsumerGroupOptions.membersMax}. */
export const CONSUMER_GROUP_MEMBERS_MAX_DEFAULT = 10_000;

/** Why the coordinator removed a member on its own (see {@link ConsumerGroupMember.onLost}). */
export type MemberLossReason = 'session-expired' | 'revocation-timeout';

/**
 * One member's settings and callbacks, given to {@link ConsumerGroup.join}.
 *
 * Callbacks run synchronously inside the group call that caused them (join,
 * leave, revoked, partitionsChanged, or a timer); they may call back into the
 * group. They must not throw: if one does, the remaining callbacks still run
 * and the first error is rethrown to the caller of that operation.
 */
export interface ConsumerGroupMember {
  /** Milliseconds without a heartbeat after which the member is removed. Default: the group's. */
  readonly sessionTimeoutMs?: number;
  /** Milliseconds the member may take to confirm a revocation. Default: the group's, else the session timeout. */
  readonly revocationTimeoutMs?: number;
  /** The member now owns these partitions too (ascending) and should start consuming them. */
  onAssigned(partitions: readonly number[]): void;
  /**
   * The member must stop consuming these partitions (ascending), may commit their
   * final offsets, and then confirm with {@link ConsumerGroup.revoked}. Until it does,
   * it still owns them and no other member gets them.
   */
  onRevoked(partitions: readonly number[]): void;
  /**
   * The coordinator removed the member (session expired, or a revocation was not
   * confirmed in time); it owns nothing any more, `partitions` (ascending, possibly
   * empty) may already be consumed elsewhere. It must join again to take part.
   */
  onLost?(partitions: readonly number[], reason: MemberLossReason): void;
}

/** Options of {@link ConsumerGroup.commit}. */
export interface CommitOptions {
  /**
   * True for commits the broker makes on the consumer's behalf (auto-commit after
   * delivery). These only move forward: one at or behind the latest requested commit
   * is skipped, so a late automatic commit never undoes a newer one.
   */
  readonly automatic?: boolean;
}

interface MemberState {
  readonly id: string;
  readonly sessionTimeoutMs: number;
  readonly revocationTimeoutMs: number;
  readonly callbacks: ConsumerGroupMember;
  /** Partitions handed over with onAssigned and not revoked since: consumed now, and the member's target. */
  readonly owned: Set<number>;
  /** Partitions revoked with onRevoked whose release the member has not confirmed: still its own. */
  readonly revoking: Set<number>;
  /** Monotonic time of the join or last heartbeat. */
  lastHeartbeatMs: number;
  sessionTimer: TimerHandle | undefined;
  /** Runs while `revoking` is not empty, from the moment it stopped being empty. */
  revocationTimer: TimerHandle | undefined;
}

type Notification =
  | { readonly kind: 'assigned' | 'revoked'; readonly member: MemberState; readonly partitions: number[] }
  | { readonly kind: 'lost'; readonly member: MemberState; readonly partitions: number[]; readonly reason: MemberLossReason };

interface PendingCommit {
  offset: number;
  readonly waiters: Array<{ resolve: () => void; reject: (error: unknown) => void }>;
}

/** The commits of one partition that have not reached storage: one being written, at most one waiting. */
interface PartitionWrites {
  /** The offset of the newest commit accepted for the partition. */
  latestOffset: number;
  next: PendingCommit | undefined;
}

function ascending(partitions: Iterable<number>): number[] {
  return [...partitions].sort((left, right) => left - right);
}

/**
 * The coordinator of one named consumer group over one stream, in process and
 * protocol-neutral: the native protocol, Kafka's group protocol and the embedded
 * API sit on it.
 *
 * Rebalancing is cooperative, never stop-the-world. On every membership change
 * (join, leave, session expiry, partition count change) the group computes a
 * new balanced, sticky target with {@link assignPartitions} and bumps its
 * generation. Partitions whose owner does not change keep being consumed and
 * cause no callback. A partition moving from A to B is first revoked from A
 * (`onRevoked`); A keeps owning it (and may commit) until it confirms with
 * {@link revoked}, leaves, or is removed by a timeout; only then does B get it
 * (`onAssigned`). So no partition is ever owned by two members at once.
 *
 * A revoked partition always completes its revocation, even when a later
 * rebalance targets it back to its current owner: the owner confirms, then gets
 * it again through `onAssigned` (it may already have stopped consuming).
 *
 * Liveness: a member must call {@link heartbeat} within its session timeout,
 * and confirm each revocation within its revocation timeout, or it is removed
 * (`onLost`) and its partitions go to the others. Only join and heartbeat count
 * as signs of life.
 */
export class ConsumerGroup {
  /** The group's name. */
  readonly name: string;
  private readonly clock: Clock;
  private readonly partitionCountOf: () => number;
  private readonly endOffsetOf: (partition: number) => number;
  private readonly startOffsetOf: (partition: number) => number;
  private readonly saveCommit: (partition: number, offset: number) => Promise<void>;
  private readonly sessionTimeoutMsDefault: number;
  private readonly revocationTimeoutMsDefault: number | undefined;
  private readonly membersMax: number;

  private readonly memberStates = new Map<string, MemberState>();
  /** Where each partition should be, from the last rebalance: member id → partitions. */
  private target = new Map<string, number[]>();
  /** The same, by partition. */
  private readonly targetOwner = new Map<number, string>();
  /** Who owns each partition now (in `owned` or `revoking`); a partition absent here is free. */
  private readonly holder = new Map<number, MemberState>();
  private generationNumber = 0;
  private partitionCountAtRebalance = 0;

  /** Durable committed offsets: only updated after saveCommit resolved. */
  private readonly committedOffsets: Map<number, number>;
  private readonly writes = new Map<number, PartitionWrites>();

  private readonly notifications: Notification[] = [];
  private delivering = false;
  private closed = false;

  constructor(options: ConsumerGroupOptions) {
    this.name = options.name;
    this.clock = options.clock;
    this.partitionCountOf = options.partitionCount;
    this.endOffsetOf = options.endOffset;
    this.startOffsetOf = options.startOffset;
    this.saveCommit = options.saveCommit;
    this.sessionTimeoutMsDefault = this.checkDuration('sessionTimeoutMsDefault', options.sessionTimeoutMsDefault);
    this.revocationTimeoutMsDefault =
      options.revocationTimeoutMsDefault === undefined ? undefined : this.checkDuration('revocationTimeoutMsDefault', options.revocationTimeoutMsDefault);
    this.membersMax = options.membersMax ?? CONSUMER_GROUP_MEMBERS_MAX_DEFAULT;
    if (!Number.isSafeInteger(this.membersMax) || this.membersMax < 1) {
      throw new FerryError('INVALID_ARGUMENT', `membersMax of group ${this.name} must be a positive integer, got ${this.membersMax}`);
    }
    this.committedOffsets = new Map(options.committed);
    this.partitionCountAtRebalance = this.readPartitionCount();
  }

  /**
   * Adds a member and rebalances. The member's first `onAssigned` (if the target
   * gives it free partitions) runs before `join` returns; partitions it takes from
   * others arrive later, as their owners confirm their revocation.
   * Returns the new generation.
   */
  join(memberId: string, member: ConsumerGroupMember): number {
    this.checkOpen();
    if (typeof memberId !== 'string' || memberId.length === 0) {
      throw new FerryError('INVALID_ARGUMENT', `a member id of group ${this.name} must be a non-empty string`);
    }
    if (this.memberStates.has(memberId)) throw new FerryError('MEMBER_EXISTS', `member '${memberId}' is already in group ${this.name}`);
    if (this.memberStates.size >= this.membersMax) {
      throw new FerryError('MEMBER_LIMIT_REACHED', `group ${this.name} has ${this.memberStates.size} members, its limit`);
    }
    const sessionTimeoutMs = this.checkDuration('sessionTimeoutMs', member.sessionTimeoutMs ?? this.sessionTimeoutMsDefault);
    const revocationTimeoutMs = this.checkDuration(
      'revocationTimeoutMs',
      member.revocationTimeoutMs ?? this.revocationTimeoutMsDefault ?? sessionTimeoutMs,
    );
    const state: MemberState = {
      id: memberId,
      sessionTimeoutMs,
      revocationTimeoutMs,
      callbacks: member,
      owned: new Set(),
      revoking: new Set(),
      lastHeartbeatMs: this.clock.monotonicMs(),
      sessionTimer: undefined,
      revocationTimer: undefined,
    };
    this.memberStates.set(memberId, state);
    this.armSessionTimer(state, sessionTimeoutMs);
    this.rebalance();
    this.deliver();
    return this.generationNumber;
  }

  /**
   * Removes a member at its own request and rebalances. Everything it owned,
   * revoked or not, is free at once and goes to its new owners; the leaving
   * member gets no callback.
   */
  leave(memberId: string): void {
    this.checkOpen();
    this.removeMember(this.requireMember(memberId));
    this.rebalance();
    this.deliver();
  }

  /** Records a sign of life: the member's session timeout counts from now. */
  heartbeat(memberId: string): void {
    this.checkOpen();
    this.requireMember(memberId).lastHeartbeatMs = this.clock.monotonicMs();
  }

  /**
   * Confirms that the member stopped consuming `partitions`, which were revoked
   * from it; each goes at once to its target owner (`onAssigned`). Partitions the
   * member does not own are ignored, so a repeated confirmation is harmless;
   * confirming one it owns but that was not revoked is a `REVOCATION_NOT_PENDING` error
   * (and nothing is released).
   */
  revoked(memberId: string, partitions: readonly number[]): void {
    this.checkOpen();
    const member = this.requireMember(memberId);
    for (const partition of partitions) {
      if (member.owned.has(partition)) {
        throw new FerryError('REVOCATION_NOT_PENDING', `partition ${partition} of group ${this.name} was not revoked from member '${memberId}'`);
      }
    }
    for (const partition of partitions) {
      if (!member.revoking.delete(partition)) continue;
      assert(this.holder.get(partition) === member, 'a revoking partition is held by its member');
      this.holder.delete(partition);
    }
    if (member.revoking.size === 0) this.stopRevocationTimer(member);
    this.reconcile();
    this.deliver();
  }

  /** Rebalances if the stream's partition count changed since the last rebalance (call after adding partitions). */
  partitionsChanged(): void {
    this.checkOpen();
    if (this.readPartitionCount() === this.partitionCountAtRebalance) return;
    this.rebalance();
    this.deliver();
  }

  /** The partitions `memberId` owns now, ascending: those assigned to it, including revoked ones it has not released. */
  assignment(memberId: string): number[] {
    const member = this.requireMember(memberId);
    return ascending([...member.owned, ...member.revoking]);
  }

  /** The partitions revoked from `memberId` that it has not yet confirmed releasing, ascending. */
  pendingRevocations(memberId: string): number[] {
    return ascending(this.requireMember(memberId).revoking);
  }

  /** The ids of the current members, in id order. */
  members(): string[] {
    return [...this.memberStates.keys()].sort(compareMemberIds);
  }

  /** Bumped by every rebalance; 0 before the first member joined. */
  generation(): number {
    return this.generationNumber;
  }

  /** True while a revocation awaits confirmation, i.e. while some partition is not yet with its target owner. */
  rebalancing(): boolean {
    for (const member of this.memberStates.values()) if (member.revoking.size > 0) return true;
    return false;
  }

  /**
   * Commits `offset` (the next offset the group will read) for `partition`.
   * Resolves after `saveCommit` resolved, i.e. once the commit is durable; until
   * then {@link committed} still returns the previous value and a crash may lose it.
   * Rejects with `saveCommit`'s error if the write fails.
   *
   * Only the member owning the partition may commit, including while its
   * revocation is pending (to record its final position): `UNKNOWN_MEMBER`,
   * `PARTITION_NOT_FOUND`, `NOT_PARTITION_OWNER`. The offset must lie in [startOffset, endOffset]:
   * `OFFSET_OUT_OF_RANGE`. An explicit commit may move backwards (a rewind, as
   * in Kafka); an automatic one only forwards (see {@link CommitOptions.automatic}).
   *
   * Commits of one partition reach storage in the order they were made; while
   * one is being written, newer ones are merged and only the newest is written.
   */
  async commit(memberId: string, partition: number, offset: number, options: CommitOptions = {}): Promise<void> {
    this.checkOpen();
    const member = this.requireMember(memberId);
    this.checkPartition(partition);
    if (this.holder.get(partition) !== member) {
      throw new FerryError('NOT_PARTITION_OWNER', `member '${memberId}' does not own partition ${partition} of group ${this.name}`);
    }
    if (!Number.isSafeInteger(offset)) throw new FerryError('INVALID_ARGUMENT', `offset must be an integer, got ${offset}`);
    const startOffset = this.startOffsetOf(partition);
    const endOffset = this.endOffsetOf(partition);
    if (offset < startOffset || offset > endOffset) {
      throw new FerryError(
        'OFFSET_OUT_OF_RANGE',
        `offset ${offset} is outside [${startOffset}, ${endOffset}] of partition ${partition} (group ${this.name})`,
      );
    }
    if (options.automatic === true) {
      const latestOffset = this.writes.get(partition)?.latestOffset ?? this.committedOffsets.get(partition);
      if (latestOffset !== undefined && offset <= latestOffset) return;
    }
    await this.write(partition, offset);
  }

  /** The durably committed offset of `partition`, or undefined if the group never committed one. */
  committed(partition: number): number | undefined {
    return this.committedOffsets.get(partition);
  }

  /**
   * How far `memberId` is behind in each partition it owns: endOffset minus its
   * position, where the position is the committed offset, or the start offset when
   * nothing was committed or retention removed the committed records.
   */
  lag(memberId: string): Map<number, number> {
    const result = new Map<number, number>();
    for (const partition of this.assignment(memberId)) result.set(partition, this.partitionLag(partition));
    return result;
  }

  /** The lag of the whole group: the sum over every partition of the stream, owned or not. */
  totalLag(): number {
    let total = 0;
    const partitionCount = this.readPartitionCount();
    for (let partition = 0; partition < partitionCount; partition++) total += this.partitionLag(partition);
    return total;
  }

  /**
   * Stops the group: cancels every timer, so no member expires any more, and
   * refuses further member operations (`CONSUMER_GROUP_CLOSED`). Commits already
   * accepted still complete. Calling it again does nothing.
   */
  close(): void {
    this.closed = true;
    for (const member of this.memberStates.values()) {
      member.sessionTimer?.cancel();
      member.sessionTimer = undefined;
      this.stopRevocationTimer(member);
    }
  }

  private partitionLag(partition: number): number {
    const startOffset = this.startOffsetOf(partition);
    const position = Math.max(this.committedOffsets.get(partition) ?? startOffset, startOffset);
    return Math.max(0, this.endOffsetOf(partition) - position);
  }

  /** Computes a new target from the current one (so it moves as little as possible) and moves partitions towards it. */
  private rebalance(): void {
    this.generationNumber++;
    this.partitionCountAtRebalance = this.readPartitionCount();
    this.target = assignPartitions(this.partitionCountAtRebalance, [...this.memberStates.keys()], this.target);
    this.targetOwner.clear();
    for (const [memberId, partitions] of this.target) for (const partition of partitions) this.targetOwner.set(partition, memberId);
    this.reconcile();
  }

  /**
   * Moves ownership towards the target as far as it can without two owners:
   * revokes owned partitions targeted elsewhere, hands free partitions to their
   * target owners. Idempotent; queues the callbacks, which `deliver` runs.
   */
  private reconcile(): void {
    const membersInOrder = this.members().map((memberId) => this.memberStates.get(memberId)!);
    for (const member of membersInOrder) {
      const revoke = ascending([...member.owned].filter((partition) => this.targetOwner.get(partition) !== member.id));
      if (revoke.length === 0) continue;
      for (const partition of revoke) {
        member.owned.delete(partition);
        member.revoking.add(partition);
      }
      this.startRevocationTimer(member);
      this.notifications.push({ kind: 'revoked', member, partitions: revoke });
    }
    for (const member of membersInOrder) {
      const assign = (this.target.get(member.id) ?? []).filter((partition) => !this.holder.has(partition));
      if (assign.length === 0) continue;
      for (const partition of assign) {
        this.holder.set(partition, member);
        member.owned.add(partition);
      }
      this.notifications.push({ kind: 'assigned', member, partitions: assign });
    }
    this.checkInvariants();
  }

  private checkInvariants(): void {
    let held = 0;
    for (const member of this.memberStates.values()) {
      for (const partition of member.owned) {
        assert(this.holder.get(partition) === member, `partition ${partition} owned by '${member.id}' is held by it`);
        assert(this.targetOwner.get(partition) === member.id, `partition ${partition} owned by '${member.id}' is targeted to it`);
        assert(!member.revoking.has(partition), `partition ${partition} is owned or revoking, not both`);
      }
      for (const partition of member.revoking) {
        assert(this.holder.get(partition) === member, `partition ${partition} revoking from '${member.id}' is held by it`);
      }
      held += member.owned.size + member.revoking.size;
    }
    assert(held === this.holder.size, 'every held partition belongs to exactly one member');
  }

  /** Runs queued callbacks in order, once, however deeply callbacks call back into the group. */
  private deliver(): void {
    if (this.delivering) return;
    this.delivering = true;
    let firstError: { error: unknown } | undefined;
    try {
      for (let index = 0; index < this.notifications.length; index++) {
        const notification = this.notifications[index]!;
        try {
          if (notification.kind === 'lost') {
            notification.member.callbacks.onLost?.(notification.partitions, notification.reason);
            continue;
          }
          // A member that left (or was removed) since the callback was queued no longer hears from the group.
          if (this.memberStates.get(notification.member.id) !== notification.member) continue;
          if (notification.kind === 'assigned') notification.member.callbacks.onAssigned(notification.partitions);
          else notification.member.callbacks.onRevoked(notification.partitions);
        } catch (error) {
          firstError ??= { error };
        }
      }
    } finally {
      this.notifications.length = 0;
      this.delivering = false;
    }
    if (firstError !== undefined) throw firstError.error;
  }

  /** Forgets a member; everything it owned becomes free (the caller rebalances). */
  private removeMember(member: MemberState): void {
    member.sessionTimer?.cancel();
    member.sessionTimer = undefined;
    this.stopRevocationTimer(member);
    for (const partition of [...member.owned, ...member.revoking]) {
      assert(this.holder.get(partition) === member, 'a member holds what it owns');
      this.holder.delete(partition);
    }
    this.memberStates.delete(member.id);
  }

  /** Removes a member that stopped answering, tells it, and rebalances. */
  private expel(member: MemberState, reason: MemberLossReason): void {
    if (this.closed || this.memberStates.get(member.id) !== member) return;
    const partitions = ascending([...member.owned, ...member.revoking]);
    this.removeMember(member);
    this.notifications.push({ kind: 'lost', member, partitions, reason });
    this.rebalance();
    this.deliver();
  }

  private armSessionTimer(member: MemberState, delayMs: number): void {
    member.sessionTimer = this.clock.setTimer(delayMs, () => {
      member.sessionTimer = undefined;
      if (this.closed || this.memberStates.get(member.id) !== member) return;
      // Heartbeats only record the time; the timer re-arms for what is left of the session.
      const silentMs = this.clock.monotonicMs() - member.lastHeartbeatMs;
      if (silentMs >= member.sessionTimeoutMs) this.expel(member, 'session-expired');
      else this.armSessionTimer(member, member.sessionTimeoutMs - silentMs);
    });
  }

  private startRevocationTimer(member: MemberState): void {
    if (member.revocationTimer !== undefined) return;
    member.revocationTimer = this.clock.setTimer(member.revocationTimeoutMs, () => {
      member.revocationTimer = undefined;
      if (member.revoking.size > 0) this.expel(member, 'revocation-timeout');
    });
  }

  private stopRevocationTimer(member: MemberState): void {
    member.revocationTimer?.cancel();
    member.revocationTimer = undefined;
  }

  /** Queues `offset` for storage behind any write of the same partition in progress. */
  private write(partition: number, offset: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter = { resolve, reject };
      const writes = this.writes.get(partition);
      if (writes === undefined) {
        const started: PartitionWrites = { latestOffset: offset, next: undefined };
        this.writes.set(partition, started);
        this.startWrite(partition, started, { offset, waiters: [waiter] });
        return;
      }
      writes.latestOffset = offset;
      if (writes.next === undefined) writes.next = { offset, waiters: [waiter] };
      else {
        writes.next.offset = offset;
        writes.next.waiters.push(waiter);
      }
    });
  }

  private startWrite(partition: number, writes: PartitionWrites, commit: PendingCommit): void {
    let saving: Promise<void>;
    try {
      saving = this.saveCommit(partition, commit.offset);
    } catch (error) {
      saving = Promise.reject(error);
    }
    const finish = (): void => {
      const next = writes.next;
      writes.next = undefined;
      if (next !== undefined) this.startWrite(partition, writes, next);
      else this.writes.delete(partition);
    };
    saving.then(
      () => {
        this.committedOffsets.set(partition, commit.offset);
        for (const waiter of commit.waiters) waiter.resolve();
        finish();
      },
      (error: unknown) => {
        for (const waiter of commit.waiters) waiter.reject(error);
        finish();
      },
    );
  }

  private requireMember(memberId: string): MemberState {
    const member = this.memberStates.get(memberId);
    if (member === undefined) throw new FerryError('UNKNOWN_MEMBER', `no member '${memberId}' in group ${this.name}`);
    return member;
  }

  private checkPartition(partition: number): void {
    const partitionCount = this.readPartitionCount();
    if (!Number.isSafeInteger(partition) || partition < 0 || partition >= partitionCount) {
      throw new FerryError('PARTITION_NOT_FOUND', `partition ${partition} does not exist (group ${this.name}'s stream has ${partitionCount})`);
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new FerryError('CONSUMER_GROUP_CLOSED', `group ${this.name} is closed`);
  }

  private checkDuration(setting: string, valueMs: number): number {
    if (!Number.isSafeInteger(valueMs) || valueMs <= 0) {
      throw new FerryError('INVALID_ARGUMENT', `${setting} of group ${this.name} must be a positive integer of milliseconds, got ${valueMs}`);
    }
    return valueMs;
  }

  private readPartitionCount(): number {
    const partitionCount = this.partitionCountOf();
    assert(Number.isSafeInteger(partitionCount) && partitionCount >= 0, `stream partition count ${partitionCount} is a non-negative integer`);
    return partitionCount;
  }
}
