import { assert } from '../lib/assert.js';
import { FerryError } from '../lib/ferry-error.js';
import type { FileHandle, FileLock, FileSystem, OpenOptions } from './file-system.js';
import type { Random } from './random.js';

/**
 * When a directory made by `mkdir` becomes durable.
 * - `'immediate'`: at once, with its parents, as journaling file systems
 *   order metadata in practice; storage need not sync the parent after mkdir.
 * - `'on-parent-sync'`: only after `syncDirectory(parent)`, like any other
 *   directory entry; the strict reading of the contract.
 */
export type MkdirDurability = 'immediate' | 'on-parent-sync';

/** Options for {@link SimulatedFileSystem}. */
export interface SimulatedFileSystemOptions {
  /** Defaults to `'immediate'`. */
  readonly mkdirDurability?: MkdirDurability;
}

/** Options for {@link SimulatedFileSystem.crash}. */
export interface CrashOptions {
  /** Lets a random prefix of each file's last unsynced write survive. Defaults to true. */
  readonly tornWrites?: boolean;
}

/**
 * An in-memory {@link FileSystem} that models what survives a power loss, for
 * storage tests and the deterministic simulation.
 *
 * Model:
 * - Every file keeps *volatile* content (what reads see) and *durable*
 *   content (what survives a crash); `FileHandle.sync()` copies the first
 *   onto the second. A file also remembers its last write since the last
 *   sync, which a crash may tear. A write through a handle opened with
 *   `dataSync` (O_DSYNC) makes only its own bytes durable, not earlier
 *   unsynced writes to the file through other handles.
 * - Every directory keeps volatile entries (name -> node) and durable
 *   entries; `syncDirectory()` copies the first onto the second. Creating,
 *   unlinking and renaming files, `rename` and `removeTree` of directories
 *   change volatile entries only. So a file created in a directory never
 *   synced is gone after a crash, and an unsynced rename is undone. A rename
 *   across two directories is durable per directory: syncing only the target
 *   can leave the file under both names after a crash (as independent copies),
 *   syncing only the source can lose it, as the contract allows.
 * - `mkdir` makes directories durable at once by default (see
 *   {@link MkdirDurability}), replacing any durable entry of that name.
 *   A `removeTree` is all or nothing at a crash, decided by whether its
 *   parent was synced.
 * - {@link crash} is a power loss: every file reverts to its durable content,
 *   plus (with torn writes) a random prefix of its last unsynced write laid
 *   over it, zero-filled up to the write's position if the durable content is
 *   shorter; earlier unsynced writes are lost. What a crash leaves becomes the
 *   new durable state. {@link crashAfterKill} is `kill -9`: nothing is lost.
 *   Both invalidate every open handle (its operations reject with `IO_ERROR`,
 *   `close()` still resolves) and release every lock; the file system itself
 *   stays usable for the restarted process. The caller must stop the old
 *   process's code (for example its clock's timers): calls on this object,
 *   unlike calls on handles, cannot tell the old process from the new.
 * - Fault injection ({@link setDiskFull}, {@link setReadOnly}) models the
 *   device, so it persists across crashes, and so do the counters.
 *
 * Paths are '/'-separated; '' and '.' segments are ignored and absolute and
 * relative paths name the same tree. Errors carry the codes `NodeFileSystem`
 * gives; one difference: opening a directory fails with `IO_ERROR` even
 * read-only, where Node opens it and fails on read.
 */
export class SimulatedFileSystem implements FileSystem {
  private readonly state = new SimulationState();
  private readonly root = new DirectoryNode();
  private readonly locks = new Map<string, object>();
  private readonly mkdirDurability: MkdirDurability;

  constructor(options: SimulatedFileSystemOptions = {}) {
    this.mkdirDurability = options.mkdirDurability ?? 'immediate';
  }

  /** Number of successful `FileHandle.sync()` calls (and `syncDirectory` on a file); for group-commit tests. */
  get syncCount(): number {
    return this.state.syncCount;
  }

  /** Number of successful `FileHandle.write()` calls, however many buffers each carried. */
  get writeCount(): number {
    return this.state.writeCount;
  }

  /** Number of successful `syncDirectory()` calls on directories. */
  get directorySyncCount(): number {
    return this.state.directorySyncCount;
  }

  /** While on, writes and extending truncates fail with `DISK_FULL` and change nothing. */
  setDiskFull(on: boolean): void {
    this.state.diskFull = on;
  }

  /**
   * While on, everything at or below `pathPrefix` (whole segments: 'data'
   * covers 'data/x', not 'database') rejects opens for write, writes,
   * truncates, creates, mkdir, unlinks, renames and removals with `READ_ONLY`.
   * Reads and syncs still work. '' covers the whole tree.
   */
  setReadOnly(pathPrefix: string, on: boolean): void {
    const key = segmentsOf(pathPrefix).join('/');
    if (on) this.state.readOnlyPrefixes.set(key, segmentsOf(pathPrefix));
    else this.state.readOnlyPrefixes.delete(key);
  }

  /**
   * Simulates power loss; see the class comment. `random` picks how much of
   * each torn write survives, so one seed replays one outcome. Synchronous:
   * call it between awaits of the code under test.
   */
  crash(random: Random, options: CrashOptions = {}): void {
    const tornWrites = options.tornWrites ?? true;
    this.revertToDurable(tornWrites ? random : undefined);
    this.endProcess();
  }

  /** Simulates `kill -9` of the process: the OS keeps every byte and entry, even unsynced ones; handles and locks die. */
  crashAfterKill(): void {
    this.endProcess();
  }

  async mkdir(path: string): Promise<void> {
    const segments = segmentsOf(path);
    let directory = this.root;
    for (let index = 0; index < segments.length; index++) {
      const name = segments[index]!;
      const node = directory.entries.get(name);
      if (node === undefined) {
        if (this.state.isReadOnly(segments.slice(0, index + 1))) throw new FerryError('READ_ONLY', errorMessage('mkdir', path, 'read-only'));
        const created = new DirectoryNode();
        directory.entries.set(name, created);
        if (this.mkdirDurability === 'immediate') directory.durableEntries.set(name, created);
        directory = created;
      } else if (node instanceof DirectoryNode) {
        directory = node;
      } else if (index === segments.length - 1) {
        throw new FerryError('FILE_EXISTS', errorMessage('mkdir', path, 'a file exists there'));
      } else {
        throw new FerryError('IO_ERROR', errorMessage('mkdir', path, 'not a directory'));
      }
    }
  }

  async readdir(path: string): Promise<string[]> {
    const node = this.walk(segmentsOf(path), 'readdir', path);
    if (node === undefined) throw new FerryError('FILE_NOT_FOUND', errorMessage('readdir', path, 'no such directory'));
    if (!(node instanceof DirectoryNode)) throw new FerryError('IO_ERROR', errorMessage('readdir', path, 'not a directory'));
    return [...node.entries.keys()].sort();
  }

  async exists(path: string): Promise<boolean> {
    try {
      return this.walk(segmentsOf(path), 'exists', path) !== undefined;
    } catch {
      return false; // A path through a file names nothing.
    }
  }

  async open(path: string, options: OpenOptions): Promise<FileHandle> {
    const segments = segmentsOf(path);
    const parent = this.parentDirectory(segments, 'open', path);
    const name = segments[segments.length - 1]!;
    let node = parent.entries.get(name);
    if (node !== undefined) {
      if (options.create && options.exclusive) throw new FerryError('FILE_EXISTS', errorMessage('open', path, 'exists'));
      if (node instanceof DirectoryNode) throw new FerryError('IO_ERROR', errorMessage('open', path, 'is a directory'));
      if (options.write && this.state.isReadOnly(segments)) throw new FerryError('READ_ONLY', errorMessage('open', path, 'read-only'));
    } else {
      if (!options.create) throw new FerryError('FILE_NOT_FOUND', errorMessage('open', path, 'no such file'));
      if (this.state.isReadOnly(segments)) throw new FerryError('READ_ONLY', errorMessage('open', path, 'read-only'));
      node = new FileNode();
      parent.entries.set(name, node);
    }
    return new SimulatedFileHandle(this.state, path, segments, node, options.write, options.dataSync ?? false);
  }

  async readFile(path: string): Promise<Uint8Array> {
    const node = this.walk(segmentsOf(path), 'readFile', path);
    if (node === undefined) throw new FerryError('FILE_NOT_FOUND', errorMessage('readFile', path, 'no such file'));
    if (node instanceof DirectoryNode) throw new FerryError('IO_ERROR', errorMessage('readFile', path, 'is a directory'));
    return node.content.view().slice();
  }

  async unlink(path: string): Promise<void> {
    const segments = segmentsOf(path);
    const parent = this.walk(segments.slice(0, -1), 'unlink', path);
    if (parent === undefined) return;
    if (!(parent instanceof DirectoryNode)) throw new FerryError('IO_ERROR', errorMessage('unlink', path, 'not a directory'));
    if (segments.length === 0) throw new FerryError('IO_ERROR', errorMessage('unlink', path, 'is a directory'));
    if (this.state.isReadOnly(segments)) throw new FerryError('READ_ONLY', errorMessage('unlink', path, 'read-only'));
    const name = segments[segments.length - 1]!;
    const node = parent.entries.get(name);
    if (node === undefined) return;
    if (node instanceof DirectoryNode) throw new FerryError('IO_ERROR', errorMessage('unlink', path, 'is a directory'));
    parent.entries.delete(name);
  }

  async removeTree(path: string): Promise<void> {
    const segments = segmentsOf(path);
    if (segments.length === 0) throw new FerryError('IO_ERROR', errorMessage('removeTree', path, 'cannot remove the root'));
    const parent = this.walk(segments.slice(0, -1), 'removeTree', path);
    if (parent === undefined) return;
    if (!(parent instanceof DirectoryNode)) throw new FerryError('IO_ERROR', errorMessage('removeTree', path, 'not a directory'));
    if (this.state.isReadOnly(segments)) throw new FerryError('READ_ONLY', errorMessage('removeTree', path, 'read-only'));
    // The nodes below stay reachable from the durable entries until the parent is synced.
    parent.entries.delete(segments[segments.length - 1]!);
  }

  async rename(source: string, target: string): Promise<void> {
    const sourceSegments = segmentsOf(source);
    const targetSegments = segmentsOf(target);
    const sourceParent = this.parentDirectory(sourceSegments, 'rename', source);
    const targetParent = this.parentDirectory(targetSegments, 'rename', target);
    if (this.state.isReadOnly(sourceSegments) || this.state.isReadOnly(targetSegments)) {
      throw new FerryError('READ_ONLY', errorMessage('rename', source, 'read-only'));
    }
    const sourceName = sourceSegments[sourceSegments.length - 1]!;
    const targetName = targetSegments[targetSegments.length - 1]!;
    const node = sourceParent.entries.get(sourceName);
    if (node === undefined) throw new FerryError('FILE_NOT_FOUND', errorMessage('rename', source, 'no such file'));
    const replaced = targetParent.entries.get(targetName);
    if (replaced === node) return; // The same entry: rename(2) does nothing.
    if (node instanceof DirectoryNode && startsWith(targetSegments, sourceSegments)) {
      throw new FerryError('IO_ERROR', errorMessage('rename', source, `cannot move a directory into itself (${target})`));
    }
    if (replaced instanceof DirectoryNode) {
      if (!(node instanceof DirectoryNode)) throw new FerryError('IO_ERROR', errorMessage('rename', target, 'is a directory'));
      if (replaced.entries.size > 0) throw new FerryError('IO_ERROR', errorMessage('rename', target, 'directory not empty'));
    } else if (replaced !== undefined && node instanceof DirectoryNode) {
      throw new FerryError('IO_ERROR', errorMessage('rename', target, 'not a directory'));
    }
    sourceParent.entries.delete(sourceName);
    targetParent.entries.set(targetName, node);
  }

  async syncDirectory(path: string): Promise<void> {
    const node = this.walk(segmentsOf(path), 'syncDirectory', path);
    if (node === undefined) throw new FerryError('FILE_NOT_FOUND', errorMessage('syncDirectory', path, 'no such directory'));
    if (node instanceof DirectoryNode) {
      node.durableEntries = new Map(node.entries);
      this.state.directorySyncCount++;
    } else {
      // NodeFileSystem opens and fsyncs whatever is there; on a file that syncs its data.
      node.sync();
      this.state.syncCount++;
    }
  }

  async lock(path: string): Promise<FileLock> {
    const segments = segmentsOf(path);
    const key = segments.join('/');
    if (this.locks.has(key)) throw new FerryError('DATA_DIR_LOCKED', `${path} is already held by this process`);
    const parent = this.parentDirectory(segments, 'lock', path);
    const name = segments[segments.length - 1]!;
    if (parent.entries.get(name) instanceof DirectoryNode) throw new FerryError('DATA_DIR_LOCKED', `${path} could not be taken`);
    if (this.state.isReadOnly(segments)) throw new FerryError('READ_ONLY', errorMessage('lock', path, 'read-only'));
    // A lock file nobody holds is left from before a crash: stale, so it is
    // replaced, as NodeFileSystem replaces one naming a dead pid. Like there,
    // the content is synced and the directory entry is not.
    const file = new FileNode();
    file.write([new TextEncoder().encode(`${this.state.processNumber}\n`)], 0);
    file.sync();
    parent.entries.set(name, file);
    const token = {};
    this.locks.set(key, token);
    return {
      release: async () => {
        // After a crash the lock was released already, and may be held by the restarted process.
        if (this.locks.get(key) !== token) return;
        this.locks.delete(key);
        let directory: Node | undefined;
        try {
          directory = this.walk(segments.slice(0, -1), 'lock', path);
        } catch {
          return; // The path no longer leads to a directory: nothing to remove.
        }
        if (directory instanceof DirectoryNode && directory.entries.get(name) === file && !this.state.isReadOnly(segments)) {
          directory.entries.delete(name);
        }
      },
    };
  }

  /** Follows volatile entries; undefined when a segment is missing. */
  private walk(segments: readonly string[], operation: string, path: string): Node | undefined {
    let node: Node = this.root;
    for (const name of segments) {
      if (!(node instanceof DirectoryNode)) throw new FerryError('IO_ERROR', errorMessage(operation, path, 'not a directory'));
      const next: Node | undefined = node.entries.get(name);
      if (next === undefined) return undefined;
      node = next;
    }
    return node;
  }

  /** The directory that holds the last segment, which must name something other than the root. */
  private parentDirectory(segments: readonly string[], operation: string, path: string): DirectoryNode {
    if (segments.length === 0) throw new FerryError('IO_ERROR', errorMessage(operation, path, 'is the root directory'));
    const parent = this.walk(segments.slice(0, -1), operation, path);
    if (parent === undefined) throw new FerryError('FILE_NOT_FOUND', errorMessage(operation, path, 'no such directory'));
    if (!(parent instanceof DirectoryNode)) throw new FerryError('IO_ERROR', errorMessage(operation, path, 'not a directory'));
    return parent;
  }

  private endProcess(): void {
    this.state.processNumber++;
    this.locks.clear();
  }

  /**
   * Rebuilds the volatile tree from durable entries, depth first in entry
   * order so one seed gives one outcome. A node reached twice (a rename across
   * directories made durable on both sides) is copied, so the two names do not
   * share content; a directory reached inside itself is dropped, as a real
   * file system never shows a cycle.
   */
  private revertToDurable(random: Random | undefined): void {
    const visited = new Set<Node>();
    const originOf = new Map<Node, Node>();
    const ancestors = new Set<Node>();
    const visit = (directory: DirectoryNode): void => {
      const origin = originOf.get(directory) ?? directory;
      ancestors.add(origin);
      directory.entries = new Map(directory.durableEntries);
      for (const [name, node] of directory.entries) {
        const nodeOrigin = originOf.get(node) ?? node;
        if (ancestors.has(nodeOrigin)) {
          directory.entries.delete(name);
          directory.durableEntries.delete(name);
          continue;
        }
        let current = node;
        if (visited.has(node)) {
          current = node.copyDurable();
          originOf.set(current, nodeOrigin);
          directory.entries.set(name, current);
          directory.durableEntries.set(name, current);
        }
        visited.add(current);
        if (current instanceof DirectoryNode) visit(current);
        else current.revert(random);
      }
      ancestors.delete(origin);
    };
    visit(this.root);
  }
}

/** State shared by the file system and its handles. */
class SimulationState {
  /** Bumped by every crash; handles from an older process are dead. */
  processNumber = 1;
  diskFull = false;
  readonly readOnlyPrefixes = new Map<string, readonly string[]>();
  syncCount = 0;
  writeCount = 0;
  directorySyncCount = 0;

  isReadOnly(segments: readonly string[]): boolean {
    if (this.readOnlyPrefixes.size === 0) return false;
    for (const prefix of this.readOnlyPrefixes.values()) {
      if (startsWith(segments, prefix)) return true;
    }
    return false;
  }
}

type Node = FileNode | DirectoryNode;

class DirectoryNode {
  /** What readdir and lookups see. */
  entries = new Map<string, Node>();
  /** What survives a crash; a snapshot of `entries` taken by syncDirectory. */
  durableEntries = new Map<string, Node>();

  copyDurable(): DirectoryNode {
    const copy = new DirectoryNode();
    copy.durableEntries = new Map(this.durableEntries);
    return copy;
  }
}

class FileNode {
  /** What reads see. */
  content = new GrowableBytes();
  /** What survives a crash. */
  private durable = new GrowableBytes();
  // Bytes of `content` that may differ from `durable`, as one range. Every byte
  // at or beyond durable's length lies inside it, so sync copies only this range.
  private dirtyStart = Number.POSITIVE_INFINITY;
  private dirtyEnd = 0;
  /** The last write since the last sync: what a crash can tear. */
  private lastWrite: { position: number; length: number } | undefined;

  read(target: Uint8Array, targetOffset: number, length: number, position: number): number {
    const count = Math.max(0, Math.min(length, this.content.length - position));
    if (count > 0) target.set(this.content.bytes.subarray(position, position + count), targetOffset);
    return count;
  }

  write(buffers: readonly Uint8Array[], position: number): void {
    // A gap between the old end and `position` reads as zeros and is dirty too.
    this.markDirty(Math.min(position, this.content.length), position);
    let at = position;
    for (const buffer of buffers) {
      this.content.write(at, buffer);
      at += buffer.byteLength;
    }
    this.markDirty(position, at);
    this.lastWrite = { position, length: at - position };
  }

  truncate(length: number): void {
    // A shrink dirties nothing: regrowing later marks the regrown bytes.
    if (length > this.content.length) this.markDirty(this.content.length, length);
    this.content.resize(length);
    if (this.lastWrite !== undefined) {
      this.lastWrite.length = Math.max(0, Math.min(this.lastWrite.length, length - this.lastWrite.position));
    }
  }

  sync(): void {
    this.durable.resize(this.content.length);
    const end = Math.min(this.dirtyEnd, this.content.length);
    if (this.dirtyStart < end) this.durable.bytes.set(this.content.bytes.subarray(this.dirtyStart, end), this.dirtyStart);
    this.dirtyStart = Number.POSITIVE_INFINITY;
    this.dirtyEnd = 0;
    this.lastWrite = undefined;
  }

  /**
   * What an O_DSYNC write makes durable: its own bytes, and the length they need. Earlier
   * writes not synced stay volatile (a gap before `position` that is not durable reads as
   * zeros after a crash), and are no longer the last write a crash could tear.
   */
  syncRange(position: number, end: number): void {
    this.durable.write(position, this.content.bytes.subarray(position, end));
    this.lastWrite = undefined;
  }

  /** Power loss: durable content plus, when `random` is given, a random prefix of the last unsynced write. */
  revert(random: Random | undefined): void {
    const recovered = GrowableBytes.copyOf(this.durable);
    const last = this.lastWrite;
    if (random !== undefined && last !== undefined && last.length > 0) {
      const keptLength = random.int(last.length + 1);
      if (keptLength > 0) {
        recovered.write(last.position, this.content.bytes.subarray(last.position, last.position + keptLength));
        // The torn bytes reached the disk, so they are durable now.
        this.durable = GrowableBytes.copyOf(recovered);
      }
    }
    this.content = recovered;
    this.dirtyStart = Number.POSITIVE_INFINITY;
    this.dirtyEnd = 0;
    this.lastWrite = undefined;
  }

  copyDurable(): FileNode {
    const copy = new FileNode();
    copy.content = GrowableBytes.copyOf(this.durable);
    copy.durable = GrowableBytes.copyOf(this.durable);
    return copy;
  }

  private markDirty(start: number, end: number): void {
    if (start >= end) return;
    this.dirtyStart = Math.min(this.dirtyStart, start);
    this.dirtyEnd = Math.max(this.dirtyEnd, end);
  }
}

/** A byte array that doubles its capacity as it grows, so appends cost amortised O(bytes). */
class GrowableBytes {
  bytes: Uint8Array;
  length = 0;

  constructor(capacity = 0) {
    this.bytes = new Uint8Array(capacity);
  }

  static copyOf(source: GrowableBytes): GrowableBytes {
    const copy = new GrowableBytes(source.length);
    copy.bytes.set(source.bytes.subarray(0, source.length));
    copy.length = source.length;
    return copy;
  }

  view(): Uint8Array {
    return this.bytes.subarray(0, this.length);
  }

  /** Sets the length; bytes gained read as zeros. */
  resize(length: number): void {
    if (length > this.length) {
      this.reserve(length);
      // Bytes past `length` may hold data from before a shrink.
      this.bytes.fill(0, this.length, length);
    }
    this.length = length;
  }

  write(position: number, source: Uint8Array): void {
    const end = position + source.byteLength;
    if (end > this.length) {
      this.reserve(end);
      if (position > this.length) this.bytes.fill(0, this.length, position);
      this.length = end;
    }
    this.bytes.set(source, position);
  }

  private reserve(capacity: number): void {
    if (capacity <= this.bytes.length) return;
    const grown = new Uint8Array(Math.max(capacity, this.bytes.length * 2, 256));
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
  }
}

class SimulatedFileHandle implements FileHandle {
  private closed = false;
  private readonly processNumber: number;

  constructor(
    private readonly state: SimulationState,
    readonly path: string,
    private readonly segments: readonly string[],
    private readonly node: FileNode,
    private readonly writable: boolean,
    /** O_DSYNC: each write is durable once it resolves. */
    private readonly dataSync: boolean,
  ) {
    this.processNumber = state.processNumber;
  }

  async size(): Promise<number> {
    this.checkOpen('stat');
    return this.node.content.length;
  }

  async read(target: Uint8Array, targetOffset: number, length: number, position: number): Promise<number> {
    this.checkOpen('read');
    assert(Number.isInteger(position) && position >= 0, `read position ${position} is a non-negative integer`);
    assert(
      Number.isInteger(targetOffset) && Number.isInteger(length) && targetOffset >= 0 && length >= 0 && targetOffset + length <= target.byteLength,
      `read of ${length} bytes at ${targetOffset} fits a target of ${target.byteLength}`,
    );
    return this.node.read(target, targetOffset, length, position);
  }

  async write(buffers: readonly Uint8Array[], position: number): Promise<void> {
    this.checkWritable('write');
    assert(Number.isInteger(position) && position >= 0, `write position ${position} is a non-negative integer`);
    let byteCount = 0;
    for (const buffer of buffers) byteCount += buffer.byteLength;
    // Like NodeFileSystem, an empty write makes no system call, so it cannot fail on a full disk.
    if (byteCount > 0) {
      if (this.state.diskFull) throw new FerryError('DISK_FULL', errorMessage('write', this.path, 'no space left on device'));
      this.node.write(buffers, position);
      if (this.dataSync) {
        // An O_DSYNC write is a durability point of its own (counted like a sync), for its own bytes only.
        this.node.syncRange(position, position + byteCount);
        this.state.syncCount++;
      }
    }
    this.state.writeCount++;
  }

  async sync(): Promise<void> {
    this.checkOpen('fdatasync');
    this.node.sync();
    this.state.syncCount++;
  }

  async truncate(length: number): Promise<void> {
    this.checkWritable('truncate');
    assert(Number.isInteger(length) && length >= 0, `truncate length ${length} is a non-negative integer`);
    if (length > this.node.content.length && this.state.diskFull) {
      throw new FerryError('DISK_FULL', errorMessage('truncate', this.path, 'no space left on device'));
    }
    this.node.truncate(length);
  }

  async close(): Promise<void> {
    // Closing a handle a crash killed is cleanup with nothing to lose, so it succeeds.
    this.closed = true;
  }

  private checkOpen(operation: string): void {
    if (this.processNumber !== this.state.processNumber) {
      throw new FerryError('IO_ERROR', errorMessage(operation, this.path, 'handle belongs to a process that crashed'));
    }
    if (this.closed) throw new FerryError('IO_ERROR', errorMessage(operation, this.path, 'handle is closed'));
  }

  private checkWritable(operation: string): void {
    this.checkOpen(operation);
    // Node reports EBADF (write) or EINVAL (ftruncate) here; both map to IO_ERROR.
    if (!this.writable) throw new FerryError('IO_ERROR', errorMessage(operation, this.path, 'handle was opened read-only'));
    if (this.state.isReadOnly(this.segments)) throw new FerryError('READ_ONLY', errorMessage(operation, this.path, 'read-only'));
  }
}

function segmentsOf(path: string): string[] {
  const segments: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  return segments;
}

function startsWith(segments: readonly string[], prefix: readonly string[]): boolean {
  if (prefix.length > segments.length) return false;
  for (let index = 0; index < prefix.length; index++) {
    if (segments[index] !== prefix[index]) return false;
  }
  return true;
}

function errorMessage(operation: string, path: string, reason: string): string {
  return `${operation} ${path}: ${reason} (simulated)`;
}
