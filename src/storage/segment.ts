import { assert } from '../lib/assert.js';
import { crc32c } from '../lib/crc32c.js';
import { FerryError } from '../lib/ferry-error.js';
import { joinPath, type FileHandle, type FileSystem } from '../platform/file-system.js';
import { checkBatch, type BatchHeader } from './record-batch.js';
import { SegmentIndex } from './segment-index.js';

/**
 * Segment file, version 1: a 32-byte header, then record batches back to back.
 *
 *   0                 8          12         16               24               32
 *   +-----------------+----------+----------+----------------+----------------+
 *   | "FRYSEG\0\0"    | version  | crc32c   | baseOffset     | reserved (0)   |
 *   +-----------------+----------+----------+----------------+----------------+
 *   | batch | batch | batch | ...                                              |
 *
 * The header CRC covers bytes [16, 32). Named `<baseOffset, 20 digits>.seg`;
 * its index is `<same>.idx` (see SegmentIndex).
 */
export const SEGMENT_HEADER_BYTES = 32;
export const SEGMENT_FORMAT_VERSION = 1;
/**
 * Suffix of the file a compaction writes before renaming it over its segment
 * (`<base>.compacting`); one left by a crash is deleted at recovery.
 */
export const COMPACTING_FILE_SUFFIX = '.compacting';
const SEGMENT_MAGIC = new Uint8Array([0x46, 0x52, 0x59, 0x53, 0x45, 0x47, 0, 0]); // "FRYSEG\0\0"

/** File name of the segment starting at `baseOffset`. */
export function segmentFileName(baseOffset: number): string {
  return `${String(baseOffset).padStart(20, '0')}.seg`;
}

/** Base offset encoded in a segment or index file name, or undefined for other names. */
export function parseSegmentFileName(name: string, suffix: '.seg' | '.idx'): number | undefined {
  if (!name.endsWith(suffix) || name.length !== 20 + suffix.length) return undefined;
  const digits = name.slice(0, 20);
  return /^\d{20}$/.test(digits) ? Number(digits) : undefined;
}

/** The 32-byte header of the segment starting at `baseOffset`. */
export function encodeSegmentHeader(baseOffset: number): Uint8Array {
  const bytes = new Uint8Array(SEGMENT_HEADER_BYTES);
  const view = new DataView(bytes.buffer);
  bytes.set(SEGMENT_MAGIC, 0);
  view.setUint32(8, SEGMENT_FORMAT_VERSION, true);
  view.setUint32(16, baseOffset % 0x1_0000_0000, true);
  view.setUint32(20, Math.floor(baseOffset / 0x1_0000_0000), true);
  view.setUint32(12, crc32c(bytes.subarray(16)), true);
  return bytes;
}

/** Checks a segment header; throws UNKNOWN_FORMAT_VERSION or CORRUPT_DATA. */
function verifySegmentHeader(bytes: Uint8Array, path: string, baseOffset: number): void {
  if (bytes.byteLength < SEGMENT_HEADER_BYTES) throw new FerryError('CORRUPT_DATA', `${path}: segment header is truncated`);
  for (let i = 0; i < 6; i++) {
    if (bytes[i] !== SEGMENT_MAGIC[i]) throw new FerryError('CORRUPT_DATA', `${path}: not a Ferry segment file`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, SEGMENT_HEADER_BYTES);
  const version = view.getUint32(8, true);
  if (version !== SEGMENT_FORMAT_VERSION) {
    throw new FerryError(
      'UNKNOWN_FORMAT_VERSION',
      `${path}: segment format version ${version}, this Ferry reads version ${SEGMENT_FORMAT_VERSION}`,
    );
  }
  if (view.getUint32(12, true) !== crc32c(bytes.subarray(16, SEGMENT_HEADER_BYTES))) {
    throw new FerryError('CORRUPT_DATA', `${path}: segment header checksum mismatch`);
  }
  const storedBase = view.getUint32(20, true) * 0x1_0000_0000 + view.getUint32(16, true);
  if (storedBase !== baseOffset) {
    throw new FerryError('CORRUPT_DATA', `${path}: header says base offset ${storedBase}, file name says ${baseOffset}`);
  }
}

/** What a scan of a segment file found. */
export interface SegmentScan {
  /** Bytes of the valid prefix (header included). */
  readonly validBytes: number;
  /** Why the scan stopped before the end of the file, if it did. */
  readonly stoppedBecause: string | null;
}

/**
 * The chunks most recently read from segment files, with their batches
 * (checksums verified), least recently read first: small sequential reads of
 * large batches (a reader taking 10 messages of a 1,000-message batch) are
 * served from here instead of reading and verifying the same bytes again.
 * File bytes below a segment's memory start never change (a compaction
 * replaces the whole Segment, and retire() drops its entry), so an entry is
 * never stale. Bounded: RECENT_CHUNKS_MAX chunks of about 256 KiB each (16 MiB).
 */
const RECENT_CHUNKS = new Map<Segment, { readonly positions: number[]; readonly batches: Uint8Array[] }>();
const RECENT_CHUNKS_MAX = 64;

/**
 * One segment of a log: its file, its index, and the batches it holds in
 * memory. Appends land in memory first and are written by `flush()`; the
 * segment keeps recent batches after writing them, up to the cache budget
 * its log gives it, so consumers at the tail read without I/O.
 *
 * Durability: nothing here fsyncs on append. The store's journal makes
 * appends durable; `sync()` is called at checkpoints.
 */
export class Segment {
  // What an append touches comes first: fields are laid out in declaration order, and a store of
  // many logs appends to each segment with it out of cache (see Queue's note on its hot fields).
  /** Logical size: header + every batch appended, written or not. */
  sizeBytes = SEGMENT_HEADER_BYTES;
  /** The offset after the last record. */
  endOffset: number;
  sealed = false;
  /** Clock time of the first append, for age-based rolling (undefined while empty). */
  firstAppendMs: number | undefined;
  /** True when bytes were written since the last sync. */
  dirty = false;
  private memoryStart = SEGMENT_HEADER_BYTES;
  /** Bytes of the batches held in memory. */
  private memoryBytes = 0;
  /**
   * The batches held in memory (written-but-unflushed, or cached for readers at the tail):
   * batch i is `memoryPositions[i+1] - memoryPositions[i]` bytes (the last one's end is
   * `sizeBytes`) at `memoryByteOffsets[i]` in `memoryBuffers[i]`, and they cover
   * [memoryStart, sizeBytes) without gaps. Kept as three arrays of references and small
   * integers, not as a view object (and a wrapper) per batch: a log of many small batches
   * (a queue among thousands, one message a batch) then keeps no object per batch for the
   * garbage collector to copy and mark while it waits to be written, and nothing is copied.
   * A view is made when a batch is read or written.
   */
  private memoryBuffers: ArrayBufferLike[] = [];
  private memoryByteOffsets: number[] = [];
  private memoryPositions: number[] = [];
  /** Sparse offset and time index (rebuilt by a scan when its file is missing). */
  index: SegmentIndex;
  /** Bytes handed to the file system (written, maybe not synced). */
  flushedBytes = SEGMENT_HEADER_BYTES;
  readonly path: string;
  readonly indexPath: string;
  indexWritten = false;
  /** True once the segment is deleted: no more writes. */
  dropped = false;
  /**
   * True from the creation of the file until its directory is synced: a new
   * file's directory entry is not durable before that, whatever its data.
   */
  createdSinceDirectorySync = false;
  /**
   * False for a segment created by this process until a directory sync made
   * its file's entry durable for an APPEND_REFERENCE (checkpoints do not set it).
   */
  entryDurable = true;
  /**
   * Sequence of the newest journal file holding an APPEND_REFERENCE to a batch
   * of this segment (-1: none): its file must outlive that journal file.
   */
  referencedInJournal = -1;
  /**
   * True once a compacted copy took this segment's place in its log: no new
   * read may start here. Reads in flight finish on the old file (its handle
   * stays open until the last one ends), then the handle is closed.
   */
  retired = false;
  /** Reads from the file in flight, so a retired segment knows when to close its handle. */
  private readsInFlight = 0;
  /** A rename of a compacted copy over this file, in flight: `remove()` waits for it. */
  private replacing: Promise<void> | null = null;
  private indexWriting: Promise<void> | null = null;
  private file: FileHandle | null = null;
  private opening: Promise<FileHandle> | null = null;
  private flushing: Promise<void> | null = null;
  /** Bytes of the file known durable: fdatasynced, or written through the O_DSYNC handle (-1: none known). */
  private syncedBytes = -1;
  private dataSyncOpening: Promise<FileHandle> | null = null;

  private constructor(
    private readonly fileSystem: FileSystem,
    directory: string,
    readonly baseOffset: number,
    private readonly indexIntervalBytes: number,
  ) {
    this.index = new SegmentIndex(indexIntervalBytes);
    this.path = joinPath(directory, segmentFileName(baseOffset));
    this.indexPath = this.path.replace(/\.seg$/, '.idx');
    this.endOffset = baseOffset;
  }

  /** A new, empty segment. Its file is created (with its header) on first flush. */
  static create(fileSystem: FileSystem, directory: string, baseOffset: number, indexIntervalBytes: number): Segment {
    const segment = new Segment(fileSystem, directory, baseOffset, indexIntervalBytes);
    segment.flushedBytes = 0; // The header itself is not written yet.
    segment.syncedBytes = 0; // No file yet: nothing written to lose.
    segment.memoryStart = 0;
    segment.keep(encodeSegmentHeader(baseOffset), 0);
    segment.dirty = true;
    segment.entryDurable = false;
    return segment;
  }

  /**
   * The sealed segment a compaction wrote (already renamed into place and
   * synced): its index was built while writing, so nothing is read here.
   */
  static compacted(
    fileSystem: FileSystem,
    directory: string,
    baseOffset: number,
    indexIntervalBytes: number,
    written: { readonly index: SegmentIndex; readonly sizeBytes: number; readonly endOffset: number },
  ): Segment {
    const segment = new Segment(fileSystem, directory, baseOffset, indexIntervalBytes);
    segment.index = written.index;
    segment.sizeBytes = written.sizeBytes;
    segment.flushedBytes = written.sizeBytes;
    segment.memoryStart = written.sizeBytes;
    segment.endOffset = written.endOffset;
    segment.sealed = true;
    return segment;
  }

  /**
   * Opens an existing segment file. Sealed segments load their index file
   * (rebuilt by a scan when missing or damaged); the active one is scanned,
   * every batch's CRC checked, and cut back to its valid prefix.
   * `trustedBytes` limits the scan of the active segment (bytes known durable).
   */
  static async open(
    fileSystem: FileSystem,
    directory: string,
    baseOffset: number,
    indexIntervalBytes: number,
    mode: { readonly sealed: boolean; readonly lengthBytes?: number },
  ): Promise<{ segment: Segment; scan: SegmentScan | null }> {
    const segment = new Segment(fileSystem, directory, baseOffset, indexIntervalBytes);
    const file = await fileSystem.open(segment.path, { write: !mode.sealed });
    segment.file = file;
    let fileBytes = await file.size();
    const header = new Uint8Array(SEGMENT_HEADER_BYTES);
    const headerRead = await file.read(header, 0, SEGMENT_HEADER_BYTES, 0);
    verifySegmentHeader(header.subarray(0, headerRead), segment.path, baseOffset);
    // A cut is not durable until a sync: the segment is dirty, so the checkpoint ending recovery
    // syncs it even when nothing is appended to it (a tail whose journal references were dropped).
    let cut = false;
    if (mode.lengthBytes !== undefined && mode.lengthBytes < fileBytes) {
      assert(!mode.sealed, 'only an active segment is cut to a checkpointed length');
      await file.truncate(mode.lengthBytes);
      fileBytes = mode.lengthBytes;
      cut = true;
    }
    let scan: SegmentScan | null = null;
    if (mode.sealed) {
      try {
        const indexBytes = await fileSystem.readFile(segment.indexPath);
        segment.index = SegmentIndex.decode(indexBytes, indexIntervalBytes);
        segment.indexWritten = true;
        segment.sizeBytes = fileBytes;
        segment.endOffset = await segment.lastOffsetAfter(fileBytes);
      } catch (error) {
        if (!(error instanceof FerryError) || (error.code !== 'CORRUPT_DATA' && error.code !== 'FILE_NOT_FOUND')) throw error;
        scan = await segment.scan(fileBytes);
        if (scan.validBytes !== fileBytes) {
          throw new FerryError('CORRUPT_DATA', `${segment.path}: sealed segment damaged at byte ${scan.validBytes} (${scan.stoppedBecause})`);
        }
      }
    } else {
      scan = await segment.scan(fileBytes);
      if (scan.validBytes < fileBytes) {
        await file.truncate(scan.validBytes);
        cut = true;
      }
    }
    segment.flushedBytes = segment.sizeBytes;
    segment.memoryStart = segment.sizeBytes;
    segment.sealed = mode.sealed;
    segment.dirty = cut;
    return { segment, scan };
  }

  /** The end offset of a sealed segment, from its last indexed batch onwards. */
  private async lastOffsetAfter(fileBytes: number): Promise<number> {
    let position = this.index.positionFor(Number.MAX_SAFE_INTEGER);
    if (position === 0) position = SEGMENT_HEADER_BYTES;
    let endOffset = this.baseOffset;
    while (position < fileBytes) {
      const header = await this.readHeaderAt(position, fileBytes);
      if (!header) throw new FerryError('CORRUPT_DATA', `${this.path}: batch at byte ${position} is damaged`);
      endOffset = header.baseOffset + header.recordCount;
      position += header.lengthBytes;
    }
    return endOffset;
  }

  private async readHeaderAt(position: number, fileBytes: number): Promise<BatchHeader | null> {
    const buffer = new Uint8Array(Math.min(64 * 1024, fileBytes - position));
    await this.readFully(buffer, position);
    let check = checkBatch(buffer, 0);
    if (check.kind === 'incomplete' && position + check.bytesNeeded <= fileBytes) {
      const whole = new Uint8Array(check.bytesNeeded);
      await this.readFully(whole, position);
      check = checkBatch(whole, 0);
    }
    return check.kind === 'ok' ? check.header : null;
  }

  /**
   * Reads the file from the header on, verifying every batch, rebuilding the
   * index and finding where the valid prefix ends. Reads in 1 MiB chunks.
   */
  private async scan(fileBytes: number): Promise<SegmentScan> {
    this.index = new SegmentIndex(this.indexIntervalBytes);
    let position = SEGMENT_HEADER_BYTES;
    let expectedOffset = this.baseOffset;
    let stoppedBecause: string | null = null;
    let chunk = new Uint8Array(1 << 20);
    outer: while (position < fileBytes) {
      const length = Math.min(chunk.byteLength, fileBytes - position);
      const view = chunk.subarray(0, length);
      await this.readFully(view, position);
      let at = 0;
      while (at < length) {
        const check = checkBatch(view, at);
        if (check.kind === 'incomplete') {
          if (position + at + check.bytesNeeded > fileBytes) {
            stoppedBecause = 'torn batch at the end of the file';
            position += at;
            break outer;
          }
          if (at === 0) chunk = new Uint8Array(Math.max(chunk.byteLength * 2, check.bytesNeeded));
          break;
        }
        if (check.kind === 'unknown-version') {
          throw new FerryError('UNKNOWN_FORMAT_VERSION', `${this.path}: batch format version ${check.version} at byte ${position + at}`);
        }
        if (check.kind === 'corrupt' || check.header.baseOffset !== expectedOffset) {
          stoppedBecause = check.kind === 'corrupt' ? check.reason : `offset ${check.header.baseOffset} where ${expectedOffset} was due`;
          position += at;
          break outer;
        }
        this.index.addBatch(expectedOffset - this.baseOffset, position + at, check.header.maxTimestampMs);
        expectedOffset += check.header.recordCount;
        at += check.header.lengthBytes;
      }
      position += at;
    }
    this.sizeBytes = Math.min(position, fileBytes);
    this.endOffset = expectedOffset;
    return { validBytes: this.sizeBytes, stoppedBecause };
  }

  private async readFully(target: Uint8Array, position: number): Promise<void> {
    const file = await this.handle();
    let done = 0;
    while (done < target.byteLength) {
      const count = await file.read(target, done, target.byteLength - done, position + done);
      if (count === 0) throw new FerryError('CORRUPT_DATA', `${this.path}: unexpected end of file at byte ${position + done}`);
      done += count;
    }
  }

  private handle(): Promise<FileHandle> {
    if (this.file) return Promise.resolve(this.file);
    if (!this.opening) {
      // A segment sealed before its first flush still has its header and batches to write.
      const write = !this.sealed || this.flushedBytes < this.sizeBytes;
      const create = this.flushedBytes === 0;
      this.opening = this.fileSystem.open(this.path, { write, create }).then((file) => {
        if (create) this.createdSinceDirectorySync = true;
        this.file = file;
        return file;
      });
    }
    return this.opening;
  }

  /** Adds an encoded batch (offsets from `this.endOffset`). Synchronous: the bytes are kept in memory until flushed. */
  append(bytes: Uint8Array, recordCount: number, maxTimestampMs: number, nowMs: number): number {
    assert(!this.sealed, 'appends go to the active segment only');
    const position = this.sizeBytes;
    this.keep(bytes, position);
    this.index.addBatch(this.endOffset - this.baseOffset, position, maxTimestampMs);
    this.sizeBytes += bytes.byteLength;
    this.endOffset += recordCount;
    this.firstAppendMs ??= nowMs;
    this.dirty = true;
    return position;
  }

  /** Adds `bytes`, which belong at file position `position` (the end of memory), to memory. */
  private keep(bytes: Uint8Array, position: number): void {
    assert(position === this.memoryStart + this.memoryBytes, 'memory covers the segment up to its end');
    this.memoryBuffers.push(bytes.buffer);
    this.memoryByteOffsets.push(bytes.byteOffset);
    this.memoryPositions.push(position);
    this.memoryBytes += bytes.byteLength;
  }

  /** A view of batch `index` of memory; `end` is where the memory ends (sizeBytes when it was added). */
  private memoryView(index: number, end: number): Uint8Array {
    const position = this.memoryPositions[index]!;
    const next = index + 1 < this.memoryPositions.length ? this.memoryPositions[index + 1]! : end;
    return new Uint8Array(this.memoryBuffers[index]!, this.memoryByteOffsets[index]!, next - position);
  }

  /** Bytes appended but not yet written to the file. */
  unflushedBytes(): number {
    return this.sizeBytes - this.flushedBytes;
  }

  /** Writes every appended batch to the file (no fsync). Concurrent calls share one write. */
  flush(): Promise<void> {
    if (this.flushing) return this.flushing.then(() => (this.flushedBytes < this.sizeBytes ? this.flush() : undefined));
    if (this.flushedBytes === this.sizeBytes) return Promise.resolve();
    this.flushing = this.writeUnflushed().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  /** With `dataSync` (only when every byte before `flushedBytes` is durable), through the O_DSYNC handle. */
  private async writeUnflushed(dataSync = false): Promise<void> {
    const file = dataSync ? await this.dataSyncHandle() : await this.handle();
    const start = this.flushedBytes;
    const buffers: Uint8Array[] = [];
    let end = start;
    // The unflushed batches are the newest: walk back to the first of them, not over the whole cache.
    const positions = this.memoryPositions;
    let first = positions.length;
    while (first > 0 && positions[first - 1]! >= start) first--;
    for (let i = first; i < positions.length; i++) buffers.push(this.memoryView(i, this.sizeBytes));
    if (first < positions.length) end = this.sizeBytes;
    assert(end === this.sizeBytes, 'memory holds every unflushed batch');
    await file.write(buffers, start);
    this.flushedBytes = end;
    if (dataSync) {
      this.syncedBytes = end;
      await this.releaseDataSyncHandleWhenDone();
    }
  }

  /** Drops written batches from memory, oldest first, until at most `keepBytes` remain cached. */
  trimCache(keepBytes: number): void {
    const positions = this.memoryPositions;
    let drop = 0;
    let dropBytes = 0;
    while (drop < positions.length && this.memoryBytes - dropBytes > keepBytes) {
      const end = drop + 1 < positions.length ? positions[drop + 1]! : this.sizeBytes;
      if (end > this.flushedBytes) break;
      dropBytes += end - positions[drop]!;
      drop++;
    }
    if (drop > 0) {
      this.memoryBuffers.splice(0, drop);
      this.memoryByteOffsets.splice(0, drop);
      positions.splice(0, drop);
      this.memoryBytes -= dropBytes;
      this.memoryStart = positions.length > 0 ? positions[0]! : this.flushedBytes;
    }
  }

  /** Makes written bytes durable. */
  async sync(): Promise<void> {
    if (!this.dirty || this.dropped) return;
    this.dirty = false;
    await this.flush();
    await this.syncWritten();
  }

  /** Fdatasyncs what is written so far. */
  private async syncWritten(): Promise<void> {
    const file = await this.handle();
    const written = this.flushedBytes;
    await file.sync();
    if (written > this.syncedBytes) this.syncedBytes = written;
  }

  /**
   * Writes every appended batch (the header too, for a new file) and makes it durable:
   * resolves once every batch appended before the call is durable in the file (its
   * directory entry aside). Leaves `dirty` alone: the next checkpoint syncs again.
   *
   * When nothing was written since the file was last durable, the rest goes in one
   * O_DSYNC write (a second handle): one system call instead of a write and then an
   * fdatasync, which waits for the event loop between the two (measured with 4 stream
   * appends of 128 KB per group: 2.4 ms a group before, against 0.9 ms for the raw
   * write and sync). Otherwise (a background flush wrote part of it) the file is
   * written and fdatasynced.
   */
  async syncAppended(): Promise<void> {
    const target = this.sizeBytes;
    while (this.flushing !== null) await this.flushing;
    if (this.syncedBytes >= target) return; // An O_DSYNC write since the call covered it.
    if (this.syncedBytes === this.flushedBytes) {
      this.flushing = this.writeUnflushed(true).finally(() => {
        this.flushing = null;
      });
      await this.flushing;
      return;
    }
    await this.flush();
    await this.syncWritten();
    await this.releaseDataSyncHandleWhenDone();
  }

  /** Sealed and all durable: no more writes come, so the O_DSYNC handle (if open) goes. */
  private async releaseDataSyncHandleWhenDone(): Promise<void> {
    if (this.sealed && this.syncedBytes === this.sizeBytes) await this.closeDataSyncHandle();
  }

  /** The O_DSYNC handle of {@link syncAppended}, opened once the file exists. */
  private dataSyncHandle(): Promise<FileHandle> {
    if (this.dataSyncOpening === null) {
      const opening = this.handle().then(() => this.fileSystem.open(this.path, { write: true, dataSync: true }));
      this.dataSyncOpening = opening;
      opening.catch(() => {
        if (this.dataSyncOpening === opening) this.dataSyncOpening = null;
      });
    }
    return this.dataSyncOpening;
  }

  /** Closes the O_DSYNC handle, if open. */
  private async closeDataSyncHandle(): Promise<void> {
    const opening = this.dataSyncOpening;
    this.dataSyncOpening = null;
    const file = opening === null ? null : await opening.catch(() => null);
    await file?.close();
  }

  /** Writes the index file (not synced; a lost index is rebuilt by a scan). */
  writeIndex(): Promise<void> {
    assert(this.sealed, 'only sealed segments get an index file');
    // A segment being replaced must not get its old index back next to the new file.
    if (this.dropped || this.indexWritten || this.retired || this.replacing !== null) return Promise.resolve();
    this.indexWriting ??= this.writeIndexFile().finally(() => {
      this.indexWriting = null;
    });
    return this.indexWriting;
  }

  private async writeIndexFile(): Promise<void> {
    await this.flush();
    // Sealed before its last direct write was checked for it: no write comes after this.
    await this.releaseDataSyncHandleWhenDone();
    const bytes = this.index.encode();
    const file = await this.fileSystem.open(this.indexPath, { write: true, create: true });
    try {
      await file.truncate(0);
      await file.write([bytes], 0);
      await file.sync();
    } finally {
      await file.close();
    }
    this.indexWritten = true;
  }

  /**
   * Reads whole batches starting at `position` (a batch boundary) until about
   * `bytesWanted` are gathered or the segment ends. Batches read from the file
   * are CRC-checked (a damaged one is CORRUPT_DATA, never returned) unless
   * `verifyChecksums` is false: then the caller checks each batch it uses.
   */
  async readBatchesAt(position: number, bytesWanted: number, verifyChecksums = true): Promise<Uint8Array[]> {
    if (position >= this.sizeBytes) return [];
    if (position >= this.memoryStart) return this.readFromMemory(position, bytesWanted);
    // Once retired, a lazily reopened handle would name the compacted file, whose positions differ.
    assert(!this.retired || this.readsInFlight > 0, 'no read starts on a retired segment');
    this.readsInFlight++;
    try {
      return await this.readFromFile(position, bytesWanted, verifyChecksums);
    } finally {
      this.readsInFlight--;
      if (this.retired && this.readsInFlight === 0) void this.close().catch(() => undefined);
    }
  }

  private fromLastChunk(position: number, bytesWanted: number): Uint8Array[] | null {
    const chunk = RECENT_CHUNKS.get(this);
    if (chunk === undefined) return null;
    const first = chunk.positions.indexOf(position);
    if (first < 0) return null;
    const out: Uint8Array[] = [];
    let bytes = 0;
    for (let index = first; index < chunk.batches.length && (bytes < bytesWanted || out.length === 0); index++) {
      out.push(chunk.batches[index]!);
      bytes += chunk.batches[index]!.byteLength;
    }
    return out;
  }

  private async readFromFile(position: number, bytesWanted: number, verifyChecksums: boolean): Promise<Uint8Array[]> {
    if (verifyChecksums) {
      const cached = this.fromLastChunk(position, bytesWanted);
      if (cached !== null) return cached;
    }
    const limit = Math.min(this.memoryStart, this.sizeBytes);
    // Up to a batch start the index knows, so the read ends with a whole batch: a read ending
    // inside a batch would be cut there and that batch read again from its start by the next one.
    const wantedEnd = position + Math.max(bytesWanted, 64 * 1024);
    let length = Math.min(this.index.batchPositionAtOrAfter(wantedEnd) ?? wantedEnd, limit) - position;
    for (;;) {
      // Unzeroed memory: every byte is overwritten by the read before it is used.
      const buffer = Buffer.allocUnsafeSlow(length) as Uint8Array;
      await this.readFully(buffer, position);
      const batches: Uint8Array[] = [];
      const positions: number[] = [];
      let at = 0;
      while (at < length) {
        const check = checkBatch(buffer, at, verifyChecksums);
        if (check.kind === 'incomplete') break;
        if (check.kind !== 'ok') {
          throw new FerryError(
            check.kind === 'unknown-version' ? 'UNKNOWN_FORMAT_VERSION' : 'CORRUPT_DATA',
            `${this.path}: batch at byte ${position + at} is unreadable (${check.kind === 'corrupt' ? check.reason : `version ${check.version}`})`,
          );
        }
        batches.push(buffer.subarray(at, at + check.header.lengthBytes));
        positions.push(position + at);
        at += check.header.lengthBytes;
      }
      if (batches.length > 0) {
        if (verifyChecksums) {
          RECENT_CHUNKS.delete(this);
          RECENT_CHUNKS.set(this, { positions, batches });
          if (RECENT_CHUNKS.size > RECENT_CHUNKS_MAX) RECENT_CHUNKS.delete(RECENT_CHUNKS.keys().next().value!);
        }
        return batches;
      }
      const check = checkBatch(buffer, 0);
      if (check.kind !== 'incomplete' || position + check.bytesNeeded > limit) {
        throw new FerryError('CORRUPT_DATA', `${this.path}: batch at byte ${position} runs past the end of the segment`);
      }
      length = check.bytesNeeded;
    }
  }

  private readFromMemory(position: number, bytesWanted: number): Uint8Array[] {
    const positions = this.memoryPositions;
    let low = 0;
    let high = positions.length - 1;
    let first = positions.length;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      if (positions[middle]! >= position) {
        first = middle;
        high = middle - 1;
      } else {
        low = middle + 1;
      }
    }
    const batches: Uint8Array[] = [];
    let gathered = 0;
    for (let i = first; i < positions.length && (gathered < bytesWanted || batches.length === 0); i++) {
      if (positions[i] === 0) continue; // The segment header, before its first flush.
      const batch = this.memoryView(i, this.sizeBytes);
      batches.push(batch);
      gathered += batch.byteLength;
    }
    return batches;
  }

  /** Closes the file handle; the segment can be reopened lazily by a later read. */
  async close(): Promise<void> {
    const file = this.file ?? (this.opening ? await this.opening : null);
    this.file = null;
    this.opening = null;
    await this.closeDataSyncHandle();
    if (file) await file.close();
  }

  /**
   * Runs `replace`, which renames a compacted copy over this segment's file,
   * with this segment's file handle open first: reads that started before
   * keep reading the old file through it. `remove()` waits for the rename, so
   * a segment dropped meanwhile is not brought back by it.
   */
  async replaceFile(replace: () => Promise<void>): Promise<void> {
    assert(this.sealed && !this.dropped && !this.retired && this.replacing === null, 'one replacement of a live sealed segment at a time');
    const run = (async () => {
      await this.indexWriting?.catch(() => undefined);
      await this.handle();
      await replace();
    })();
    this.replacing = run.catch(() => undefined);
    await run;
  }

  /** Marks the segment replaced by its compacted copy; the handle closes once reads in flight end. */
  retire(): void {
    this.retired = true;
    RECENT_CHUNKS.delete(this);
    if (this.readsInFlight === 0) void this.close().catch(() => undefined);
  }

  /** Deletes the segment's files (after any write or replacement in flight). */
  async remove(): Promise<void> {
    RECENT_CHUNKS.delete(this);
    this.dropped = true;
    await this.replacing;
    await this.indexWriting?.catch(() => undefined);
    await this.flushing?.catch(() => undefined);
    await this.close();
    await this.fileSystem.unlink(this.path);
    await this.fileSystem.unlink(this.indexPath);
  }
}
