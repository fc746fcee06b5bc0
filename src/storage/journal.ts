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
 * Journal file, version 5: a 32-byte header, then entries back to back, then an
 * END entry once the file is finished (rotated, or sealed by recovery). Files are
 * reused: a finished file becomes a later one (new header, old bytes left in place),
 * so that writes overwrite allocated blocks instead of growing a file. Each entry's
 * stored CRC is XORed with its file's salt (derived from the sequence), so entries
 * a reused file still holds from its earlier life fail their check and end the scan.
 * Versions 2 to 4 (4: no RECORDS; 2 and 3 also no salt and no END; 2 also no
 * APPEND_REFERENCE and `replacesFrom` always 0) are still read; version 1 is refused, not misread.
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
 * `length` covers the whole entry. The CRC (XOR the salt) covers bytes [8, length), except
 * for APPEND entries, where it covers bytes [8, 24): the entry header and the
 * batch's own length and CRC, which in turn covers the rest of the batch, so
 * each byte is checksummed once. Payloads: APPEND = one record batch exactly as
 * in the segment; CREATE_LOG = UTF-8 JSON `{ name, options }`; DELETE_LOG =
 * empty; TRUNCATE_PREFIX = u64 new start offset; END (version 4) = empty, nothing
 * after it belongs to the file; RECORDS (version 5) = runs of records of any logs
 * (see record-runs.ts; logId 0); APPEND_REFERENCE (version 3)
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
export const JOURNAL_FORMAT_VERSION = 5;
/** Journal versions this Ferry reads: 2 (before APPEND_REFERENCE), 3 (before salts and END), 4 (before RECORDS) and 5. */
const JOURNAL_FORMAT_VERSIONS_READ = [2, 3, 4, 5];
const JOURNAL_MAGIC = new Uint8Array([0x46, 0x52, 0x59, 0x4a, 0x4e, 0x4c, 0, 0]); // "FRYJNL\0\0"

/** Kinds of journal entries. */
export const JournalEntryKind = {
  append: 1,
  createLog: 2,
  deleteLog: 3,
  truncatePrefix: 4,
  /** A batch written straight into its segment file (journal version 3); see {@link BatchReference}. */
  appendReference: 5,
  /** The file is finished: whatever follows is not part of it (journal version 4). */
  end: 6,
  /** Runs of records of any logs, small appends framed into batches later (journal version 5); see record-runs.ts. */
  records: 7,
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
  writeUint32(header, 0, JOURNAL_ENTRY_HEADER_BYTES + payload.byteLength);
  writeUint32(header, 8, logId);
  writeUint32(header, 12, kind);
  const checkedBytes = checkedPayloadBytes(kind, payload.byteLength);
  // The payload right behind the header (one buffer): one CRC call over both.
  const contiguous = payload.buffer === header.buffer && payload.byteOffset === header.byteOffset + JOURNAL_ENTRY_HEADER_BYTES;
  const crc = contiguous
    ? crc32c(header, 0, 8, JOURNAL_ENTRY_HEADER_BYTES + checkedBytes)
    : crc32c(payload.subarray(0, checkedBytes), crc32c(header.subarray(8, JOURNAL_ENTRY_HEADER_BYTES)));
  writeUint32(header, 4, crc);
}

function writeUint32(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value & 0xff;
  bytes[at + 1] = (value >>> 8) & 0xff;
  bytes[at + 2] = (value >>> 16) & 0xff;
  bytes[at + 3] = value >>> 24;
}

/**
 * The salt of journal file `sequence` (version 4): stored entry CRCs are XORed with it.
 * CRC-32C is a bijection on a 32-bit field, so files whose sequences differ below 2^32 never share a salt.
 */
export function journalSalt(sequence: number): number {
  const bytes = new Uint8Array(8);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, sequence % 0x1_0000_0000, true);
  view.setUint32(4, Math.floor(sequence / 0x1_0000_0000), true);
  return crc32c(bytes);
}

/** XORs the stored CRC of each entry (one entry per buffer, header first) with `salt`. */
export function saltEntries(entries: readonly Uint8Array[], salt: number): void {
  const b0 = salt & 0xff;
  const b1 = (salt >>> 8) & 0xff;
  const b2 = (salt >>> 16) & 0xff;
  const b3 = salt >>> 24;
  for (const entry of entries) {
    entry[4]! ^= b0;
    entry[5]! ^= b1;
    entry[6]! ^= b2;
    entry[7]! ^= b3;
  }
}

/** An END entry for journal file `sequence`. */
export function journalEndEntry(sequence: number): Uint8Array {
  const entry = encodeEntryHeader(0, JournalEntryKind.end, new Uint8Array(0));
  saltEntries([entry], journalSalt(sequence));
  return entry;
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

/** Suffix of a journal file prepared ahead of its use (a leftover is deleted). */
export const JOURNAL_SPARE_SUFFIX = '.spare';

const ZERO_FILL_CHUNK_BYTES = 1024 * 1024;

/** Writes a journal file holding only its header, zero-filled to `preallocateBytes`, and fsyncs it. */
async function writeEmptyJournalFile(fileSystem: FileSystem, path: string, sequence: number, preallocateBytes: number): Promise<void> {
  const file = await fileSystem.open(path, { write: true, create: true });
  try {
    await file.truncate(0);
    await file.write([encodeJournalHeader(sequence, 0)], 0);
    const zeros = new Uint8Array(Math.min(ZERO_FILL_CHUNK_BYTES, Math.max(0, preallocateBytes - JOURNAL_HEADER_BYTES)));
    for (let at = JOURNAL_HEADER_BYTES; at < preallocateBytes; at += zeros.byteLength) {
      await file.write([at + zeros.byteLength <= preallocateBytes ? zeros : zeros.subarray(0, preallocateBytes - at)], at);
    }
    await file.sync();
  } finally {
    await file.close();
  }
}

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
  const salt = journalSalt(sequence);
  for (const entry of entries) {
    const header = encodeEntryHeader(entry.logId, entry.kind, entry.payload);
    saltEntries([header], salt);
    buffers.push(header, entry.payload);
  }
  // Finished as it is written: it may be followed by newer files.
  buffers.push(journalEndEntry(sequence));
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
  ) {
    this.salt = journalSalt(sequence);
  }

  /** XORed into every stored entry CRC of this file (see {@link saltEntries}). */
  readonly salt: number;

  /**
   * Bytes of batches written into segment files that this file's APPEND_REFERENCE
   * entries name: recovery reads them back, so they count towards the journal's size.
   */
  referencedBytes = 0;

  /**
   * Creates journal file `sequence` in `directory` and makes its existence
   * durable. With `dataSync`, every write is durable when it resolves (one
   * system call instead of write + fdatasync) and `sync()` has nothing to do.
   * With `preallocateBytes`, the file is first filled with zeros to that size,
   * so writes within it change no file metadata (no file-system journal commit
   * per synchronous write); readers take a zero-filled tail as the clean end.
   * With `fromSpare`, the file {@link prepareSpare} wrote for this sequence is
   * renamed into place instead.
   */
  static async create(
    fileSystem: FileSystem,
    directory: string,
    sequence: number,
    options: { dataSync?: boolean; preallocateBytes?: number; fromSpare?: boolean } = {},
  ): Promise<JournalFile> {
    const path = joinPath(directory, journalFileName(sequence));
    if (options.fromSpare) await fileSystem.rename(path + JOURNAL_SPARE_SUFFIX, path);
    else await writeEmptyJournalFile(fileSystem, path, sequence, options.preallocateBytes ?? 0);
    await fileSystem.syncDirectory(directory);
    const file = await fileSystem.open(path, { write: true, dataSync: options.dataSync ?? false });
    return new JournalFile(sequence, path, file, JOURNAL_HEADER_BYTES, options.dataSync ?? false);
  }

  /**
   * Turns the finished journal file at `path` (no longer needed) into the spare for
   * journal file `sequence`: renamed to the spare name, its header rewritten, fsynced.
   * `create` with `fromSpare` renames it into place; recovery deletes a leftover spare.
   * Its old entries stay, and fail their check under the new salt.
   */
  static async recycle(fileSystem: FileSystem, directory: string, path: string, sequence: number): Promise<void> {
    // Renamed first: a header naming another sequence must never sit under a journal file's name.
    await fileSystem.rename(path, joinPath(directory, journalFileName(sequence)) + JOURNAL_SPARE_SUFFIX);
    await JournalFile.restampSpare(fileSystem, directory, sequence);
  }

  /**
   * Writes journal file `sequence`'s header into its spare and fsyncs it; recovery does this to
   * a spare it keeps, whose header a crash during {@link recycle} may have left unwritten.
   */
  static async restampSpare(fileSystem: FileSystem, directory: string, sequence: number): Promise<void> {
    const file = await fileSystem.open(joinPath(directory, journalFileName(sequence)) + JOURNAL_SPARE_SUFFIX, { write: true });
    try {
      await file.write([encodeJournalHeader(sequence, 0)], 0);
      await file.sync();
    } finally {
      await file.close();
    }
  }

  /** Writes the END entry (the file is finished) and makes it durable. */
  async finish(): Promise<void> {
    const entry = journalEndEntry(this.sequence);
    await this.write([entry], entry.byteLength);
    if (!this.syncsEveryWrite) await this.file.sync();
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
  /** The file's format version. */
  readonly version: number;
  /** An END entry finished the file (version 4): nothing after `validBytes` belongs to it. */
  readonly finished: boolean;
}

/**
 * Reads a whole journal file (journals are bounded by `journalBytesMax`, so
 * this is a bounded read) and decodes entries up to the first invalid one.
 */
export async function readJournalFile(fileSystem: FileSystem, path: string, sequence: number): Promise<JournalScan> {
  const bytes = await fileSystem.readFile(path);
  if (bytes.byteLength < JOURNAL_HEADER_BYTES) {
    return { entries: [], validBytes: 0, fileBytes: bytes.byteLength, stoppedBecause: 'header is torn', replacesFromSequence: 0, version: 0, finished: false };
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
  const kindMax = version >= 5 ? JournalEntryKind.records : version >= 4 ? JournalEntryKind.end : version >= 3 ? JournalEntryKind.appendReference : JournalEntryKind.truncatePrefix;
  const salt = version >= 4 ? journalSalt(sequence) : 0;
  let finished = false;
  const entries: JournalEntry[] = [];
  let at = JOURNAL_HEADER_BYTES;
  let stoppedBecause: string | null = null;
  while (at < bytes.byteLength) {
    if (bytes.byteLength - at < JOURNAL_ENTRY_HEADER_BYTES) {
      // Too short for a header: zeros are the clean end of a zero-filled file, anything else a torn header.
      if (!isAllZero(bytes, at)) stoppedBecause = 'torn entry header';
      break;
    }
    const length = view.getUint32(at, true);
    if (length === 0) {
      // A preallocated file's unused rest is the clean end; zeros before other bytes are a torn write.
      if (!isAllZero(bytes, at)) stoppedBecause = 'zero-filled tail';
      break;
    }
    if (length < JOURNAL_ENTRY_HEADER_BYTES || at + length > bytes.byteLength) {
      stoppedBecause = 'torn entry';
      break;
    }
    const kind = bytes[at + 12] as JournalEntryKind;
    const checkedEnd = at + JOURNAL_ENTRY_HEADER_BYTES + checkedPayloadBytes(kind, length - JOURNAL_ENTRY_HEADER_BYTES);
    if ((view.getUint32(at + 4, true) ^ salt) >>> 0 !== crc32c(bytes.subarray(at + 8, checkedEnd))) {
      stoppedBecause = 'entry checksum mismatch';
      break;
    }
    if (kind < JournalEntryKind.append || kind > kindMax) {
      throw new FerryError('UNKNOWN_FORMAT_VERSION', `${path}: journal entry kind ${kind} at byte ${at}`);
    }
    if (kind === JournalEntryKind.end) {
      finished = true;
      at += length;
      break;
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
  return { entries, validBytes: at, fileBytes: bytes.byteLength, stoppedBecause, replacesFromSequence, version, finished };
}

/** Whether every byte of `bytes` from `from` on is zero. */
function isAllZero(bytes: Uint8Array, from: number): boolean {
  for (let i = from; i < bytes.byteLength; i++) if (bytes[i] !== 0) return false;
  return true;
}
