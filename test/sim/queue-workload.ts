import type { Delivery } from '../../src/core/queue/delivery.js';
import type { SimulationContext, StopKind, Workload } from './workload.js';

const decoder = new TextDecoder();

/** What the model knows of one message. */
interface ModelMessage {
  readonly id: string;
  readonly queue: string;
  readonly priority: number;
  readonly group: string | undefined;
  confirmed: boolean;
  acked: boolean;
  /** Published with `persistent: false` (to the durable queue `plain`): gone after a restart. */
  readonly transient: boolean;
  /** A transient message that a restart removed: never delivered again. */
  gone: boolean;
  /**
   * A lazy ack of it was made and had not resolved when the broker stopped: it may be settled
   * after the restart or be back (so it need not be there at the end).
   */
  ackUnknown: boolean;
}

const QUEUES = ['plain', 'priority', 'groups', 'dedup', 'auto'] as const;
type QueueName = (typeof QUEUES)[number];

/**
 * Queues: publishes, pulls, acks, nacks and auto-ack consumption over five
 * queues (plain, priority, FIFO groups, deduplication, auto-ack).
 *
 * Invariants:
 * - no confirmed message is lost (each is delivered, or still there at the end, unless acked);
 * - no acked message (ack resolved) is ever delivered again;
 * - auto-ack deliveries never repeat;
 * - per-queue order: first deliveries in an incarnation come in publish order;
 * - priority order: a pulled message has the highest priority of what is ready;
 * - one message per FIFO group in flight;
 * - duplicates within the dedup window are dropped;
 * - a transient message (some of `plain`'s) is never delivered after a restart, and until one it is not lost.
 */
export class QueueWorkload implements Workload {
  private readonly messages = new Map<string, ModelMessage>();
  private readonly inFlight = new Map<string, Delivery>();
  private readonly autoDelivered = new Set<string>();
  private readonly dedupSeen = new Map<string, number>();
  private sequence = 0;
  /** Highest id delivered for the first time in this incarnation, per queue (order check). */
  private firstDeliveryMax = new Map<QueueName, number>();
  /** Ids returned to their queue in this incarnation (nack requeue or restart), exempt from the order check. */
  private wasReturned = new Set<string>();
  private autoConsumer: { cancel(): void } | null = null;

  constructor(private readonly context: SimulationContext) {}

  async declare(): Promise<void> {
    const broker = this.context.broker();
    await broker.declareQueue('plain');
    await broker.declareQueue('priority', { maxPriority: 5 });
    await broker.declareQueue('groups');
    await broker.declareQueue('dedup', { deduplicationWindowMs: 10_000 });
    await broker.declareQueue('auto');
    this.attachAuto();
  }

  async step(): Promise<void> {
    const { random } = this.context;
    const roll = random.next();
    if (roll < 0.45) await this.publish();
    else if (roll < 0.75) await this.pull();
    else if (roll < 0.92) await this.ackSome();
    else await this.nackSome();
  }

  beforeStop(_kind: StopKind): void {
    this.autoConsumer?.cancel();
    this.autoConsumer = null;
  }

  async afterRestart(_kind: StopKind): Promise<void> {
    // In-flight deliveries are lost with the connection: they are ready again.
    for (const id of this.inFlight.keys()) this.wasReturned.add(id);
    this.inFlight.clear();
    for (const message of this.messages.values()) {
      if (message.acked) continue;
      this.wasReturned.add(message.id);
      if (message.transient) message.gone = true;
      if (this.lazyAcksPending.has(message.id)) {
        message.ackUnknown = true;
        this.context.count('lazyAcksCutByRestart');
      }
    }
    this.lazyAcksPending.clear();
    this.firstDeliveryMax = new Map();
    this.attachAuto();
  }

  /** Drain: every confirmed, unacked message must still be there, exactly once. */
  async finish(): Promise<void> {
    const broker = this.context.broker();
    const fail = (message: string) => this.context.fail(message);
    for (const queue of QUEUES) {
      if (queue === 'auto') continue;
      await broker.nack([...this.inFlight.values()].filter((delivery) => delivery.queue === queue), { requeue: true });
    }
    this.inFlight.clear();
    const remaining = new Map<string, number>();
    for (const queue of QUEUES) {
      if (queue === 'auto') continue;
      for (let guard = 0; guard < 10_000; guard++) {
        const deliveries = await broker.get(queue, { max: 100, visibilityTimeoutMs: Number.POSITIVE_INFINITY });
        if (deliveries.length === 0) break;
        for (const delivery of deliveries) {
          const id = decoder.decode(delivery.message.body);
          const model = this.messages.get(id);
          if (model?.acked) fail(`drain: acked message ${id} is still in ${queue}`);
          remaining.set(id, (remaining.get(id) ?? 0) + 1);
        }
        await broker.ack(deliveries);
      }
    }
    for (const [id, count] of remaining) if (count > 1) fail(`drain: ${id} is in its queue ${count} times`);
    for (const message of this.messages.values()) {
      if (message.queue === 'auto') continue;
      // A lazy ack not resolved yet has settled its message in memory: it is not in the queue.
      const settling = message.ackUnknown || this.lazyAcksPending.has(message.id);
      if (message.confirmed && !message.acked && !message.gone && !settling && !remaining.has(message.id)) fail(`confirmed message ${message.id} of ${message.queue} was lost`);
    }
    await new Promise<void>((resolve) => setImmediate(resolve));
    for (const message of this.messages.values()) {
      if (message.queue === 'auto' && message.confirmed && !this.autoDelivered.has(message.id) && !message.acked) {
        // Auto-ack consumers see every confirmed message eventually.
        const late = await broker.get('auto', { max: 1000 });
        for (const delivery of late) this.onDelivered('auto', delivery);
        if (!this.autoDelivered.has(message.id)) fail(`confirmed auto-ack message ${message.id} was lost`);
      }
    }
    this.autoConsumer?.cancel();
  }

  /** Publish to a random queue; confirmed when the publish resolves. */
  private async publish(): Promise<void> {
    const { random } = this.context;
    const clock = this.context.clock();
    const queue = QUEUES[random.int(QUEUES.length)]!;
    const id = `m-${this.sequence++}`;
    const priority = queue === 'priority' ? random.int(6) : 0;
    const group = queue === 'groups' ? `g${random.int(3)}` : undefined;
    let messageId: string | undefined;
    if (queue === 'dedup') messageId = `d${random.int(5)}`;
    const transient = queue === 'plain' && random.next() < 0.3;
    const model: ModelMessage = { id, queue, priority, group, confirmed: false, acked: false, transient, gone: false, ackUnknown: false };
    const duplicate = messageId !== undefined && (this.dedupSeen.get(messageId) ?? -Infinity) > clock.nowMs();
    if (messageId !== undefined && !duplicate) this.dedupSeen.set(messageId, clock.nowMs() + 10_000);
    if (!duplicate) this.messages.set(id, model);
    this.context.count('published');
    await this.context.broker().publish('', {
      routingKey: queue,
      body: id,
      persistent: !transient,
      properties: { priority, ...(group ? { groupId: group } : {}), ...(messageId ? { messageId } : {}) },
    });
    model.confirmed = true;
  }

  /** Pull from a queue and check priority / group invariants against the model. */
  private async pull(): Promise<void> {
    const { random } = this.context;
    const fail = (message: string) => this.context.fail(message);
    const queue = QUEUES[random.int(QUEUES.length - 1)]!;
    const readyBefore = this.ready(queue);
    // No visibility timeout: the model keeps pulled messages in flight until it settles them.
    const deliveries = await this.context.broker().get(queue, { max: 1 + random.int(3), visibilityTimeoutMs: Number.POSITIVE_INFINITY });
    for (const [index, delivery] of deliveries.entries()) {
      const id = decoder.decode(delivery.message.body);
      const model = this.messages.get(id);
      if (queue === 'priority' && index === 0 && model) {
        const best = Math.max(...readyBefore.map((message) => message.priority));
        if (model.priority < best) fail(`priority queue delivered priority ${model.priority} while ${best} was ready`);
      }
      if (queue === 'groups' && model) {
        for (const other of this.inFlight.keys()) {
          const otherModel = this.messages.get(other)!;
          if (otherModel.queue === 'groups' && otherModel.group === model.group) fail(`group ${model.group} has two messages in flight (${other}, ${id})`);
        }
      }
      this.onDelivered(queue, delivery);
    }
    if (deliveries.length === 0 && readyBefore.length > 0 && queue !== 'groups') {
      fail(`${queue} returned nothing while ${readyBefore.length} confirmed message(s) were ready`);
    }
  }

  /**
   * Ack some in-flight messages; they are acked once the ack resolves. Half the time the ack is
   * lazy and not waited for (as AMQP's): acked when it resolves, if the broker did not stop first.
   */
  private async ackSome(): Promise<void> {
    const { random } = this.context;
    const ids = [...this.inFlight.keys()].filter(() => random.next() < 0.6);
    const deliveries = ids.map((id) => this.inFlight.get(id)!);
    for (const id of ids) this.inFlight.delete(id);
    if (random.next() < 0.5) {
      const born = this.context.incarnation();
      for (const id of ids) this.lazyAcksPending.add(id);
      void this.context
        .broker()
        .ack(deliveries, { lazy: true })
        .then(
          () => {
            if (this.context.incarnation() !== born) return;
            this.context.count('lazyAcksResolved', ids.length);
            for (const id of ids) {
              this.lazyAcksPending.delete(id);
              this.messages.get(id)!.acked = true;
            }
          },
          () => undefined,
        );
      return;
    }
    await this.context.broker().ack(deliveries);
    for (const id of ids) this.messages.get(id)!.acked = true;
  }

  /** Ids of lazy acks made in this incarnation that have not resolved. */
  private readonly lazyAcksPending = new Set<string>();

  /** Nack with requeue: they go back to ready. */
  private async nackSome(): Promise<void> {
    const { random } = this.context;
    const ids = [...this.inFlight.keys()].filter(() => random.next() < 0.5);
    const deliveries = ids.map((id) => this.inFlight.get(id)!);
    for (const id of ids) {
      this.inFlight.delete(id);
      this.wasReturned.add(id);
    }
    await this.context.broker().nack(deliveries, { requeue: true });
  }

  private ready(queue: QueueName): ModelMessage[] {
    // Messages whose lazy ack is being logged, or may have been, are left out: settled in memory, or perhaps.
    return [...this.messages.values()].filter(
      (message) => message.queue === queue && message.confirmed && !message.acked && !message.gone && !message.ackUnknown && !this.lazyAcksPending.has(message.id) && !this.inFlight.has(message.id),
    );
  }

  private attachAuto(): void {
    this.autoConsumer = this.context.broker().consume('auto', (delivery) => this.onDelivered('auto', delivery), { autoAck: true, prefetch: 0 });
  }

  private onDelivered(queue: QueueName, delivery: Delivery): void {
    const fail = (message: string) => this.context.fail(message);
    this.context.count('delivered');
    const id = decoder.decode(delivery.message.body);
    const model = this.messages.get(id);
    if (!model) fail(`${queue} delivered ${id}, which was never published`);
    if (model!.queue !== queue) fail(`${id} of ${model!.queue} came from ${queue}`);
    if (model!.acked) fail(`${id} was delivered again after its ack resolved`);
    if (this.lazyAcksPending.has(id)) fail(`${id} was delivered again while its lazy ack was being logged`);
    if (model!.gone) fail(`transient message ${id} was delivered after a restart`);
    if (queue === 'auto') {
      if (this.autoDelivered.has(id)) fail(`auto-ack message ${id} was delivered twice`);
      this.autoDelivered.add(id);
      model!.acked = true;
      return;
    }
    if (this.inFlight.has(id)) fail(`${id} delivered while already in flight`);
    if (!delivery.redelivered && queue !== 'priority' && queue !== 'groups') {
      const previous = this.firstDeliveryMax.get(queue) ?? -1;
      if (idNumber(id) < previous && !this.wasReturned.has(id)) fail(`${queue}: ${id} delivered after a later message (${previous}) in one incarnation`);
      this.firstDeliveryMax.set(queue, Math.max(previous, idNumber(id)));
    }
    this.inFlight.set(id, delivery);
  }
}

function idNumber(id: string): number {
  return Number(id.split('-')[1]);
}
