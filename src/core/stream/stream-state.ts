import { FerryError } from '../../lib/ferry-error.js';
import { transientUtf8 } from '../../lib/utf8.js';
import type { Log, RecordInput } from '../ports.js';

/** A batch an idempotent producer wrote recently, remembered so that its retry is recognised. */
export interface RecentBatchEntry {
  readonly firstSequence: number;
  readonly lastSequence: number;
  readonly baseOffset: number;
}

/** What one idempotent producer last wrote to one partition (see Stream). */
export interface ProducerEntry {
  readonly producerId: number;
  readonly epoch: number;
  /** Sequence number of the last message stored. */
  readonly lastSequence: number;
  /** Offset of that message. */
  readonly lastOffset: number;
  /**
   * Its last batches, oldest first: without them a retry of a batch written
   * just before a clean shutdown would be refused after the restart. Absent
   * in snapshots saved before this field existed (no batch is then remembered).
   */
  readonly recent?: readonly RecentBatchEntry[];
}

type Entry =
  | { readonly type: 'commit'; readonly group: string; readonly partition: number; readonly offset: number }
  | { readonly type: 'producer'; readonly partition: number; readonly producer: ProducerEntry }
  | { readonly type: 'producers-covered'; readonly partition: number; readonly offset: number };

/** Entries written since the last compaction, past which the log is rewritten (when mostly stale). */
const COMPACT_AFTER_ENTRIES = 4_096;
const decoder = new TextDecoder();

/**
 * The durable side state of one stream, in its own log
 * (`stream-state/<vhost>/<stream>`): consumer groups' committed offsets and
 * snapshots of idempotent producers per partition.
 *
 * Every entry is a JSON record; reading the log in order with "last write
 * wins" per key rebuilds the state. Compaction appends one batch with every
 * live entry, then moves the log's start to it: a crash between the two
 * leaves old entries followed by the new copy, which replays to the same state.
 *
 * Durability: `commit` and `saveProducers` resolve per the store's
 * durability mode (with `always`, after fsync).
 */
export class StreamState {
  private readonly commits = new Map<string, Map<number, number>>();
  private readonly producers = new Map<number, Map<number, ProducerEntry>>();
  private readonly producersCovered = new Map<number, number>();
  private entriesSinceCompaction = 0;

  private constructor(private readonly log: Log) {}

  /** Loads the state kept in `log`. */
  static async open(log: Log): Promise<StreamState> {
    const state = new StreamState(log);
    let offset = log.startOffset();
    for (;;) {
      const records = await log.read(offset, { bytesMax: 1024 * 1024 });
      if (records.length === 0) break;
      for (const record of records) {
        state.apply(JSON.parse(decoder.decode(record.value)) as Entry);
        state.entriesSinceCompaction++;
      }
      offset = records[records.length - 1]!.offset + 1;
    }
    return state;
  }

  /** The offset group `group` committed for `partition`, or undefined. */
  committed(group: string, partition: number): number | undefined {
    return this.commits.get(group)?.get(partition);
  }

  /** Every partition's committed offset of `group`. */
  committedOffsets(group: string): ReadonlyMap<number, number> {
    return this.commits.get(group) ?? new Map();
  }

  /** Names of groups with committed offsets. */
  groups(): string[] {
    return [...this.commits.keys()];
  }

  /** Records `offset` as `group`'s position in `partition` (the next offset it will read). */
  commit(group: string, partition: number, offset: number): Promise<void> {
    return this.write([{ type: 'commit', group, partition, offset }]);
  }

  /** Forgets every offset of `group`. */
  deleteGroup(group: string): Promise<void> {
    const partitions = [...(this.commits.get(group)?.keys() ?? [])];
    this.commits.delete(group);
    if (partitions.length === 0) return Promise.resolve();
    // A negative offset is a deletion marker.
    return this.write(partitions.map((partition) => ({ type: 'commit' as const, group, partition, offset: -1 })));
  }

  /** Producer entries of `partition` as last saved, and the partition offset they cover. */
  producerSnapshot(partition: number): { entries: ProducerEntry[]; coveredOffset: number } {
    return { entries: [...(this.producers.get(partition)?.values() ?? [])], coveredOffset: this.producersCovered.get(partition) ?? 0 };
  }

  /** Saves the producers of `partition` as of `coveredOffset` (every batch below it is reflected). */
  saveProducers(partition: number, entries: readonly ProducerEntry[], coveredOffset: number): Promise<void> {
    const changed = entries.filter((entry) => {
      const saved = this.producers.get(partition)?.get(entry.producerId);
      return saved === undefined || saved.lastSequence !== entry.lastSequence || saved.epoch !== entry.epoch;
    });
    return this.write([...changed.map((producer) => ({ type: 'producer' as const, partition, producer })), { type: 'producers-covered', partition, offset: coveredOffset }]);
  }

  private apply(entry: Entry): void {
    switch (entry.type) {
      case 'commit': {
        let group = this.commits.get(entry.group);
        if (entry.offset < 0) {
          group?.delete(entry.partition);
          if (group?.size === 0) this.commits.delete(entry.group);
          return;
        }
        if (!group) this.commits.set(entry.group, (group = new Map()));
        group.set(entry.partition, entry.offset);
        return;
      }
      case 'producer': {
        let partition = this.producers.get(entry.partition);
        if (!partition) this.producers.set(entry.partition, (partition = new Map()));
        partition.set(entry.producer.producerId, entry.producer);
        return;
      }
      case 'producers-covered':
        this.producersCovered.set(entry.partition, entry.offset);
        return;
      default:
        throw new FerryError('CORRUPT_DATA', `stream state log ${this.log.name}: unknown entry ${JSON.stringify(entry)}`);
    }
  }

  private write(entries: readonly Entry[]): Promise<void> {
    for (const entry of entries) this.apply(entry);
    this.entriesSinceCompaction += entries.length;
    const appended = this.log.append(entries.map(toRecord)).then(() => undefined);
    if (this.entriesSinceCompaction >= COMPACT_AFTER_ENTRIES && this.entriesSinceCompaction > 4 * this.liveEntries().length) {
      return Promise.all([appended, this.compact()]).then(() => undefined);
    }
    return appended;
  }

  private liveEntries(): Entry[] {
    const entries: Entry[] = [];
    for (const [group, partitions] of this.commits) for (const [partition, offset] of partitions) entries.push({ type: 'commit', group, partition, offset });
    for (const [partition, producers] of this.producers) for (const producer of producers.values()) entries.push({ type: 'producer', partition, producer });
    for (const [partition, offset] of this.producersCovered) entries.push({ type: 'producers-covered', partition, offset });
    return entries;
  }

  /** Rewrites the live state as one batch and drops everything before it. */
  private async compact(): Promise<void> {
    const entries = this.liveEntries();
    this.entriesSinceCompaction = entries.length;
    const { baseOffset } = await this.log.append(entries.length > 0 ? entries.map(toRecord) : [toRecord({ type: 'producers-covered', partition: 0, offset: this.producersCovered.get(0) ?? 0 })]);
    await this.log.truncatePrefix(baseOffset);
  }
}

function toRecord(entry: Entry): RecordInput {
  return { value: transientUtf8(JSON.stringify(entry)) };
}
