import type { StreamEntry } from '../../src/core/stream/stream.js';
import type { SimulationContext } from './workload.js';

const decoder = new TextDecoder();

/** Who wrote a record. */
export type RecordOrigin =
  | { readonly kind: 'producer'; readonly producerId: number; readonly epoch: number; readonly sequence: number }
  | { readonly kind: 'plain' }
  | { readonly kind: 'transaction'; readonly transaction: number };

/**
 * What the model demands of a record:
 * - `maybe`: it may be stored or not (its append got no reply, or its transaction is in doubt);
 * - `expected`: it must be stored (its append or its transaction's commit resolved);
 * - `never`: it must never be visible (an open, aborted or refused transaction's, a refused append's).
 */
export type Expectation = 'maybe' | 'expected' | 'never';

/** One message of the model, identified by its body (unique over the run). */
export interface ModelRecord {
  readonly body: string;
  readonly batch: ModelBatch;
  readonly indexInBatch: number;
  readonly origin: RecordOrigin;
  expectation: Expectation;
  /** Logical time at which it was first sent (the earliest it can have been written). */
  issuedAt: number | undefined;
  /** Logical time at which a reply confirmed it. */
  confirmedAt: number | undefined;
  /** Offset the broker reported for it. */
  reportedOffset: number | undefined;
  /** Where a reader saw it. */
  observed: { readonly partition: number; readonly offset: number } | undefined;
}

/**
 * Messages written together: the broker stores a batch whole or not at all,
 * contiguous and in order, in one partition. `partition` is undefined when
 * the broker chose it and no reply said which.
 */
export interface ModelBatch {
  readonly key: string;
  partition: number | undefined;
  readonly records: ModelRecord[];
}

interface PartitionState {
  /** Bodies by offset, as readers saw them (offsets start at 0: the stream has no retention). */
  readonly bodies: string[];
  /** Largest `issuedAt` of the records seen so far (real-time order check). */
  maxIssuedAt: number;
  /** Next sequence expected per `producerId/epoch`. */
  readonly producerNext: Map<string, number>;
}

/**
 * The reference model of one stream: every record ever sent, what must and
 * must not be stored, and what readers saw at each offset.
 *
 * Checks, on every read:
 * - offsets are contiguous and never change: what was read at an offset is read there again, after crashes too;
 * - a record is stored at most once, never when it must not be, and where its append said;
 * - a batch is contiguous and in order;
 * - an idempotent producer's records follow its sequences with no gap;
 * - a confirmed record comes after everything issued before it, before everything issued after it was confirmed.
 * After every restart and at the end ({@link checkComplete}): every expected record is stored, every batch whole or absent.
 */
export class StreamModel {
  private readonly records = new Map<string, ModelRecord>();
  private readonly batches: ModelBatch[] = [];
  private readonly partitions: PartitionState[] = [];
  /** Told of every record a reader sees for the first time (transactions use it as evidence). */
  onObserved: (record: ModelRecord) => void = () => undefined;

  constructor(
    readonly stream: string,
    readonly partitionCount: number,
    private readonly context: SimulationContext,
  ) {
    for (let partition = 0; partition < partitionCount; partition++) this.partitions.push({ bodies: [], maxIssuedAt: -1, producerNext: new Map() });
  }

  /** Registers a batch of new records (bodies unique over the run). */
  addBatch(key: string, partition: number | undefined, bodies: readonly string[], origin: (index: number) => RecordOrigin, expectation: Expectation, issuedAt: number | undefined): ModelBatch {
    const batch: ModelBatch = { key, partition, records: [] };
    bodies.forEach((body, index) => {
      if (this.records.has(body)) this.context.fail(`simulation bug: body ${body} used twice`);
      const record: ModelRecord = { body, batch, indexInBatch: index, origin: origin(index), expectation, issuedAt, confirmedAt: undefined, reportedOffset: undefined, observed: undefined };
      batch.records.push(record);
      this.records.set(body, record);
    });
    this.batches.push(batch);
    return batch;
  }

  /** The records of a batch were sent (again): the first send is the earliest they can have been written. */
  issued(batch: ModelBatch, at: number): void {
    for (const record of batch.records) record.issuedAt ??= at;
  }

  /** A reply confirmed the batch at `baseOffset` of `partition`. */
  confirmed(batch: ModelBatch, partition: number, baseOffset: number, at: number): void {
    if (batch.partition !== undefined && batch.partition !== partition) this.context.fail(`${this.stream}: batch ${batch.key} for partition ${batch.partition} was confirmed in ${partition}`);
    batch.partition = partition;
    for (const record of batch.records) {
      const offset = baseOffset + record.indexInBatch;
      if (record.reportedOffset !== undefined && record.reportedOffset !== offset) {
        this.context.fail(`${this.stream}/${partition}: ${record.body} was reported at offset ${record.reportedOffset}, then at ${offset}`);
      }
      if (record.observed !== undefined && (record.observed.partition !== partition || record.observed.offset !== offset)) {
        this.context.fail(`${this.stream}: ${record.body} was read at ${record.observed.partition}/${record.observed.offset} but confirmed at ${partition}/${offset}`);
      }
      if (record.expectation === 'never') this.context.fail(`${this.stream}: ${record.body}, which must not be stored, was confirmed`);
      record.reportedOffset = offset;
      record.confirmedAt ??= at;
      record.expectation = 'expected';
    }
  }

  /**
   * The records must be stored: a reply confirmed them at `confirmedAt` without
   * saying where (a routed publish, a transaction's commit), or a transaction
   * in doubt turned out applied (no time: it was applied at recovery).
   */
  expect(records: readonly ModelRecord[], confirmedAt?: number): void {
    for (const record of records) {
      if (record.expectation === 'never') this.context.fail(`${this.stream}: ${record.body} was refused, yet is now expected`);
      record.expectation = 'expected';
      if (confirmedAt !== undefined) record.confirmedAt ??= confirmedAt;
    }
  }

  /** The records must never be visible (refused, aborted, or a transaction known not to be applied). */
  forbid(records: readonly ModelRecord[], why: string): void {
    for (const record of records) {
      if (record.observed !== undefined) this.context.fail(`${this.stream}/${record.observed.partition}: ${record.body} is stored at offset ${record.observed.offset}, but ${why}`);
      if (record.expectation === 'expected') this.context.fail(`${this.stream}: ${record.body} was confirmed, but ${why}`);
      record.expectation = 'never';
    }
  }

  /** Bodies seen in `partition`, by offset. */
  seen(partition: number): readonly string[] {
    return this.partitions[partition]!.bodies;
  }

  record(body: string): ModelRecord | undefined {
    return this.records.get(body);
  }

  /** Checks what a read of `partition` from `fromOffset` returned, and learns the new records. */
  observe(partition: number, fromOffset: number, entries: readonly StreamEntry[]): void {
    const state = this.partitions[partition]!;
    let expectedOffset = Math.max(0, fromOffset);
    for (const entry of entries) {
      const where = `${this.stream}/${partition}@${entry.offset}`;
      if (entry.partition !== partition) this.context.fail(`${where}: a read of partition ${partition} returned an entry of partition ${entry.partition}`);
      if (entry.offset !== expectedOffset) this.context.fail(`${where}: expected offset ${expectedOffset} next (offsets are contiguous from ${fromOffset})`);
      expectedOffset++;
      const body = decoder.decode(entry.message.body);
      if (entry.offset < state.bodies.length) {
        if (state.bodies[entry.offset] !== body) this.context.fail(`${where}: held ${state.bodies[entry.offset]}, now holds ${body} (offsets never change, and readers see only durable messages)`);
        continue;
      }
      if (entry.offset > state.bodies.length) this.context.fail(`${where}: read past offsets never seen (${state.bodies.length})`);
      this.learn(partition, state, entry.offset, body);
    }
  }

  /** Reads every partition from offset 0 to its end, checking all of it. */
  async readAll(): Promise<void> {
    const broker = this.context.broker();
    for (let partition = 0; partition < this.partitionCount; partition++) {
      for (let offset = 0; ; ) {
        const entries = await broker.readStream(this.stream, { partition, from: offset, max: 500 });
        this.context.count('streamEntriesRead', entries.length);
        this.observe(partition, offset, entries);
        if (entries.length === 0) break;
        offset = entries[entries.length - 1]!.offset + 1;
      }
    }
  }

  /**
   * After a full read: every expected record is stored, and every batch is
   * whole or absent (a batch that may still be retried counts as absent).
   */
  checkComplete(): void {
    for (const record of this.records.values()) {
      if (record.expectation === 'expected' && record.observed === undefined) {
        this.context.fail(`${this.stream}: ${record.body} (${describe(record.origin)}) was confirmed but is not stored${record.reportedOffset !== undefined ? ` (reported at ${record.batch.partition}/${record.reportedOffset})` : ''}`);
      }
    }
    for (const batch of this.batches) {
      const stored = batch.records.filter((record) => record.observed !== undefined).length;
      if (stored > 0 && stored < batch.records.length) this.context.fail(`${this.stream}: batch ${batch.key} is stored in part (${stored} of ${batch.records.length} records)`);
    }
  }

  private learn(partition: number, state: PartitionState, offset: number, body: string): void {
    const where = `${this.stream}/${partition}@${offset}`;
    const record = this.records.get(body);
    if (record === undefined) this.context.fail(`${where}: holds ${body}, which was never sent to ${this.stream}`);
    const batch = record!.batch;
    if (record!.observed !== undefined) this.context.fail(`${where}: ${body} is stored twice (also at ${record!.observed.partition}/${record!.observed.offset})`);
    if (record!.expectation === 'never') this.context.fail(`${where}: ${body} (${describe(record!.origin)}) is visible but must not be`);
    if (batch.partition !== undefined && batch.partition !== partition) this.context.fail(`${where}: ${body} belongs in partition ${batch.partition}`);
    if (record!.reportedOffset !== undefined && record!.reportedOffset !== offset) this.context.fail(`${where}: ${body} was confirmed at offset ${record!.reportedOffset}`);
    // A batch is contiguous and in order.
    const previous = offset > 0 ? this.records.get(state.bodies[offset - 1]!) : undefined;
    if (record!.indexInBatch > 0 && (previous?.batch !== batch || previous.indexInBatch !== record!.indexInBatch - 1)) {
      this.context.fail(`${where}: ${body} is record ${record!.indexInBatch} of batch ${batch.key}, but offset ${offset - 1} holds ${previous?.body ?? 'nothing'}`);
    }
    if (previous !== undefined && previous.batch !== batch && previous.indexInBatch < previous.batch.records.length - 1) {
      this.context.fail(`${where}: ${body} cuts batch ${previous.batch.key} after its record ${previous.indexInBatch}`);
    }
    // An idempotent producer's sequences have no gap and no repeat.
    const origin = record!.origin;
    if (origin.kind === 'producer') {
      const key = `${origin.producerId}/${origin.epoch}`;
      const next = state.producerNext.get(key) ?? 0;
      if (origin.sequence !== next) this.context.fail(`${where}: producer ${key} sequence ${origin.sequence} stored where ${next} was due`);
      state.producerNext.set(key, next + 1);
    }
    // Real-time order: a record confirmed before another was sent comes first.
    if (record!.confirmedAt !== undefined && record!.confirmedAt < state.maxIssuedAt) {
      this.context.fail(`${where}: ${body} was confirmed at t${record!.confirmedAt}, yet comes after a record sent at t${state.maxIssuedAt}`);
    }
    state.maxIssuedAt = Math.max(state.maxIssuedAt, record!.issuedAt ?? -1);
    batch.partition = partition;
    record!.observed = { partition, offset };
    state.bodies.push(body);
    this.onObserved(record!);
  }
}

function describe(origin: RecordOrigin): string {
  switch (origin.kind) {
    case 'producer':
      return `producer ${origin.producerId} epoch ${origin.epoch} sequence ${origin.sequence}`;
    case 'plain':
      return 'plain append';
    case 'transaction':
      return `transaction T${origin.transaction}`;
  }
}
