/**
 * The file system as storage sees it. Two implementations: `NodeFileSystem`
 * (real disk) and `SimulatedFileSystem` (memory, with crash semantics).
 *
 * Durability contract, which both implementations honour:
 * - bytes written to a file are durable only after `FileHandle.sync()` on it;
 * - a created, renamed or deleted directory entry is durable only after
 *   `syncDirectory()` on its parent directory;
 * - on a crash, anything not yet durable may be lost, and the last unsynced
 *   write to a file may survive only in part (a torn write).
 *
 * Errors are `FerryError`s with codes from the storage catalogue:
 * `FILE_NOT_FOUND`, `FILE_EXISTS`, `DISK_FULL`, `READ_ONLY`, `IO_ERROR`.
 */
export interface FileSystem {
  /** Creates a directory and its parents; no error when it exists. */
  mkdir(path: string): Promise<void>;
  /** Names (not paths) of the entries of a directory; `FILE_NOT_FOUND` when absent. */
  readdir(path: string): Promise<string[]>;
  /** True when a file or directory exists at `path`. */
  exists(path: string): Promise<boolean>;
  /** Opens a file. `create` makes it when absent; `exclusive` fails with `FILE_EXISTS` when present. */
  open(path: string, options: OpenOptions): Promise<FileHandle>;
  /** Reads a whole (small) file. */
  readFile(path: string): Promise<Uint8Array>;
  /** Removes a file; no error when absent. */
  unlink(path: string): Promise<void>;
  /** Removes a directory and everything below it; no error when absent. */
  removeTree(path: string): Promise<void>;
  /** Atomically replaces `target` with `source`. */
  rename(source: string, target: string): Promise<void>;
  /** Makes the entries of directory `path` durable (fsync of the directory). */
  syncDirectory(path: string): Promise<void>;
  /**
   * Takes an exclusive lock on `path` (a lock file) for this process.
   * Fails with `DATA_DIR_LOCKED` while another live process holds it.
   */
  lock(path: string): Promise<FileLock>;
}

/** How to open a file. */
export interface OpenOptions {
  /** Open for writing as well as reading. */
  readonly write: boolean;
  /** Create the file when it does not exist. */
  readonly create?: boolean;
  /** With `create`: fail with `FILE_EXISTS` when it exists. */
  readonly exclusive?: boolean;
  /**
   * Every write is durable when it resolves (O_DSYNC): write and fdatasync in
   * one system call, for a journal whose every write must be synced anyway.
   */
  readonly dataSync?: boolean;
}

/** An open file. Positions are absolute byte offsets; there is no file cursor. */
export interface FileHandle {
  readonly path: string;
  /** Current size in bytes, including writes not yet synced. */
  size(): Promise<number>;
  /** Reads up to `length` bytes at `position` into `target` at `targetOffset`; resolves with the count read (0 at end of file). */
  read(target: Uint8Array, targetOffset: number, length: number, position: number): Promise<number>;
  /** Writes all of `buffers`, one after another, starting at `position`. Not durable until `sync()`. */
  write(buffers: readonly Uint8Array[], position: number): Promise<void>;
  /** Resolves once every write made before the call is durable (fdatasync). */
  sync(): Promise<void>;
  /** Cuts or extends the file to `length` bytes. Not durable until `sync()`. */
  truncate(length: number): Promise<void>;
  /** Closes the handle; later calls fail. */
  close(): Promise<void>;
}

/** A held lock; `release()` gives it up. */
export interface FileLock {
  release(): Promise<void>;
}

/** Joins path segments with '/', the only separator storage uses. */
export function joinPath(...segments: string[]): string {
  return segments
    .filter((segment) => segment.length > 0)
    .join('/')
    .replace(/\/{2,}/g, '/');
}
