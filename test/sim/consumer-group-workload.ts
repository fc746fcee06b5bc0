import { isFerryError } from '../../src/lib/ferry-error.js';
import { GroupMembership, type ModelMember } from './group-membership.js';
import type { StreamModel } from './stream-model.js';
import { EVENTS_PARTITIONS, EVENTS_STREAM } from './stream-workload.js';
import { describeError, type SimulationContext, type StopKind, type Workload } from './workload.js';

const READERS_GROUP = 'readers';

/**
 * A consumer group of offset readers on the events stream: members join and
 * leave at random, confirm revocations (after committing their final
 * position, usually), expire when they stop heartbeating, read their
 * partitions from their position and commit it.
 *
 * Invariants (see {@link GroupMembership} and {@link StreamModel}): one holder
 * per partition, the group agrees with its callbacks, committed offsets never
 * go backwards and survive crashes once confirmed, and what members read is
 * in order.
 */
export class ConsumerGroupWorkload implements Workload {
  private readonly membership: GroupMembership;

  constructor(
    private readonly context: SimulationContext,
    private readonly events: StreamModel,
  ) {
    this.membership = new GroupMembership(EVENTS_STREAM, READERS_GROUP, ['r1', 'r2', 'r3', 'r4'], EVENTS_PARTITIONS, context);
  }

  async declare(): Promise<void> {}

  async step(): Promise<void> {
    const roll = this.context.random.next();
    if (roll < 0.05) {
      await this.commitAsZombie();
    } else if (roll < 0.4) {
      await this.membership.churn(async (member, partitions) => {
        // A careful member commits where it stopped before giving partitions up.
        if (this.context.random.next() < 0.8) for (const partition of partitions) if (member.joined) await this.commit(member, partition);
      });
    } else {
      this.membership.heartbeat();
      await this.consume();
    }
    this.membership.checkCommitted(false);
  }

  beforeStop(_kind: StopKind): void {}

  async afterRestart(kind: StopKind): Promise<void> {
    this.membership.reset();
    this.membership.checkCommitted(kind !== 'clean');
  }

  async finish(): Promise<void> {
    this.membership.checkCommitted(false);
  }

  /** A member reads on from its position in one of its partitions, then (usually) commits. */
  private async consume(): Promise<void> {
    const { random } = this.context;
    const holders = this.membership.members.filter((member) => member.joined && member.owned.size + member.revoking.size > 0);
    if (holders.length === 0) return this.membership.churn(async () => undefined);
    const member = holders[random.int(holders.length)]!;
    const partitions = [...member.owned, ...member.revoking];
    const partition = partitions[random.int(partitions.length)]!;
    const from = member.positions.get(partition)!;
    const entries = await this.context.broker().readStream(EVENTS_STREAM, { partition, from, max: 1 + random.int(20) });
    this.context.count('streamEntriesRead', entries.length);
    this.events.observe(partition, from, entries);
    member.positions.set(partition, from + entries.length);
    const roll = random.next();
    if (roll < 0.15 && entries.length > 1) await this.commitTwice(member, partition, from + 1);
    else if (roll < 0.7) await this.commit(member, partition);
  }

  /**
   * A member commits a partition it does not hold (revoked and released, or
   * never its own), or after the group removed it: refused with
   * NOT_PARTITION_OWNER or UNKNOWN_MEMBER, and the committed offset stays.
   */
  private async commitAsZombie(): Promise<void> {
    const { random } = this.context;
    const member = this.membership.members[random.int(this.membership.members.length)]!;
    const partition = random.int(EVENTS_PARTITIONS);
    if (this.membership.holds(member, partition)) return;
    const expected = member.joined ? 'NOT_PARTITION_OWNER' : 'UNKNOWN_MEMBER';
    const offset = this.events.seen(partition).length;
    try {
      await this.membership.group().commit(member.id, partition, offset);
    } catch (error) {
      if (!isFerryError(error, expected)) this.context.fail(`${READERS_GROUP}: ${member.id}'s commit to partition ${partition}, which it does not hold, failed with ${describeError(error)}, not ${expected}`);
      this.context.count('refusalsExpected');
      return;
    }
    this.context.fail(`${READERS_GROUP}: ${member.id} (${member.joined ? 'a member' : 'not a member'}) committed ${offset} to partition ${partition}, which it does not hold`);
  }

  /** Two commits sent at once (an asynchronous client): they are written in order, so the later one wins. */
  private async commitTwice(member: ModelMember, partition: number, earlier: number): Promise<void> {
    const group = this.membership.group();
    const later = member.positions.get(partition)!;
    try {
      await Promise.all([group.commit(member.id, partition, earlier), group.commit(member.id, partition, later)]);
    } catch (error) {
      this.context.fail(`${READERS_GROUP}: ${member.id}'s commits of ${earlier} and ${later} to partition ${partition} were refused: ${describeError(error)}`);
    }
    this.context.count('offsetCommits', 2);
    this.membership.commitConfirmed(partition, later);
  }

  /** Commits the member's position; a crash may cut it short. */
  private async commit(member: ModelMember, partition: number): Promise<void> {
    const offset = member.positions.get(partition);
    if (offset === undefined) return;
    this.membership.commitIssued(partition, offset);
    const tracked = this.context.track(this.membership.group().commit(member.id, partition, offset));
    await this.context.settle([tracked]);
    const outcome = tracked.outcome();
    if (outcome.kind === 'rejected') this.context.fail(`${READERS_GROUP}: ${member.id}'s commit of ${offset} to partition ${partition} was refused: ${describeError(outcome.error)}`);
    if (outcome.kind !== 'resolved') return;
    this.context.count('offsetCommits');
    this.membership.commitConfirmed(partition, offset);
  }
}
