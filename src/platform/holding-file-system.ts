/**
 * Test support: a {@link FileSystem} that passes everything through but can
 * hold writes to journal files, so a test can stop the storage engine between
 * two group commits and then kill it there (see SimulatedFileSystem.crashAfterKill).
 */
import type { FileHandle, FileLock, FileSystem, OpenOptions } from './file-system.js';

/** Passes everything through, but journal writes wait while `holding` is set. */
export class HoldingFileSystem implements FileSystem {
  holding = false;
  /** Journal writes started so far. */
  journalWrites = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly inner: FileSystem) {}

  /** Lets the oldest held journal write go on. */
  releaseOne(): void {
    this.waiting.shift()?.();
  }

  heldCount(): number {
    return this.waiting.length;
  }

  mkdir(path: string): Promise<void> {
    return this.inner.mkdir(path);
  }
  readdir(path: string): Promise<string[]> {
    return this.inner.readdir(path);
  }
  exists(path: string): Promise<boolean> {
    return this.inner.exists(path);
  }
  readFile(path: string): Promise<Uint8Array> {
    return this.inner.readFile(path);
  }
  unlink(path: string): Promise<void> {
    return this.inner.unlink(path);
  }
  removeTree(path: string): Promise<void> {
    return this.inner.removeTree(path);
  }
  rename(source: string, target: string): Promise<void> {
    return this.inner.rename(source, target);
  }
  syncDirectory(path: string): Promise<void> {
    return this.inner.syncDirectory(path);
  }
  lock(path: string): Promise<FileLock> {
    return this.inner.lock(path);
  }
  async open(path: string, options: OpenOptions): Promise<FileHandle> {
    const handle = await this.inner.open(path, options);
    if (!path.includes('journal/')) return handle;
    const write: FileHandle['write'] = async (buffers, position) => {
      this.journalWrites++;
      if (this.holding) await new Promise<void>((resolve) => this.waiting.push(resolve));
      return handle.write(buffers, position);
    };
    return Object.assign(Object.create(Object.getPrototypeOf(handle) as object) as FileHandle, handle, {
      path: handle.path,
      size: () => handle.size(),
      read: handle.read.bind(handle),
      write,
      sync: () => handle.sync(),
      truncate: (length: number) => handle.truncate(length),
      close: () => handle.close(),
    });
  }
}
