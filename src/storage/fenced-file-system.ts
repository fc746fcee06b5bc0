import { FerryError } from '../lib/ferry-error.js';
import type { FileHandle, FileLock, FileSystem, OpenOptions } from '../platform/file-system.js';

/**
 * A FileSystem that can be cut off: once `fence()` is called every operation,
 * on the file system and on handles opened through it, fails with IO_ERROR.
 * A store that is abandoned (the in-process stand-in for kill -9) fences its
 * file system, so no write it had in flight can reach the files of the store
 * that recovers after it.
 */
export class FencedFileSystem implements FileSystem {
  private fenced = false;

  constructor(private readonly inner: FileSystem) {}

  /** Cuts off every later operation. */
  fence(): void {
    this.fenced = true;
  }

  private check(path: string): void {
    if (this.fenced) throw new FerryError('IO_ERROR', `${path}: the store that opened it was abandoned`);
  }

  private guard<T>(path: string, run: () => Promise<T>): Promise<T> {
    try {
      this.check(path);
      return run();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  mkdir(path: string): Promise<void> {
    return this.guard(path, () => this.inner.mkdir(path));
  }

  readdir(path: string): Promise<string[]> {
    return this.guard(path, () => this.inner.readdir(path));
  }

  exists(path: string): Promise<boolean> {
    return this.guard(path, () => this.inner.exists(path));
  }

  async open(path: string, options: OpenOptions): Promise<FileHandle> {
    this.check(path);
    const handle = await this.inner.open(path, options);
    const guard = <T>(run: () => Promise<T>): Promise<T> => this.guard(path, run);
    return {
      path: handle.path,
      size: () => guard(() => handle.size()),
      read: (target, targetOffset, length, position) => guard(() => handle.read(target, targetOffset, length, position)),
      write: (buffers, position) => guard(() => handle.write(buffers, position)),
      sync: () => guard(() => handle.sync()),
      truncate: (length) => guard(() => handle.truncate(length)),
      // Closing is always allowed: it releases a descriptor and writes nothing.
      close: () => handle.close(),
    };
  }

  readFile(path: string): Promise<Uint8Array> {
    return this.guard(path, () => this.inner.readFile(path));
  }

  unlink(path: string): Promise<void> {
    return this.guard(path, () => this.inner.unlink(path));
  }

  removeTree(path: string): Promise<void> {
    return this.guard(path, () => this.inner.removeTree(path));
  }

  rename(source: string, target: string): Promise<void> {
    return this.guard(source, () => this.inner.rename(source, target));
  }

  syncDirectory(path: string): Promise<void> {
    return this.guard(path, () => this.inner.syncDirectory(path));
  }

  lock(path: string): Promise<FileLock> {
    return this.guard(path, () => this.inner.lock(path));
  }
}
