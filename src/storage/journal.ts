import { crc32c } from '../lib/crc32c.js';
import { FerryError } from '../lib/ferry-error.js';
import { joinPath, type FileHandle, type FileSystem } from '../platform/file-system.js';
import { checkBatch } from './record-batch.js';

/**
 * The write-ahead journal shared by every log of a store. Group commit writes
 * all appends of one turn of the event loop as one write and one fsync, whatever
 * the number of logs they touch; segment files are written later without fsync
 * and made durable at checkpoints, after which older journal files are deleted.
 *
 * Journal file, version 3: a 32-byte header, then entries back to back.
 * Version 2 files (no APPEND_REFERENCE entries, `replacesFrom` always 0) are
 * still read; version 1 checksummed whole append entries and is refused, not misread.
 *
 *   0                 8          12         16               24               32
 *   +-----------------+----------+----------+----------------+----------------+
 *   | "FRYJNL\0\0"    | version  | crc32c   | sequence       | replacesFrom   |
 *   +-----------------+----------+----------+----------------+----------------+
 *
 * `replacesFrom` is 0, except in a file recovery wrote to replace journal
 * files `replacesFrom` .. `sequence - 1` (see FileLogStore.resolveReferences).
 *
 * Entry:
 *   0        4        8        12   13   14       16
 *   +--------+--------+--------+----+----+--------+------------------+
 *   | length | crc32c | logId  |kind| 0  |   0    | payload ...      |
 *   +--------+--------+--------+----+----+--------+------------------+
 *
 * `length` covers the whole entry. The CRC covers bytes [8, length), except
 * for APPEND entries, where it covers bytes [8, 24): the entry header and the
 * batch's own length and CRC, which in turn covers the rest of the batch, so
 * each byte is checksummed once. Payloads: APPEND = one record batch exactly as
 * in the segment; CREATE_LOG = UTF-8 JSON `{ name, options }`; DELETE_LOG =
 * empty; TRUNCATE_PREFIX = u64 new start offset; APPEND_REFERENCE (version 3)
 * = where a batch written straight into its segment file lies:
 *
 *   0                8                16         20         24         28         32
 *   +----------------+----------------+----------+----------+----------+----------+
 *   | baseOffset     | segmentBase    | position | length   | count    | crc32c   |
 *   +----------------+----------------+----------+----------+----------+----------+
 *
 * (u64, u64, then u32s): the batch's base offset, the segment's base offset,
 * the batch's byte position in the segment file, its length, its record count
 * and its own CRC-32C (bytes 4..8 of the batch).
 */
export const JOURNAL_HEADER_BYTES = 32;
export const JOURNAL_ENTRY_HEADER_BYTES = 16;
export const JOURNAL_FORMAT_VERSION = 3;
/** Journal versions this Ferry reads: 2 (before APPEND_REFERENCE) and 3. */
const JOURNAL_FORMAT_VERSIONS_READ = [2, 3];
const JOURNAL_MAGIC = new Uint8Array([0x46, 0x52, 0x59, 0x4a, 0x4e, 0x4c, 0, 0]); // "FRYJNL\0\0"

/** Kinds of journal entries. */
export const JournalEntryKind = {
  append: 1,
  createLog: 2,
  deleteLog: 3,
  truncatePrefix: 4,
  /** A batch written straight into its segment file (journal version 3); see {@link BatchReference}. */
  appendReference: 5,
} as const;
export type JournalEntryKind = (typeof JournalEntryKind)[keyof typeof JournalEntryKind];

/** One decoded journal entry. `payload` is a view into the read buffer. */
export interface JournalEntry {
  readonly logId: number;
  readonly kind: JournalEntryKind;
  readonly payload: Uint8Array;
}

/** File name of journal file number `sequence`. */
export function journalFileName(sequence: number): string {
  return `${String(sequence).padStart(20, '0')}.jnl`;
}

/** Sequence number in a journal file name, or undefined for other names. */
export function parseJournalFileName(name: string): number | undefined {
  return /^\d{20}\.jnl$/.test(name) ? Number(name.slice(0, 20)) : undefined;
}

/** Bytes of an entry's payload its CRC covers (see the layout above). */
function checkedPayloadBytes(kind: number, payloadBytes: number): number {
  return kind === JournalEntryKind.append ? Math.min(8, payloadBytes) : payloadBytes;
}

/**
 * Writes the 16-byte header of an entry carrying `payload` into `header`
 * (which may be the headroom just before the payload, in the same buffer).
 */
export function writeEntryHeader(header: Uint8Array, logId: number, kind: JournalEntryKind, payload: Uint8Array): void {
  const view = new DataView(header.buffer, header.byteOffset, JOURNAL_ENTRY_HEADER_BYTES);
  view.setUint32(0, JOURNAL_ENTRY_HEADER_BYTES + payload.byteLength, true);
  view.setUint32(8, logId, true);
  view.setUint32(12, kind, true);
  const checked = payload.subarray(0, checkedPayloadBytes(kind, payload.byteLength));
  view.setUint32(4, crc32c(checked, crc32c(header.subarray(8, JOURNAL_ENTRY_HEADER_BYTES))), true);
}

/** Encodes the header of an entry carrying `payload` as a separate buffer. */
export function encodeEntryHeader(logId: number, kind: JournalEntryKind, payload: Uint8Array): Uint8Array {
  const header = new Uint8Array(JOURNAL_ENTRY_HEADER_BYTES);
  writeEntryHeader(header, logId, kind, payload);
  return header;
}

/** Encodes a u64 payload (for TRUNCATE_PREFIX). */
export function encodeOffsetPayload(offset: number): Uint8Array {
  const bytes = new Uint8Array(8);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, offset % 0x1_0000_0000, true);
  view.setUint32(4, Math.floor(offset / 0x1_0000_0000), true);
  return bytes;
}

/** Decodes a u64 payload. */
export function decodeOffsetPayload(bytes: Uint8Array): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return view.getUint32(4, true) * 0x1_0000_0000 + view.getUint32(0, true);
}

/** Payload of an APPEND_REFERENCE entry: where a batch of the entry's log lies in a segment file. */
export interface BatchReference {
  readonly baseOffset: number;
  /** Base offset of the segment (its file name). */
  readonly segmentBase: number;
  /** Byte position of the batch in the segment file. */
  readonly position: number;
  readonly lengthBytes: number;
  readonly recordCount: number;
  /** The batch's own CRC-32C (bytes 4..8 of the batch). */
  readonly batchCrc: number;
}

export const BATCH_REFERENCE_BYTES = 32;

/** Encodes an APPEND_REFERENCE payload. */
export function encodeReferencePayload(reference: BatchReference): Uint8Array {
  const bytes = new Uint8Array(BATCH_REFERENCE_BYTES);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, reference.baseOffset % 0x1_0000_0000, true);
  view.setUint32(4, Math.floor(reference.baseOffset / 0x1_0000_0000), true);
  view.setUint32(8, reference.segmentBase % 0x1_0000_0000, true);
  view.setUint32(12, Math.floor(reference.segmentBase / 0x1_0000_0000), true);
  view.setUint32(16, reference.position, true);
  view.setUint32(20, reference.lengthBytes, true);
  view.setUint32(24, reference.recordCount, true);
  view.setUint32(28, reference.batchCrc, true);
  return bytes;
}

/** Decodes an APPEND_REFERENCE payload; CORRUPT_DATA when it has the wrong size. */
export function decodeReferencePayload(bytes: Uint8Array): BatchReference {
  if (bytes.byteLength !== BATCH_REFERENCE_BYTES) throw new FerryError('CORRUPT_DATA', `batch reference of ${bytes.byteLength} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    baseOffset: view.getUint32(4, true) * 0x1_0000_0000 + view.getUint32(0, true),
    segmentBase: view.getUint32(12, true) * 0x1_0000_0000 + view.getUint32(8, true),
    position: view.getUint32(16, true),
    lengthBytes: view.getUint32(20, true),
    recordCount: view.getUint32(24, true),
    batchCrc: view.getUint32(28, true),
  };
}

/** The 32-byte header of journal file `sequence` (current version). */
function encodeJournalHeader(sequence: number, replacesFromSequence: number): Uint8Array {
  const header = new Uint8Array(JOURNAL_HEADER_BYTES);
  const view = new DataView(header.buffer);
  header.set(JOURNAL_MAGIC, 0);
  view.setUint32(8, JOURNAL_FORMAT_VERSION, true);
  view.setUint32(16, sequence % 0x1_0000_0000, true);
  view.setUint32(20, Math.floor(sequence / 0x1_0000_0000), true);
  view.setUint32(24, replacesFromSequence % 0x1_0000_0000, true);
  view.setUint32(28, Math.floor(replacesFromSequence / 0x1_0000_0000), true);
  view.setUint32(12, crc32c(header.subarray(16)), true);
  return header;
}

/** Suffix of a journal file being written by recovery before its rename (a leftover is deleted). */
export const JOURNAL_TEMPORARY_SUFFIX = '.tmp';

/**
 * Writes journal file `sequence`, replacing files `replacesFromSequence` ..
 * `sequence - 1`, whole or not at all: written to `<name>.tmp`, fsynced, renamed,
 * and the directory fsynced.
 */
export async function writeReplacementJournalFile(
  fileSystem: FileSystem,
  directory: string,
  sequence: number,
  replacesFromSequence: number,
  entries: readonly JournalEntry[],
): Promise<void> {
  const path = joinPath(directory, journalFileName(sequence));
  const temporary = path + JOURNAL_TEMPORARY_SUFFIX;
  const buffers: Uint8Array[] = [encodeJournalHeader(sequence, replacesFromSequence)];
  for (const entry of entries) buffers.push(encodeEntryHeader(entry.logId, entry.kind, entry.payload), entry.payload);
  const file = await fileSystem.open(temporary, { write: true, create: true });
  try {
    await file.truncate(0);
    await file.write(buffers, 0);
    await file.sync();
  } finally {
    await file.close();
  }
  await fileSystem.rename(temporary, path);
  await fileSystem.syncDirectory(directory);
}

/** An open journal file being appended to. */
export class JournalFile {
  private constructor(
    readonly sequence: number,
    readonly path: string,
    private readonly file: FileHandle,
    /** Bytes in the file (header included). */
    public sizeBytes: number,
    /** Opened with O_DSYNC: writes are durable as they resolve. */
    readonly syncsEveryWrite: boolean,
  ) {}

  /**
   * Bytes of batches written into segment files that this file's APPEND_REFERENCE
   * entries name: recovery reads them back, so they count towards the journal's size.
   */
  referencedBytes = 0;

  /**
   * Creates journal file `sequence` in `directory` and makes its existence
   * durable. With `dataSync`, every write is durable when it resolves (one
   * system call instead of write + fdatasync) and `sync()` has nothing to do.
   */
  static async create(fileSystem: FileSystem, directory: string, sequence: number, dataSync = false): Promise<JournalFile> {
    const path = joinPath(directory, journalFileName(sequence));
    const file = await fileSystem.open(path, { write: true, create: true, dataSync });
    await file.truncate(0);
    await file.write([encodeJournalHeader(sequence, 0)], 0);
    await file.sync();
    await fileSystem.syncDirectory(directory);
    return new JournalFile(sequence, path, file, JOURNAL_HEADER_BYTES, dataSync);
  }

  /** Writes entries (already encoded: header, payload, header, payload, ...) at the end. Not durable until `sync()`. */
  async write(buffers: readonly Uint8Array[], bytes: number): Promise<void> {
    const position = this.sizeBytes;
    this.sizeBytes += bytes;
    await this.file.write(buffers, position);
  }

  /** Resolves once everything written before the call is durable. */
  sync(): Promise<void> {
    return this.syncsEveryWrite ? Promise.resolve() : this.file.sync();
  }

  close(): Promise<void> {
    return this.file.close();
  }
}

/** What reading a journal file found. */
export interface JournalScan {
  readonly entries: JournalEntry[];
  /** Bytes of the valid prefix. */
  readonly validBytes: number;
  readonly fileBytes: number;
  /** Why reading stopped before the end of the file, if it did. */
  readonly stoppedBecause: string | null;
  /** The header's `replacesFrom`: 0, or the first journal file this one replaces. */
  readonly replacesFromSequence: number;
}

/**
 * Reads a whole journal file (journals are bounded by `journalBytesMax`, so
 * this is a bounded read) and decodes entries up to the first invalid one.
 */
export async function readJournalFile(fileSystem: FileSystem, path: string, sequence: number): Promise<JournalScan> {
  const bytes = await fileSystem.readFile(path);
  if (bytes.byteLength < JOURNAL_HEADER_BYTES) {
    return { entries: [], validBytes: 0, fileBytes: bytes.byteLength, stoppedBecause: 'header is torn', replacesFromSequence: 0 };
  }
  for (let i = 0; i < 6; i++) {
    if (bytes[i] !== JOURNAL_MAGIC[i]) throw new FerryError('CORRUPT_DATA', `${path}: not a Ferry journal file`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(8, true);
  if (!JOURNAL_FORMAT_VERSIONS_READ.includes(version)) {
    throw new FerryError('UNKNOWN_FORMAT_VERSION', `${path}: journal format version ${version}, this Ferry reads versions ${JOURNAL_FORMAT_VERSIONS_READ.join(' and ')}`);
  }
  if (view.getUint32(12, true) !== crc32c(bytes.subarray(16, JOURNAL_HEADER_BYTES))) {
    throw new FerryError('CORRUPT_DATA', `${path}: journal header checksum mismatch`);
  }
  const storedSequence = view.getUint32(20, true) * 0x1_0000_0000 + view.getUint32(16, true);
  if (storedSequence !== sequence) throw new FerryError('CORRUPT_DATA', `${path}: header names journal ${storedSequence}`);
  const replacesFromSequence = view.getUint32(28, true) * 0x1_0000_0000 + view.getUint32(24, true);
  const kindMax = version >= 3 ? JournalEntryKind.appendReference : JournalEntryKind.truncatePrefix;
  const entries: JournalEntry[] = [];
  let at = JOURNAL_HEADER_BYTES;
  let stoppedBecause: string | null = null;
  while (at < bytes.byteLength) {
    if (bytes.byteLength - at < JOURNAL_ENTRY_HEADER_BYTES) {
      stoppedBecause = 'torn entry header';
      break;
    }
    const length = view.getUint32(at, true);
    if (length === 0) {
      stoppedBecause = 'zero-filled tail';
      break;
    }
    if (length < JOURNAL_ENTRY_HEADER_BYTES || at + length > bytes.byteLength) {
      stoppedBecause = 'torn entry';
      break;
    }
    const kind = bytes[at + 12] as JournalEntryKind;
    const checkedEnd = at + JOURNAL_ENTRY_HEADER_BYTES + checkedPayloadBytes(kind, length - JOURNAL_ENTRY_HEADER_BYTES);
    if (view.getUint32(at + 4, true) !== crc32c(bytes.subarray(at + 8, checkedEnd))) {
      stoppedBecause = 'entry checksum mismatch';
      break;
    }
    if (kind < JournalEntryKind.append || kind > kindMax) {
      throw new FerryError('UNKNOWN_FORMAT_VERSION', `${path}: journal entry kind ${kind} at byte ${at}`);
    }
    if (kind === JournalEntryKind.append) {
      // The batch's own CRC covers the rest of an append entry.
      const check = checkBatch(bytes.subarray(at + JOURNAL_ENTRY_HEADER_BYTES, at + length), 0);
      if (check.kind !== 'ok' || check.header.lengthBytes !== length - JOURNAL_ENTRY_HEADER_BYTES) {
        stoppedBecause = `batch in entry is damaged (${check.kind})`;
        break;
      }
    }
    entries.push({ logId: view.getUint32(at + 8, true), kind, payload: bytes.subarray(at + JOURNAL_ENTRY_HEADER_BYTES, at + length) });
    at += length;
  }
  return { entries, validBytes: at, fileBytes: bytes.byteLength, stoppedBecause, replacesFromSequence };
}
