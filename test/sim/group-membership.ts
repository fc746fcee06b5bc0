import type { ConsumerGroup } from '../../src/core/stream/consumer-group.js';
import type { SimulationContext } from './workload.js';

/** What the model knows of one member of a consumer group. */
export interface ModelMember {
  readonly id: string;
  joined: boolean;
  /** Partitions assigned to it and not revoked. */
  readonly owned: Set<number>;
  /** Partitions revoked from it that it has not released yet (still its own). */
  readonly revoking: Set<number>;
  /** Where it reads next in each partition it holds. */
  readonly positions: Map<number, number>;
  /**
   * Per held partition, an id of this holding (new at each assignment): a
   * client that read under one holding must not commit under another.
   */
  readonly tenure: Map<number, number>;
}

/** Session timeouts members choose from; the loop moves the clock by up to 20 s, so some expire. */
const SESSION_TIMEOUTS_MS = [20_000, 30_000, 45_000];

/**
 * The model of one consumer group's membership and committed offsets.
 * Membership is in memory (members rejoin after a restart); commits are durable.
 *
 * Invariants:
 * - a partition is held by at most one member, and only after its previous holder released it;
 * - the group's view of each member's assignment matches the callbacks it made;
 * - a member is removed by the group (onLost) only while the clock moves;
 * - committed offsets never go backwards, and a commit that resolved survives any crash.
 */
export class GroupMembership {
  readonly members: ModelMember[];
  /** Per partition: the last committed offset a reply confirmed or a read showed (never decreases). */
  private readonly floor = new Map<number, number>();
  /** Per partition: offsets whose commit got no reply yet. */
  private readonly unconfirmed = new Map<number, Set<number>>();
  private tenures = 0;

  constructor(
    readonly stream: string,
    readonly name: string,
    memberIds: readonly string[],
    private readonly partitionCount: number,
    private readonly context: SimulationContext,
  ) {
    this.members = memberIds.map((id) => ({ id, joined: false, owned: new Set(), revoking: new Set(), positions: new Map(), tenure: new Map() }));
  }

  /** The group on the running broker. */
  group(): ConsumerGroup {
    return this.context.broker().consumerGroup(this.stream, this.name);
  }

  /** True while `member` holds `partition` (assigned, or revoked and not released). */
  holds(member: ModelMember, partition: number): boolean {
    return member.joined && (member.owned.has(partition) || member.revoking.has(partition));
  }

  /**
   * One random membership change (a join, a leave, or a confirmed revocation)
   * after heartbeats of most members. `beforeRelease` runs before a member
   * gives partitions up (final commits); a crash there ends the change.
   */
  async churn(beforeRelease: (member: ModelMember, partitions: readonly number[]) => Promise<void>): Promise<void> {
    const { random } = this.context;
    this.heartbeat();
    const revoking = this.members.filter((member) => member.joined && member.revoking.size > 0);
    if (revoking.length > 0 && random.next() < 0.5) {
      const member = revoking[random.int(revoking.length)]!;
      const partitions = [...member.revoking].sort((left, right) => left - right);
      await beforeRelease(member, partitions);
      // A crash during the final commits ends the membership with the broker.
      if (!member.joined || !partitions.every((partition) => member.revoking.has(partition))) return;
      this.release(member, partitions);
    } else {
      const member = this.members[random.int(this.members.length)]!;
      if (!member.joined) {
        this.join(member);
      } else if (random.next() < 0.5) {
        await beforeRelease(member, [...member.owned, ...member.revoking]);
        if (member.joined) this.leave(member);
      }
    }
    this.checkAssignments();
  }

  /** Most members heartbeat (a client does in the background); the others may expire when the clock moves. */
  heartbeat(): void {
    for (const member of this.members) if (member.joined && this.context.random.next() < 0.7) this.group().heartbeat(member.id);
  }

  /** Joins a member that is not in the group, if there is one. */
  joinSomeone(): void {
    const outside = this.members.filter((member) => !member.joined);
    if (outside.length > 0) this.join(outside[this.context.random.int(outside.length)]!);
    this.checkAssignments();
  }

  /** The group's own view agrees with the model. */
  checkAssignments(): void {
    const group = this.group();
    for (const member of this.members) {
      if (!member.joined) continue;
      const held = ascending([...member.owned, ...member.revoking]);
      if (group.assignment(member.id).join() !== held) this.context.fail(`${this.name}: the group says ${member.id} holds [${group.assignment(member.id).join()}], the callbacks said [${held}]`);
      const revoking = ascending(member.revoking);
      if (group.pendingRevocations(member.id).join() !== revoking) this.context.fail(`${this.name}: ${member.id} has revocations [${group.pendingRevocations(member.id).join()}] pending, the callbacks said [${revoking}]`);
    }
    const joined = this.members.filter((member) => member.joined).map((member) => member.id);
    if (group.members().join() !== [...joined].sort().join()) this.context.fail(`${this.name}: members are [${group.members().join()}], the model has [${joined.join()}]`);
  }

  /** A commit of `offset` to `partition` was sent. */
  commitIssued(partition: number, offset: number): void {
    let pending = this.unconfirmed.get(partition);
    if (!pending) this.unconfirmed.set(partition, (pending = new Set()));
    pending.add(offset);
  }

  /** A commit of `offset` resolved: it is durable, and what `committed()` returns. */
  commitConfirmed(partition: number, offset: number): void {
    this.unconfirmed.get(partition)?.delete(offset);
    const committed = this.group().committed(partition);
    if (committed !== offset) this.context.fail(`${this.name}: commit of ${offset} to partition ${partition} resolved, yet committed() is ${committed}`);
    this.raiseFloor(partition, offset);
  }

  /** A commit of `offset` was refused or withdrawn: it must not take effect later. */
  commitDropped(partition: number, offset: number): void {
    this.unconfirmed.get(partition)?.delete(offset);
  }

  /**
   * Committed offsets never go backwards. After a crash, each is the last
   * confirmed one or one whose commit got no reply; the model learns which.
   */
  checkCommitted(afterCrash: boolean): void {
    const group = this.group();
    for (let partition = 0; partition < this.partitionCount; partition++) {
      const committed = group.committed(partition);
      const floor = this.floor.get(partition);
      if (floor !== undefined && (committed === undefined || committed < floor)) {
        this.context.fail(`${this.name}: committed offset of partition ${partition} went back from ${floor} to ${committed}`);
      }
      if (committed === floor) continue;
      if (!afterCrash || committed === undefined || !this.unconfirmed.get(partition)?.has(committed)) {
        this.context.fail(`${this.name}: partition ${partition} has committed offset ${committed}, which no commit asked for (last confirmed: ${floor})`);
      }
      this.raiseFloor(partition, committed!);
    }
    if (afterCrash) this.unconfirmed.clear();
  }

  /** After a restart: nobody is a member any more. */
  reset(): void {
    for (const member of this.members) this.forget(member);
  }

  private join(member: ModelMember): void {
    const incarnation = this.context.incarnation();
    const current = () => this.context.incarnation() === incarnation;
    member.joined = true;
    this.group().join(member.id, {
      sessionTimeoutMs: SESSION_TIMEOUTS_MS[this.context.random.int(SESSION_TIMEOUTS_MS.length)]!,
      onAssigned: (partitions) => {
        if (!current()) return;
        for (const partition of partitions) {
          for (const other of this.members) {
            if (this.holds(other, partition)) this.context.fail(`${this.name}: partition ${partition} assigned to ${member.id} while ${other.id} holds it`);
          }
          member.owned.add(partition);
          member.positions.set(partition, this.group().committed(partition) ?? 0);
          member.tenure.set(partition, ++this.tenures);
        }
      },
      onRevoked: (partitions) => {
        if (!current()) return;
        for (const partition of partitions) {
          if (!member.owned.delete(partition)) this.context.fail(`${this.name}: partition ${partition} revoked from ${member.id}, which did not own it`);
          member.revoking.add(partition);
        }
      },
      onLost: (partitions) => {
        if (!current()) return;
        if (!this.context.advancingClock()) this.context.fail(`${this.name}: ${member.id} was removed while the clock stood still`);
        const held = ascending([...member.owned, ...member.revoking]);
        if (held !== [...partitions].join()) this.context.fail(`${this.name}: ${member.id} lost [${partitions.join()}] but held [${held}]`);
        this.forget(member);
        this.context.count('groupMembersExpired');
      },
    });
    this.context.count('groupJoins');
  }

  private leave(member: ModelMember): void {
    this.forget(member);
    this.group().leave(member.id);
  }

  /** Confirms the release of revoked partitions; their new owners get them at once. */
  private release(member: ModelMember, partitions: readonly number[]): void {
    for (const partition of partitions) {
      member.revoking.delete(partition);
      member.positions.delete(partition);
      member.tenure.delete(partition);
    }
    this.group().revoked(member.id, partitions);
  }

  private forget(member: ModelMember): void {
    member.joined = false;
    member.owned.clear();
    member.revoking.clear();
    member.positions.clear();
    member.tenure.clear();
  }

  private raiseFloor(partition: number, offset: number): void {
    const floor = this.floor.get(partition);
    if (floor !== undefined && offset < floor) this.context.fail(`${this.name}: committed offset of partition ${partition} went back from ${floor} to ${offset}`);
    this.floor.set(partition, offset);
  }
}

function ascending(partitions: Iterable<number>): string {
  return [...partitions].sort((left, right) => left - right).join();
}
