import type { FileHandle, FileLock, FileSystem, OpenOptions } from './file-system.js';

/** The operations a {@link HookedFileSystem} reports; handle operations carry the handle's path. */
export type FileOperation =
  | 'mkdir'
  | 'readdir'
  | 'exists'
  | 'open'
  | 'readFile'
  | 'unlink'
  | 'removeTree'
  | 'rename'
  | 'syncDirectory'
  | 'lock'
  | 'size'
  | 'read'
  | 'write'
  | 'sync'
  | 'truncate';

/**
 * Test support: a FileSystem that awaits `hook(operation, path)` before each
 * operation, on itself or on a handle it opened (`close` is not reported).
 * A test holds an operation by returning a promise it settles later, or stops
 * it by throwing (after crashing the simulated disk under it, say).
 */
export class HookedFileSystem implements FileSystem {
  hook: ((operation: FileOperation, path: string) => void | Promise<void>) | null = null;
  /** Handles opened and not yet closed, per path. */
  readonly openHandles = new Map<string, number>();

  constructor(private readonly inner: FileSystem) {}

  private async before(operation: FileOperation, path: string): Promise<void> {
    if (this.hook) await this.hook(operation, path);
  }

  async mkdir(path: string): Promise<void> {
    await this.before('mkdir', path);
    return this.inner.mkdir(path);
  }

  async readdir(path: string): Promise<string[]> {
    await this.before('readdir', path);
    return this.inner.readdir(path);
  }

  async exists(path: string): Promise<boolean> {
    await this.before('exists', path);
    return this.inner.exists(path);
  }

  async readFile(path: string): Promise<Uint8Array> {
    await this.before('readFile', path);
    return this.inner.readFile(path);
  }

  async unlink(path: string): Promise<void> {
    await this.before('unlink', path);
    return this.inner.unlink(path);
  }

  async removeTree(path: string): Promise<void> {
    await this.before('removeTree', path);
    return this.inner.removeTree(path);
  }

  async rename(source: string, target: string): Promise<void> {
    await this.before('rename', target);
    return this.inner.rename(source, target);
  }

  async syncDirectory(path: string): Promise<void> {
    await this.before('syncDirectory', path);
    return this.inner.syncDirectory(path);
  }

  async lock(path: string): Promise<FileLock> {
    await this.before('lock', path);
    return this.inner.lock(path);
  }

  async open(path: string, options: OpenOptions): Promise<FileHandle> {
    await this.before('open', path);
    const handle = await this.inner.open(path, options);
    this.openHandles.set(path, (this.openHandles.get(path) ?? 0) + 1);
    let closed = false;
    return {
      path: handle.path,
      size: async () => {
        await this.before('size', path);
        return handle.size();
      },
      read: async (target, targetOffset, length, position) => {
        await this.before('read', path);
        return handle.read(target, targetOffset, length, position);
      },
      write: async (buffers, position) => {
        await this.before('write', path);
        return handle.write(buffers, position);
      },
      sync: async () => {
        await this.before('sync', path);
        return handle.sync();
      },
      truncate: async (length) => {
        await this.before('truncate', path);
        return handle.truncate(length);
      },
      close: () => {
        if (!closed) {
          closed = true;
          const count = this.openHandles.get(path)! - 1;
          if (count === 0) this.openHandles.delete(path);
          else this.openHandles.set(path, count);
        }
        return handle.close();
      },
    };
  }
}
