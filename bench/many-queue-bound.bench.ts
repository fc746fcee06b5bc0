/**
 * A reference point for bench:core's `queues-1000`, not a Ferry benchmark: the same flow
 * (persistent 256 B publishes round-robin to 1,000 queues with 1,000 in flight, each awaiting
 * its confirm; one consumer per queue acking once per turn) on a minimal engine written for
 * it, against one queue on the same engine, in one process on this machine. It answers how
 * far a design with little per-queue work per event-loop turn gets, which Ferry's per-queue
 * objects do not:
 *
 * - one journal file, group commit (an O_DSYNC write per group, up to WRITES_IN_FLIGHT_MAX
 *   groups in flight, completed in order), a 16-byte header and a CRC-32C per message;
 * - a queue is an array of bodies and a few counters; one dispatch pass per turn over the
 *   queues that got messages; acks are counters, logged as one 12-byte record per queue
 *   touched in a turn, with the next group;
 * - `framing: "per-queue batch"` adds what Ferry's storage does per queue per turn for appends
 *   over runRecordBytesMax (and did for all before RECORDS entries): one batch (header,
 *   per-record fields, CRC over the batch) kept in the queue's segment memory. Smaller appends
 *   are now runs of a shared entry, as `per-message record` here, framed into batches later.
 *
 * No policy, no recovery, no segment files: an upper bound on the ratio, not a design.
 *
 *   node dist/bench/many-queue-bound.bench.js [--quick]
 *
 * One JSON line per framing on stdout; the directory is under os.tmpdir(), removed after.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { crc32c } from '../src/lib/crc32c.js';
import { round } from './scenario-runner.js';

const QUEUES = 1_000;
const IN_FLIGHT = 1_000;
const BODY_BYTES = 256;
const WRITES_IN_FLIGHT_MAX = 4;
const PREFETCH = 1_000;

type Framing = 'per-message record' | 'per-queue batch';

interface Group {
  parts: Buffer[];
  bytes: number;
  readonly done: Promise<void>;
  readonly resolve: () => void;
}

function newGroup(): Group {
  let resolve!: () => void;
  const done = new Promise<void>((settle) => (resolve = settle));
  return { parts: [], bytes: 0, done, resolve };
}

class BoundQueue {
  readonly ready: Buffer[] = [];
  head = 0;
  /** First ready message not yet in a batch (per-queue batch framing). */
  batchFrom = 0;
  nextOffset = 0;
  inFlight = 0;
  acked = 0;
  ackedSinceLogged = 0;
  dirty = false;
  ackDirty = false;
  readonly segmentBatches: Buffer[] = [];
  readonly segmentPositions: number[] = [];
  segmentBytes = 0;
  constructor(readonly id: number) {}
}

/** Items gathered over a turn and handed to `run` together, once, through `schedule`. */
class TurnBatch<T> {
  private items: T[] = [];
  private scheduled = false;

  constructor(
    private readonly schedule: (callback: () => void) => void,
    private readonly run: (items: T[]) => void,
  ) {}

  add(item: T): void {
    this.items.push(item);
    if (this.scheduled) return;
    this.scheduled = true;
    this.schedule(() => {
      this.scheduled = false;
      const items = this.items;
      this.items = [];
      this.run(items);
    });
  }
}

class BoundEngine {
  private group = newGroup();
  private writesInFlight = 0;
  private lastWrite: Promise<void> = Promise.resolve();
  private position = 0;
  private commitScheduled = false;
  /** Queues that got messages this turn: one dispatch pass at its end. */
  private readonly dirty = new TurnBatch<BoundQueue>(queueMicrotask, (queues) => this.pass(queues));
  /** The consumer's deliveries of a turn, acked together in the next. */
  private readonly acks = new TurnBatch<BoundQueue>(setImmediate, (queues) => this.settleAcks(queues));
  delivered = 0;

  constructor(
    private readonly fd: number,
    private readonly framing: Framing,
  ) {}

  publish(queue: BoundQueue, body: Buffer): Promise<void> {
    queue.ready.push(body);
    if (this.framing === 'per-message record') {
      const header = Buffer.allocUnsafe(16);
      header.writeUInt32LE(queue.id, 0);
      header.writeUInt32LE(queue.nextOffset, 4);
      header.writeUInt32LE(body.byteLength, 8);
      header.writeUInt32LE(crc32c(body), 12);
      this.add(header, body);
    }
    queue.nextOffset++;
    this.markDirty(queue);
    return this.group.done;
  }

  private add(...parts: Buffer[]): void {
    for (const part of parts) {
      this.group.parts.push(part);
      this.group.bytes += part.byteLength;
    }
    this.scheduleCommit();
  }

  private scheduleCommit(): void {
    if (this.commitScheduled || this.writesInFlight >= WRITES_IN_FLIGHT_MAX) return;
    this.commitScheduled = true;
    setImmediate(() => {
      this.commitScheduled = false;
      this.commit();
    });
  }

  private commit(): void {
    if (this.group.bytes === 0) return;
    const group = this.group;
    this.group = newGroup();
    const bytes = Buffer.concat(group.parts, group.bytes);
    const at = this.position;
    this.position += bytes.byteLength;
    this.writesInFlight++;
    const written = new Promise<void>((resolve, reject) => fs.write(this.fd, bytes, 0, bytes.byteLength, at, (error) => (error ? reject(error) : resolve())));
    // Groups complete in journal order.
    const previous = this.lastWrite;
    this.lastWrite = Promise.all([written, previous]).then(() => {
      this.writesInFlight--;
      group.resolve();
      if (this.group.bytes > 0) this.scheduleCommit();
    });
  }

  private markDirty(queue: BoundQueue): void {
    if (queue.dirty) return;
    queue.dirty = true;
    this.dirty.add(queue);
  }

  /** One pass over the queues that got messages this turn: frame (per-queue batch) and deliver. */
  private pass(queues: BoundQueue[]): void {
    for (const queue of queues) {
      queue.dirty = false;
      if (this.framing === 'per-queue batch') this.frameBatch(queue);
      while (queue.head < queue.ready.length && queue.inFlight < PREFETCH) {
        queue.head++;
        queue.inFlight++;
        this.deliver(queue);
      }
      if (queue.head > 1024) {
        queue.ready.splice(0, queue.head);
        queue.batchFrom -= queue.head;
        queue.head = 0;
      }
    }
  }

  /** As Ferry's storage: one batch per queue per turn (61-byte header, 18 bytes per record, CRC over the batch). */
  private frameBatch(queue: BoundQueue): void {
    const count = queue.ready.length - queue.batchFrom;
    if (count <= 0) return;
    let length = 61;
    for (let index = queue.batchFrom; index < queue.ready.length; index++) length += 18 + queue.ready[index]!.byteLength;
    const batch = Buffer.allocUnsafe(length);
    const view = new DataView(batch.buffer, batch.byteOffset, batch.byteLength);
    let at = 61;
    const nowMs = Date.now();
    for (let index = queue.batchFrom; index < queue.ready.length; index++) {
      const body = queue.ready[index]!;
      view.setUint32(at, 14 + body.byteLength, true);
      view.setFloat64(at + 4, nowMs, true);
      view.setInt32(at + 12, -1, true);
      view.setUint16(at + 16, 0, true);
      batch.set(body, at + 18);
      at += 18 + body.byteLength;
    }
    view.setFloat64(0, queue.nextOffset - count, true);
    view.setUint32(8, length, true);
    view.setUint32(12, count, true);
    view.setUint32(16, crc32c(batch.subarray(20)), true);
    queue.segmentBatches.push(batch);
    queue.segmentPositions.push(queue.segmentBytes);
    queue.segmentBytes += length;
    if (queue.segmentBatches.length > 4096) {
      queue.segmentBatches.length = 0;
      queue.segmentPositions.length = 0;
    }
    const entry = Buffer.allocUnsafe(8);
    entry.writeUInt32LE(queue.id, 0);
    entry.writeUInt32LE(length, 4);
    this.add(entry, batch);
    queue.batchFrom = queue.ready.length;
  }

  /** The consumer: counts, and acks once per turn. */
  private deliver(queue: BoundQueue): void {
    this.delivered++;
    this.acks.add(queue);
  }

  private settleAcks(acked: BoundQueue[]): void {
    const touched: BoundQueue[] = [];
    for (const queue of acked) {
      queue.inFlight--;
      queue.acked++;
      queue.ackedSinceLogged++;
      if (!queue.ackDirty) {
        queue.ackDirty = true;
        touched.push(queue);
      }
    }
    for (const queue of touched) {
      queue.ackDirty = false;
      const record = Buffer.allocUnsafe(12);
      record.writeUInt32LE((queue.id | 0x8000_0000) >>> 0, 0);
      record.writeUInt32LE(queue.acked, 4);
      record.writeUInt32LE(queue.ackedSinceLogged, 8);
      queue.ackedSinceLogged = 0;
      // Lazy: with the next group something else starts.
      this.group.parts.push(record);
      this.group.bytes += record.byteLength;
      if (queue.head < queue.ready.length) this.markDirty(queue);
    }
  }

  async drained(): Promise<void> {
    while (this.writesInFlight > 0 || this.group.bytes > 0) {
      this.scheduleCommit();
      await this.lastWrite;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
}

async function flow(engine: BoundEngine, queues: readonly BoundQueue[], durationMs: number): Promise<{ rate: number; cpuUsPerMsg: number }> {
  const body = Buffer.alloc(BODY_BYTES, 1);
  let sequence = 0;
  const deliveredBefore = engine.delivered;
  const startMs = performance.now();
  const cpuBefore = process.cpuUsage();
  const deadlineMs = startMs + durationMs;
  const publisher = async (): Promise<void> => {
    while (performance.now() < deadlineMs) await engine.publish(queues[sequence++ % queues.length]!, body);
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, publisher));
  while (engine.delivered - deliveredBefore < sequence) await new Promise((resolve) => setImmediate(resolve));
  const seconds = (performance.now() - startMs) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  return { rate: sequence / seconds, cpuUsPerMsg: (cpu.user + cpu.system) / sequence };
}

async function measure(framing: Framing, quick: boolean): Promise<Record<string, unknown>> {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-bound-'));
  const fd = fs.openSync(path.join(directory, 'journal'), fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_DSYNC);
  try {
    const engine = new BoundEngine(fd, framing);
    const single = [new BoundQueue(0)];
    const many = Array.from({ length: quick ? 100 : QUEUES }, (_, index) => new BoundQueue(index + 1));
    const measureMs = quick ? 150 : 2_500;
    await flow(engine, single, quick ? 50 : 1_000);
    await flow(engine, many, quick ? 50 : 1_000);
    const singles: { rate: number; cpuUsPerMsg: number }[] = [];
    const manys: { rate: number; cpuUsPerMsg: number }[] = [];
    // Alternating, so a noisy neighbour hits both alike.
    for (let round = 0; round < 2; round++) {
      singles.push(await flow(engine, single, measureMs));
      manys.push(await flow(engine, many, measureMs));
    }
    await engine.drained();
    const mean = (results: { rate: number }[]) => results.reduce((sum, result) => sum + result.rate, 0) / results.length;
    return {
      scenario: 'many-queue-bound',
      framing,
      ratioToSingleQueue: round(mean(manys) / mean(singles)),
      msgsPerSec: Math.round(mean(manys)),
      singleQueueMsgsPerSec: Math.round(mean(singles)),
      cpuUsPerMsg: round(manys[0]!.cpuUsPerMsg, 2),
      singleCpuUsPerMsg: round(singles[0]!.cpuUsPerMsg, 2),
      queues: many.length,
      cores: os.cpus().length,
      quick,
    };
  } finally {
    fs.closeSync(fd);
    fs.rmSync(directory, { recursive: true, force: true });
  }
}

const quick = process.argv.includes('--quick');
for (const framing of ['per-message record', 'per-queue batch'] as const) console.log(JSON.stringify(await measure(framing, quick)));
