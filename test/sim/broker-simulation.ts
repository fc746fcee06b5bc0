/**
 * Deterministic simulation of the broker: a seeded random workload of
 * publishes, pulls, acks, nacks, auto-ack consumption, clean restarts, power
 * losses (SimulatedFileSystem.crash) and clock jumps, checked against a small
 * reference model. The same seed replays the same run exactly.
 *
 * Invariants checked:
 * - no confirmed message is lost (each is delivered, or still there at the end, unless acked);
 * - no acked message (ack resolved) is ever delivered again;
 * - auto-ack deliveries never repeat;
 * - per-queue order: first deliveries in an incarnation come in publish order;
 * - priority order: a pulled message has the highest priority of what is ready;
 * - one message per FIFO group in flight;
 * - duplicates within the dedup window are dropped.
 */
import { ManualClock } from '../../src/platform/clock.js';
import { SeededRandom } from '../../src/platform/random.js';
import { SimulatedFileSystem } from '../../src/platform/simulated-file-system.js';
import type { Delivery } from '../../src/core/queue/delivery.js';
import { Broker } from '../../src/server/broker.js';

/** A broken invariant, with what is needed to replay it. */
export class SimulationFailure extends Error {
  constructor(
    readonly seed: number,
    readonly step: number,
    message: string,
  ) {
    super(`seed ${seed}, step ${step}: ${message} (replay with SEED=${seed} npm run sim)`);
  }
}

const decoder = new TextDecoder();

/** What the model knows of one message. */
interface ModelMessage {
  readonly id: string;
  readonly queue: string;
  readonly priority: number;
  readonly group: string | undefined;
  confirmed: boolean;
  acked: boolean;
}

const QUEUES = ['plain', 'priority', 'groups', 'dedup', 'auto'] as const;
type QueueName = (typeof QUEUES)[number];

/** Runs one seeded simulation of `steps` operations; throws SimulationFailure on a broken invariant. */
export async function simulate(seed: number, steps = 300): Promise<{ published: number; delivered: number; crashes: number }> {
  const random = new SeededRandom(seed);
  const fileSystem = new SimulatedFileSystem();
  let clock = new ManualClock();
  let step = 0;
  const fail = (message: string): never => {
    throw new SimulationFailure(seed, step, message);
  };
  const start = () => Broker.start({ dataDir: 'data', fileSystem, clock, durability: 'always' });
  let broker = await start();
  await broker.declareQueue('plain');
  await broker.declareQueue('priority', { maxPriority: 5 });
  await broker.declareQueue('groups');
  await broker.declareQueue('dedup', { deduplicationWindowMs: 10_000 });
  await broker.declareQueue('auto');

  const messages = new Map<string, ModelMessage>();
  const inFlight = new Map<string, Delivery>();
  const autoDelivered = new Set<string>();
  const dedupSeen = new Map<string, number>();
  let sequence = 0;
  let published = 0;
  let delivered = 0;
  let crashes = 0;
  /** Highest id delivered for the first time in this incarnation, per queue (order check). */
  let firstDeliveryMax = new Map<QueueName, number>();
  const auto: { consumer: { cancel(): void } | null } = { consumer: null };

  const idNumber = (id: string) => Number(id.split('-')[1]);
  const onDelivered = (queue: QueueName, delivery: Delivery): void => {
    delivered++;
    const id = decoder.decode(delivery.message.body);
    const model = messages.get(id);
    if (!model) fail(`${queue} delivered ${id}, which was never published`);
    if (model!.queue !== queue) fail(`${id} of ${model!.queue} came from ${queue}`);
    if (model!.acked) fail(`${id} was delivered again after its ack resolved`);
    if (queue === 'auto') {
      if (autoDelivered.has(id)) fail(`auto-ack message ${id} was delivered twice`);
      autoDelivered.add(id);
      model!.acked = true;
      return;
    }
    if (inFlight.has(id)) fail(`${id} delivered while already in flight`);
    if (!delivery.redelivered && queue !== 'priority' && queue !== 'groups') {
      const previous = firstDeliveryMax.get(queue) ?? -1;
      if (idNumber(id) < previous && !wasReturned.has(id)) fail(`${queue}: ${id} delivered after a later message (${previous}) in one incarnation`);
      firstDeliveryMax.set(queue, Math.max(previous, idNumber(id)));
    }
    inFlight.set(id, delivery);
  };
  /** Ids returned to their queue in this incarnation (nack requeue or restart), exempt from the order check. */
  let wasReturned = new Set<string>();

  const ready = (queue: QueueName): ModelMessage[] =>
    [...messages.values()].filter((message) => message.queue === queue && message.confirmed && !message.acked && !inFlight.has(message.id));

  const attachAuto = () => {
    auto.consumer = broker.consume('auto', (delivery) => onDelivered('auto', delivery), { autoAck: true, prefetch: 0 });
  };
  attachAuto();

  for (step = 0; step < steps; step++) {
    const roll = random.next();
    if (roll < 0.4) {
      // Publish to a random queue; confirmed when the publish resolves.
      const queue = QUEUES[random.int(QUEUES.length)]!;
      const id = `m-${sequence++}`;
      const priority = queue === 'priority' ? random.int(6) : 0;
      const group = queue === 'groups' ? `g${random.int(3)}` : undefined;
      let messageId: string | undefined;
      if (queue === 'dedup') messageId = `d${random.int(5)}`;
      const model: ModelMessage = { id, queue, priority, group, confirmed: false, acked: false };
      const duplicate = messageId !== undefined && (dedupSeen.get(messageId) ?? -Infinity) > clock.nowMs();
      if (messageId !== undefined && !duplicate) dedupSeen.set(messageId, clock.nowMs() + 10_000);
      if (!duplicate) messages.set(id, model);
      published++;
      await broker.publish('', {
        routingKey: queue,
        body: id,
        properties: { priority, ...(group ? { groupId: group } : {}), ...(messageId ? { messageId } : {}) },
      });
      model.confirmed = true;
    } else if (roll < 0.65) {
      // Pull from a queue and check priority / group invariants against the model.
      const queue = QUEUES[random.int(QUEUES.length - 1)]!;
      const readyBefore = ready(queue);
      // No visibility timeout: the model keeps pulled messages in flight until it settles them.
      const deliveries = await broker.get(queue, { max: 1 + random.int(3), visibilityTimeoutMs: Number.POSITIVE_INFINITY });
      for (const [index, delivery] of deliveries.entries()) {
        const id = decoder.decode(delivery.message.body);
        const model = messages.get(id);
        if (queue === 'priority' && index === 0 && model) {
          const best = Math.max(...readyBefore.map((message) => message.priority));
          if (model.priority < best) fail(`priority queue delivered priority ${model.priority} while ${best} was ready`);
        }
        if (queue === 'groups' && model) {
          for (const other of inFlight.keys()) {
            const otherModel = messages.get(other)!;
            if (otherModel.queue === 'groups' && otherModel.group === model.group) fail(`group ${model.group} has two messages in flight (${other}, ${id})`);
          }
        }
        onDelivered(queue, delivery);
      }
      if (deliveries.length === 0 && readyBefore.length > 0 && queue !== 'groups') {
        fail(`${queue} returned nothing while ${readyBefore.length} confirmed message(s) were ready`);
      }
    } else if (roll < 0.8) {
      // Ack some in-flight messages; they are acked once the ack resolves.
      const ids = [...inFlight.keys()].filter(() => random.next() < 0.6);
      const deliveries = ids.map((id) => inFlight.get(id)!);
      for (const id of ids) inFlight.delete(id);
      await broker.ack(deliveries);
      for (const id of ids) messages.get(id)!.acked = true;
    } else if (roll < 0.87) {
      // Nack with requeue: they go back to ready.
      const ids = [...inFlight.keys()].filter(() => random.next() < 0.5);
      const deliveries = ids.map((id) => inFlight.get(id)!);
      for (const id of ids) {
        inFlight.delete(id);
        wasReturned.add(id);
      }
      await broker.nack(deliveries, { requeue: true });
    } else if (roll < 0.93) {
      clock.advance(random.int(20_000));
    } else {
      // Restart: clean close, or power loss.
      const powerLoss = random.next() < 0.6;
      auto.consumer?.cancel();
      if (powerLoss) {
        crashes++;
        broker.abandon();
        fileSystem.crash(new SeededRandom(seed * 31 + step));
      } else {
        await broker.close();
      }
      clock = new ManualClock(clock.nowMs());
      broker = await start();
      // In-flight deliveries are lost with the connection: they are ready again.
      for (const id of inFlight.keys()) wasReturned.add(id);
      inFlight.clear();
      for (const message of messages.values()) if (!message.acked) wasReturned.add(message.id);
      firstDeliveryMax = new Map();
      wasReturned = new Set([...wasReturned]);
      attachAuto();
    }
  }

  // Drain: every confirmed, unacked message must still be there, exactly once.
  for (const queue of QUEUES) {
    if (queue === 'auto') continue;
    await broker.nack([...inFlight.values()].filter((delivery) => delivery.queue === queue), { requeue: true });
  }
  inFlight.clear();
  const remaining = new Map<string, number>();
  for (const queue of QUEUES) {
    if (queue === 'auto') continue;
    for (let guard = 0; guard < 10_000; guard++) {
      const deliveries = await broker.get(queue, { max: 100, visibilityTimeoutMs: Number.POSITIVE_INFINITY });
      if (deliveries.length === 0) break;
      for (const delivery of deliveries) {
        const id = decoder.decode(delivery.message.body);
        const model = messages.get(id);
        if (model?.acked) fail(`drain: acked message ${id} is still in ${queue}`);
        remaining.set(id, (remaining.get(id) ?? 0) + 1);
      }
      await broker.ack(deliveries);
    }
  }
  for (const [id, count] of remaining) if (count > 1) fail(`drain: ${id} is in its queue ${count} times`);
  for (const message of messages.values()) {
    if (message.queue === 'auto') continue;
    if (message.confirmed && !message.acked && !remaining.has(message.id)) fail(`confirmed message ${message.id} of ${message.queue} was lost`);
  }
  await new Promise<void>((resolve) => setImmediate(resolve));
  for (const message of messages.values()) {
    if (message.queue === 'auto' && message.confirmed && !autoDelivered.has(message.id) && !message.acked) {
      // Auto-ack consumers see every confirmed message eventually.
      const late = await broker.get('auto', { max: 1000 });
      for (const delivery of late) onDelivered('auto', delivery);
      if (!autoDelivered.has(message.id)) fail(`confirmed auto-ack message ${message.id} was lost`);
    }
  }
  auto.consumer?.cancel();
  await broker.close();
  return { published, delivered, crashes };
}
