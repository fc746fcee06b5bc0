import { isFerryError } from '../../src/lib/ferry-error.js';
import type { StreamAppendResult, StreamEntry } from '../../src/core/stream/stream.js';
import type { ModelBatch, StreamModel } from './stream-model.js';
import { describeError, type SimulationContext, type StopKind, type Tracked, type Workload } from './workload.js';

/** The stream the workloads share, and the exchange that routes into it. */
export const EVENTS_STREAM = 'events';
export const EVENTS_PARTITIONS = 3;
const EVENTS_EXCHANGE = 'to-events';
/** Batches per producer and partition the broker remembers for retries. */
const RECENT_BATCHES = 5;

/** One batch of an idempotent producer. */
interface ProducerBatch {
  readonly batch: ModelBatch;
  readonly epoch: number;
  readonly sequence: number;
  readonly bodies: readonly string[];
  /** `unconfirmed`: sent without a reply yet (retried before anything new); `abandoned`: left unconfirmed by an epoch bump. */
  state: 'unconfirmed' | 'confirmed' | 'abandoned';
  baseOffset: number | undefined;
}

/** One producer's state in one partition. */
interface ProducerPartition {
  nextSequence: number;
  /** This epoch's batches, in sequence order. */
  batches: ProducerBatch[];
  /** Earlier epochs' batches (zombie sends). */
  readonly older: ProducerBatch[];
}

interface ModelProducer {
  readonly id: number;
  epoch: number;
  readonly partitions: ProducerPartition[];
}

/**
 * Streams: idempotent producers (2 or 3, each with per-partition sequences)
 * that pipeline up to three batches, resend some at once, retry after a lost
 * reply (a crash, or a reply the simulation drops), bump their epoch; plain
 * appends; publishes routed into the stream; offset readers.
 *
 * Expected outcomes: a retry of an unconfirmed batch is accepted (stored
 * then, or recognised as stored before), a retry of a recent confirmed one is
 * recognised with its original offsets, a sequence gap is refused
 * (SEQUENCE_GAP) and a send of an older epoch too (PRODUCER_FENCED). Any
 * other refusal is a failure. Order and exactly-once are checked by the
 * {@link StreamModel} on every read.
 */
export class StreamWorkload implements Workload {
  private readonly producers: ModelProducer[] = [];
  private batchCount = 0;

  constructor(
    private readonly context: SimulationContext,
    private readonly events: StreamModel,
  ) {
    const producerCount = 2 + context.random.int(2);
    for (let index = 0; index < producerCount; index++) {
      const partitions: ProducerPartition[] = [];
      for (let partition = 0; partition < EVENTS_PARTITIONS; partition++) partitions.push({ nextSequence: 0, batches: [], older: [] });
      this.producers.push({ id: 101 + index, epoch: 0, partitions });
    }
  }

  async declare(): Promise<void> {
    const broker = this.context.broker();
    await broker.declareStream(EVENTS_STREAM, { partitions: EVENTS_PARTITIONS });
    await broker.declareExchange(EVENTS_EXCHANGE, { type: 'fanout' });
    await broker.bind(EVENTS_EXCHANGE, EVENTS_STREAM);
  }

  async step(): Promise<void> {
    const { random } = this.context;
    const producer = this.producers[random.int(this.producers.length)]!;
    const partition = random.int(EVENTS_PARTITIONS);
    const roll = random.next();
    if (roll < 0.4) await this.produce(producer, partition);
    else if (roll < 0.5) await this.resendConfirmed(producer, partition);
    else if (roll < 0.53) this.bumpEpoch(producer);
    else if (roll < 0.56) await this.sendAsZombie(producer, partition);
    else if (roll < 0.59) await this.sendWithGap(producer, partition);
    else if (roll < 0.69) await this.appendPlain(partition);
    else if (roll < 0.76) await this.publishRouted();
    else await this.read(partition);
  }

  beforeStop(_kind: StopKind): void {}

  async afterRestart(_kind: StopKind): Promise<void> {}

  async finish(): Promise<void> {
    // Retry what is still unconfirmed, so every producer batch ends stored exactly once.
    for (const producer of this.producers) {
      for (let partition = 0; partition < EVENTS_PARTITIONS; partition++) {
        if (producer.partitions[partition]!.batches.some((batch) => batch.state === 'unconfirmed')) await this.produce(producer, partition, false);
      }
    }
  }

  /**
   * Sends the next batches (one to three, pipelined), or, while some are
   * unconfirmed, retries those first, in order, as a producer must.
   */
  private async produce(producer: ModelProducer, partition: number, crashable = true): Promise<void> {
    const { random } = this.context;
    const state = producer.partitions[partition]!;
    let sends = state.batches.filter((batch) => batch.state === 'unconfirmed');
    const retrying = sends.length > 0;
    if (retrying) {
      this.context.count('producerRetries', sends.length);
    } else {
      sends = [];
      for (let count = 1 + random.int(3); count > 0; count--) sends.push(this.newBatch(producer, partition));
    }
    this.context.trace(`producer ${producer.id} ${retrying ? 'retries' : 'sends'} ${sends.map((batch) => `e${batch.epoch}s${batch.sequence}+${batch.bodies.length}`).join(' ')} to ${EVENTS_STREAM}/${partition}`);
    const at = this.context.tick();
    const attempts: Array<{ readonly batch: ProducerBatch; readonly tracked: Tracked<StreamAppendResult[]>; readonly copy: boolean }> = [];
    for (const batch of sends) {
      this.events.issued(batch.batch, at);
      attempts.push({ batch, tracked: this.context.track(this.send(producer.id, batch, partition)), copy: false });
      // A resend before any reply (a client timeout shorter than the fsync).
      if (random.next() < 0.15) attempts.push({ batch, tracked: this.context.track(this.send(producer.id, batch, partition)), copy: true });
    }
    const race = crashable && random.next() < 0.3 ? this.raceRead(partition) : undefined;
    if (crashable) await this.context.settle([...attempts.map((attempt) => attempt.tracked), ...(race ? [race] : [])]);
    else await Promise.allSettled(attempts.map((attempt) => attempt.tracked.promise));
    if (race) this.observeRace(partition, race);
    const confirmedAt = this.context.tick();
    const fresh = new Map<ProducerBatch, number>();
    for (const { batch, tracked, copy } of attempts) {
      const outcome = tracked.outcome();
      const what = `producer ${producer.id} epoch ${batch.epoch} sequence ${batch.sequence} on ${EVENTS_STREAM}/${partition}`;
      if (outcome.kind === 'unknown') continue;
      if (outcome.kind === 'rejected') this.context.fail(`${what}${retrying ? ' (a retry after a lost reply)' : ''} was refused: ${describeError(outcome.error)}`);
      if (outcome.kind !== 'resolved') continue;
      const result = outcome.value[0]!;
      if (outcome.value.length !== 1 || result.partition !== partition) this.context.fail(`${what}: the reply names ${outcome.value.map((entry) => entry.partition).join()}`);
      if (result.lastOffset - result.baseOffset + 1 !== batch.bodies.length) this.context.fail(`${what}: the reply spans ${result.baseOffset}..${result.lastOffset} for ${batch.bodies.length} records`);
      if (!result.duplicate) {
        fresh.set(batch, (fresh.get(batch) ?? 0) + 1);
        if (fresh.get(batch)! > 1) this.context.fail(`${what}: two sends of the batch were both stored`);
      } else if (!retrying && !copy) {
        this.context.fail(`${what}: a new batch was taken for a retry of an earlier one`);
      } else {
        this.context.count('duplicatesRecognised');
      }
      this.events.confirmed(batch.batch, partition, result.baseOffset, confirmedAt);
      batch.state = 'confirmed';
      batch.baseOffset = result.baseOffset;
    }
  }

  /** The reply of a recent confirmed batch was "lost": the retry must be recognised, with the original offsets. */
  private async resendConfirmed(producer: ModelProducer, partition: number): Promise<void> {
    const state = producer.partitions[partition]!;
    const recent = state.batches.slice(-RECENT_BATCHES).filter((batch) => batch.state === 'confirmed');
    if (recent.length === 0) return this.produce(producer, partition);
    const batch = recent[this.context.random.int(recent.length)]!;
    this.context.trace(`producer ${producer.id} resends confirmed e${batch.epoch}s${batch.sequence} to ${EVENTS_STREAM}/${partition} (reply lost)`);
    const tracked = this.context.track(this.send(producer.id, batch, partition));
    await this.context.settle([tracked]);
    const outcome = tracked.outcome();
    const what = `a resend of confirmed producer ${producer.id} epoch ${batch.epoch} sequence ${batch.sequence} on ${EVENTS_STREAM}/${partition} (offset ${batch.baseOffset})`;
    if (outcome.kind === 'rejected') this.context.fail(`${what} was refused: ${describeError(outcome.error)}`);
    if (outcome.kind !== 'resolved') return;
    const result = outcome.value[0]!;
    if (!result.duplicate) this.context.fail(`${what} was stored again at ${result.baseOffset}`);
    if (result.baseOffset !== batch.baseOffset) this.context.fail(`${what} was answered with offset ${result.baseOffset}`);
    this.context.count('duplicatesRecognised');
  }

  /** The producer restarts with a new epoch: sequences start again at 0; unconfirmed batches are left as they are. */
  private bumpEpoch(producer: ModelProducer): void {
    producer.epoch++;
    this.context.trace(`producer ${producer.id} starts epoch ${producer.epoch}`);
    for (const state of producer.partitions) {
      for (const batch of state.batches) if (batch.state === 'unconfirmed') batch.state = 'abandoned';
      state.older.push(...state.batches);
      state.batches = [];
      state.nextSequence = 0;
    }
    this.context.count('epochBumps');
  }

  /** A zombie resends a batch of an older epoch after the new epoch wrote to the partition: fenced. */
  private async sendAsZombie(producer: ModelProducer, partition: number): Promise<void> {
    const state = producer.partitions[partition]!;
    if (state.older.length === 0 || !state.batches.some((batch) => batch.state === 'confirmed')) return this.read(partition);
    const batch = state.older[this.context.random.int(state.older.length)]!;
    const what = `a zombie send of producer ${producer.id} epoch ${batch.epoch} sequence ${batch.sequence} (now epoch ${producer.epoch}) on ${EVENTS_STREAM}/${partition}`;
    try {
      await this.send(producer.id, batch, partition);
    } catch (error) {
      if (!isFerryError(error, 'PRODUCER_FENCED')) this.context.fail(`${what} failed with ${describeError(error)}, not PRODUCER_FENCED`);
      this.context.count('refusalsExpected');
      return;
    }
    this.context.fail(`${what} was accepted`);
  }

  /** A batch that skips sequences is refused with SEQUENCE_GAP, and never stored. */
  private async sendWithGap(producer: ModelProducer, partition: number): Promise<void> {
    const state = producer.partitions[partition]!;
    if (state.batches.length === 0 || state.batches.some((batch) => batch.state === 'unconfirmed')) return this.read(partition);
    const sequence = state.nextSequence + 1 + this.context.random.int(3);
    const bodies = [`gap-${producer.id}-${producer.epoch}-${sequence}-${this.batchCount++}`];
    const batch = this.events.addBatch(`gap-${this.batchCount}`, partition, bodies, () => ({ kind: 'plain' }), 'never', undefined);
    const gap: ProducerBatch = { batch, epoch: producer.epoch, sequence, bodies, state: 'unconfirmed', baseOffset: undefined };
    try {
      await this.send(producer.id, gap, partition);
    } catch (error) {
      if (!isFerryError(error, 'SEQUENCE_GAP')) this.context.fail(`sequence ${sequence} of producer ${producer.id} (${state.nextSequence} due) failed with ${describeError(error)}, not SEQUENCE_GAP`);
      this.context.count('refusalsExpected');
      return;
    }
    this.context.fail(`sequence ${sequence} of producer ${producer.id} on ${EVENTS_STREAM}/${partition} was accepted while ${state.nextSequence} was due`);
  }

  /** A plain (not idempotent) append to one partition: stored once if confirmed, at most once otherwise. */
  private async appendPlain(partition: number): Promise<void> {
    const key = `plain-${this.batchCount++}`;
    const bodies = Array.from({ length: 1 + this.context.random.int(3) }, (_, index) => `${key}.${index}`);
    const batch = this.events.addBatch(key, partition, bodies, () => ({ kind: 'plain' }), 'maybe', this.context.tick());
    const tracked = this.context.track(this.context.broker().appendToStream(EVENTS_STREAM, bodies.map((body) => ({ body })), { partition }));
    const race = this.context.random.next() < 0.3 ? this.raceRead(partition) : undefined;
    await this.context.settle([tracked, ...(race ? [race] : [])]);
    if (race) this.observeRace(partition, race);
    const outcome = tracked.outcome();
    if (outcome.kind === 'rejected') this.context.fail(`plain append ${key} was refused: ${describeError(outcome.error)}`);
    if (outcome.kind !== 'resolved') return;
    this.context.count('appended', bodies.length);
    this.events.confirmed(batch, outcome.value[0]!.partition, outcome.value[0]!.baseOffset, this.context.tick());
  }

  /** A publish routed into the stream by an exchange (the stream picks the partition). */
  private async publishRouted(): Promise<void> {
    const key = `routed-${this.batchCount++}`;
    const batch = this.events.addBatch(key, undefined, [key], () => ({ kind: 'plain' }), 'maybe', this.context.tick());
    const tracked = this.context.track(this.context.broker().publish(EVENTS_EXCHANGE, { body: key }));
    await this.context.settle([tracked]);
    const outcome = tracked.outcome();
    if (outcome.kind === 'rejected') this.context.fail(`routed publish ${key} was refused: ${describeError(outcome.error)}`);
    if (outcome.kind !== 'resolved') return;
    if (!outcome.value.routed) this.context.fail(`routed publish ${key} reached nothing`);
    this.context.count('appended');
    this.events.expect(batch.records, this.context.tick());
  }

  /** An offset reader: mostly the tail of a partition, sometimes an earlier range again. */
  private async read(partition: number): Promise<void> {
    const { random } = this.context;
    const seen = this.events.seen(partition).length;
    const from = random.next() < 0.7 ? Math.max(0, seen - random.int(3)) : random.int(seen + 1);
    const entries = await this.context.broker().readStream(EVENTS_STREAM, { partition, from, max: 1 + random.int(30) });
    this.context.count('streamEntriesRead', entries.length);
    this.events.observe(partition, from, entries);
  }

  /**
   * A reader of the partition racing appends in flight (a few turns after
   * they were sent): it must see only records that stay, whatever crash
   * follows, as readers see only durable records.
   */
  private raceRead(partition: number): Tracked<{ readonly from: number; readonly entries: StreamEntry[] }> {
    const broker = this.context.broker();
    const turns = this.context.random.int(20);
    const read = async () => {
      for (let turn = 0; turn < turns; turn++) await Promise.resolve();
      const from = this.events.seen(partition).length;
      return { from, entries: await broker.readStream(EVENTS_STREAM, { partition, from, max: 50 }) };
    };
    return this.context.track(read());
  }

  /** What the racing reader saw, checked after any crash the appends met: the restart read everything again first. */
  private observeRace(partition: number, race: Tracked<{ readonly from: number; readonly entries: StreamEntry[] }>): void {
    const outcome = race.outcome();
    if (outcome.kind === 'rejected') this.context.fail(`a read of ${EVENTS_STREAM}/${partition} failed: ${describeError(outcome.error)}`);
    if (outcome.kind === 'resolved') this.events.observe(partition, outcome.value.from, outcome.value.entries);
  }

  private newBatch(producer: ModelProducer, partition: number): ProducerBatch {
    const state = producer.partitions[partition]!;
    const sequence = state.nextSequence;
    const length = 1 + this.context.random.int(3);
    state.nextSequence += length;
    const key = `p${producer.id}e${producer.epoch}p${partition}s${sequence}`;
    const bodies = Array.from({ length }, (_, index) => `${key}.${index}`);
    const epoch = producer.epoch;
    const batch = this.events.addBatch(key, partition, bodies, (index) => ({ kind: 'producer', producerId: producer.id, epoch, sequence: sequence + index }), 'maybe', undefined);
    const producerBatch: ProducerBatch = { batch, epoch, sequence, bodies, state: 'unconfirmed', baseOffset: undefined };
    state.batches.push(producerBatch);
    this.context.count('appended', length);
    return producerBatch;
  }

  private send(producerId: number, batch: ProducerBatch, partition: number): Promise<StreamAppendResult[]> {
    return this.context.broker().appendToStream(
      EVENTS_STREAM,
      batch.bodies.map((body) => ({ body })),
      { partition, producer: { producerId, epoch: batch.epoch, sequence: batch.sequence } },
    );
  }
}
