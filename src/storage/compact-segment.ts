import { assert } from '../lib/assert.js';
import type { StoredRecord } from '../core/ports.js';
import type { FileHandle, FileSystem } from '../platform/file-system.js';
import { BatchCompactor } from './batch-compactor.js';
import { decodeBatch, readBatchHeader } from './record-batch.js';
import { COMPACTING_FILE_SUFFIX, encodeSegmentHeader, Segment, SEGMENT_HEADER_BYTES } from './segment.js';
import { SegmentIndex } from './segment-index.js';

/** A compacted copy of a segment, fsynced under its temporary name, ready to be renamed into place. */
export interface CompactedSegmentFile {
  readonly temporaryPath: string;
  readonly index: SegmentIndex;
  readonly sizeBytes: number;
  readonly endOffset: number;
  readonly recordsRemoved: number;
}

/** Reads of the source and writes of the copy go in pieces of about this size, so memory stays bounded. */
const CHUNK_BYTES = 1024 * 1024;

/**
 * Compacts the sealed segment `source` into `<base>.compacting` next to it
 * (see `Log.compact` for what is kept). Two passes: the first reads every
 * batch and asks `keep` about each live record at or after `startOffset`,
 * remembering the refusals in a bitmap of the segment's offsets (one bit
 * each); only when there is one does the second pass write the copy, fsync
 * it and close it. Resolves null when `keep` refused nothing (no file is
 * written). On failure, the temporary file is removed and the error rethrown;
 * the source is never modified.
 */
export async function compactSegment(
  fileSystem: FileSystem,
  source: Segment,
  keep: (record: StoredRecord) => boolean,
  startOffset: number,
  indexIntervalBytes: number,
): Promise<CompactedSegmentFile | null> {
  assert(source.sealed, 'only sealed segments are compacted');
  const base = source.baseOffset;
  const removed = new Uint8Array(Math.ceil((source.endOffset - base) / 8));
  let removedCount = 0;
  await forEachBatch(source, (bytes) => {
    const header = readBatchHeader(bytes);
    if (header.baseOffset + header.recordCount <= startOffset) return;
    for (const record of decodeBatch(bytes).records) {
      if (record.offset < startOffset || keep(record)) continue;
      const relative = record.offset - base;
      removed[relative >>> 3]! |= 1 << (relative & 7);
      removedCount++;
    }
  });
  if (removedCount === 0) return null;

  const temporaryPath = source.path.replace(/\.seg$/, COMPACTING_FILE_SUFFIX);
  const file = await fileSystem.open(temporaryPath, { write: true, create: true });
  try {
    const written = await writeCopy(file, source, removed, startOffset, indexIntervalBytes);
    assert(written.recordsRemoved === removedCount, 'the second pass removes what the first decided');
    await file.sync();
    await file.close();
    return { temporaryPath, ...written };
  } catch (error) {
    await file.close().catch(() => undefined);
    await fileSystem.unlink(temporaryPath).catch(() => undefined);
    throw error;
  }
}

async function writeCopy(
  file: FileHandle,
  source: Segment,
  removed: Uint8Array,
  startOffset: number,
  indexIntervalBytes: number,
): Promise<{ index: SegmentIndex; sizeBytes: number; endOffset: number; recordsRemoved: number }> {
  const base = source.baseOffset;
  const isRemoved = (offset: number): boolean => {
    const relative = offset - base;
    return (removed[relative >>> 3]! & (1 << (relative & 7))) !== 0;
  };
  const compactor = new BatchCompactor((record) => !isRemoved(record.offset), startOffset);
  const index = new SegmentIndex(indexIntervalBytes);
  await file.truncate(0);
  let pending: Uint8Array[] = [encodeSegmentHeader(base)];
  let pendingBytes = SEGMENT_HEADER_BYTES;
  let writtenBytes = 0;
  let endOffset = base;
  const add = (batches: Uint8Array[]): void => {
    for (const bytes of batches) {
      const header = readBatchHeader(bytes);
      assert(header.baseOffset === endOffset, 'the copy keeps offsets contiguous');
      index.addBatch(header.baseOffset - base, writtenBytes + pendingBytes, header.maxTimestampMs);
      endOffset = header.baseOffset + header.recordCount;
      pending.push(bytes);
      pendingBytes += bytes.byteLength;
    }
  };
  const writePending = async (): Promise<void> => {
    if (pendingBytes === 0) return;
    const buffers = pending;
    const at = writtenBytes;
    writtenBytes += pendingBytes;
    pending = [];
    pendingBytes = 0;
    await file.write(buffers, at);
  };
  await forEachBatch(source, async (bytes) => {
    add(compactor.push(bytes));
    if (pendingBytes >= CHUNK_BYTES) await writePending();
  });
  add(compactor.finish());
  await writePending();
  assert(endOffset === source.endOffset, 'the copy covers the same offsets as its source');
  return { index, sizeBytes: writtenBytes, endOffset, recordsRemoved: compactor.recordsRemoved };
}

/** Calls `visit` with every batch of the sealed segment, in order (CRC-checked by the segment). */
async function forEachBatch(source: Segment, visit: (bytes: Uint8Array) => void | Promise<void>): Promise<void> {
  let position = SEGMENT_HEADER_BYTES;
  while (position < source.sizeBytes) {
    const batches = await source.readBatchesAt(position, CHUNK_BYTES);
    assert(batches.length > 0, 'a sealed segment has a batch at every position before its end');
    for (const bytes of batches) {
      position += bytes.byteLength;
      await visit(bytes);
    }
  }
}
