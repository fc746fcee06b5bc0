import type { Delivery } from '../../src/core/queue/delivery.js';
import type { ShareGroup } from '../../src/core/stream/share-group.js';
import type { StreamModel } from './stream-model.js';
import { EVENTS_PARTITIONS, EVENTS_STREAM } from './stream-workload.js';
import { describeError, type SimulationContext, type StopKind, type Workload } from './workload.js';

const decoder = new TextDecoder();
const SHARE_GROUP = 'sharers';

/**
 * A share group on the events stream: queue-style consumption (pull, ack,
 * nack) beside the offset readers, with acks cut short by crashes.
 *
 * Invariants:
 * - a delivery is the stream's record at its partition and offset;
 * - a record is in flight at most once, and never delivered again once its ack resolved (after crashes too);
 * - at the end, every record of the stream was acked or is delivered by the drain, exactly once.
 */
export class ShareGroupWorkload implements Workload {
  /** `partition/offset` of records whose ack resolved. */
  private readonly acked = new Set<string>();
  /** Records whose ack got no reply (a crash came first): they may come back or not. */
  private readonly maybeAcked = new Set<string>();
  private readonly inFlight = new Map<string, Delivery>();

  constructor(
    private readonly context: SimulationContext,
    private readonly events: StreamModel,
  ) {}

  async declare(): Promise<void> {}

  async step(): Promise<void> {
    const roll = this.context.random.next();
    if (roll < 0.5 || this.inFlight.size === 0) await this.pull();
    else if (roll < 0.85) await this.ackSome();
    else await this.nackSome();
  }

  beforeStop(_kind: StopKind): void {}

  async afterRestart(_kind: StopKind): Promise<void> {
    // Pulled messages die with the broker: they are ready again.
    this.inFlight.clear();
  }

  async finish(): Promise<void> {
    const group = await this.group();
    await group.nack([...this.inFlight.values()]);
    this.inFlight.clear();
    const drained = new Set<string>();
    for (let guard = 0; guard < 10_000; guard++) {
      const deliveries = await group.pull({ max: 100, visibilityTimeoutMs: Number.POSITIVE_INFINITY });
      if (deliveries.length === 0) break;
      for (const delivery of deliveries) {
        const where = await this.check(delivery);
        if (drained.has(where)) this.context.fail(`share group ${SHARE_GROUP}: the drain got ${where} twice`);
        drained.add(where);
      }
      await group.ack(deliveries);
    }
    for (let partition = 0; partition < EVENTS_PARTITIONS; partition++) {
      for (let offset = 0; offset < this.events.seen(partition).length; offset++) {
        const where = `${partition}/${offset}`;
        if (!drained.has(where) && !this.acked.has(where) && !this.maybeAcked.has(where)) {
          this.context.fail(`share group ${SHARE_GROUP}: ${EVENTS_STREAM} record ${where} was never acked and is not delivered`);
        }
      }
    }
  }

  private group(): Promise<ShareGroup> {
    return this.context.broker().shareGroup(EVENTS_STREAM, SHARE_GROUP);
  }

  private async pull(): Promise<void> {
    const group = await this.group();
    const deliveries = await group.pull({ max: 1 + this.context.random.int(5), visibilityTimeoutMs: Number.POSITIVE_INFINITY });
    for (const delivery of deliveries) {
      const where = await this.check(delivery);
      if (this.inFlight.has(where)) this.context.fail(`share group ${SHARE_GROUP}: ${where} delivered while in flight`);
      this.inFlight.set(where, delivery);
      this.maybeAcked.delete(where);
      this.context.count('shareGroupDeliveries');
    }
  }

  private async ackSome(): Promise<void> {
    const chosen = [...this.inFlight].filter(() => this.context.random.next() < 0.6);
    for (const [where] of chosen) {
      this.inFlight.delete(where);
      this.maybeAcked.add(where);
    }
    const tracked = this.context.track((await this.group()).ack(chosen.map(([, delivery]) => delivery)));
    await this.context.settle([tracked]);
    const outcome = tracked.outcome();
    if (outcome.kind === 'rejected') this.context.fail(`share group ${SHARE_GROUP}: an ack was refused: ${describeError(outcome.error)}`);
    if (outcome.kind !== 'resolved') return;
    for (const [where] of chosen) {
      this.maybeAcked.delete(where);
      this.acked.add(where);
    }
  }

  private async nackSome(): Promise<void> {
    const chosen = [...this.inFlight].filter(() => this.context.random.next() < 0.5);
    for (const [where] of chosen) this.inFlight.delete(where);
    await (await this.group()).nack(chosen.map(([, delivery]) => delivery));
  }

  /** A delivery is the stream's record at its place, not acked before; returns `partition/offset`. */
  private async check(delivery: Delivery): Promise<string> {
    const partition = Number(delivery.queue.slice(delivery.queue.lastIndexOf('#') + 1));
    const where = `${partition}/${delivery.offset}`;
    if (!(partition >= 0 && partition < EVENTS_PARTITIONS)) this.context.fail(`share group ${SHARE_GROUP}: delivery from unknown queue ${delivery.queue}`);
    if (this.acked.has(where)) this.context.fail(`share group ${SHARE_GROUP}: ${where} was delivered again after its ack resolved`);
    // Learn the stream up to that offset, to compare.
    const seen = this.events.seen(partition).length;
    if (delivery.offset >= seen) {
      const entries = await this.context.broker().readStream(EVENTS_STREAM, { partition, from: seen, max: delivery.offset - seen + 1 });
      this.events.observe(partition, seen, entries);
    }
    const body = decoder.decode(delivery.message.body);
    if (this.events.seen(partition)[delivery.offset] !== body) {
      this.context.fail(`share group ${SHARE_GROUP}: delivered ${body} as ${where}, where the stream holds ${this.events.seen(partition)[delivery.offset] ?? 'nothing visible'}`);
    }
    return where;
  }
}
