import * as fs from 'node:fs';
import { FerryError } from '../lib/ferry-error.js';
import type { FileHandle, FileLock, FileSystem, OpenOptions } from './file-system.js';

/** Maps a Node errno error onto the storage catalogue's codes. */
export function fileSystemError(error: unknown, path: string, operation: string): FerryError {
  const errno = (error as NodeJS.ErrnoException | undefined)?.code;
  const detail = `${operation} ${path}: ${(error as Error | undefined)?.message ?? String(error)}`;
  switch (errno) {
    case 'ENOENT':
      return new FerryError('FILE_NOT_FOUND', detail, { cause: error });
    case 'EEXIST':
      return new FerryError('FILE_EXISTS', detail, { cause: error });
    case 'ENOSPC':
    case 'EDQUOT':
      return new FerryError('DISK_FULL', detail, { cause: error });
    case 'EROFS':
    case 'EACCES':
    case 'EPERM':
      return new FerryError('READ_ONLY', detail, { cause: error });
    default:
      return new FerryError('IO_ERROR', detail, { cause: error });
  }
}

function call<T>(path: string, operation: string, run: (done: (error: NodeJS.ErrnoException | null, value?: T) => void) => void): Promise<T> {
  // Callback APIs wrapped by hand: cheaper per call than fs/promises on the hot path.
  return new Promise<T>((resolve, reject) => {
    run((error, value) => (error ? reject(fileSystemError(error, path, operation)) : resolve(value as T)));
  });
}

class NodeFileHandle implements FileHandle {
  private closed = false;

  constructor(
    readonly path: string,
    private readonly fd: number,
  ) {}

  size(): Promise<number> {
    return call<fs.Stats>(this.path, 'stat', (done) => fs.fstat(this.fd, done)).then((stats) => stats.size);
  }

  read(target: Uint8Array, targetOffset: number, length: number, position: number): Promise<number> {
    return call<number>(this.path, 'read', (done) => fs.read(this.fd, target, targetOffset, length, position, done));
  }

  async write(buffers: readonly Uint8Array[], position: number): Promise<void> {
    let remaining = buffers.filter((buffer) => buffer.byteLength > 0);
    let at = position;
    while (remaining.length > 0) {
      const written = await call<number>(this.path, 'write', (done) =>
        fs.writev(this.fd, remaining as Uint8Array[] as NodeJS.ArrayBufferView[], at, done),
      );
      at += written;
      // A short write (rare: signals, full disks) continues with what is left.
      let skip = written;
      const rest: Uint8Array[] = [];
      for (const buffer of remaining) {
        if (skip >= buffer.byteLength) {
          skip -= buffer.byteLength;
        } else {
          rest.push(skip > 0 ? buffer.subarray(skip) : buffer);
          skip = 0;
        }
      }
      remaining = rest;
    }
  }

  sync(): Promise<void> {
    return call<void>(this.path, 'fdatasync', (done) => fs.fdatasync(this.fd, done));
  }

  truncate(length: number): Promise<void> {
    return call<void>(this.path, 'truncate', (done) => fs.ftruncate(this.fd, length, done));
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return call<void>(this.path, 'close', (done) => fs.close(this.fd, done));
  }
}

/** The real file system, through Node's `fs` callback API. */
export class NodeFileSystem implements FileSystem {
  async mkdir(path: string): Promise<void> {
    await call<string | undefined>(path, 'mkdir', (done) => fs.mkdir(path, { recursive: true }, done));
  }

  readdir(path: string): Promise<string[]> {
    return call<string[]>(path, 'readdir', (done) => fs.readdir(path, done));
  }

  exists(path: string): Promise<boolean> {
    return new Promise((resolve) => fs.access(path, (error) => resolve(!error)));
  }

  async open(path: string, options: OpenOptions): Promise<FileHandle> {
    let flags = options.write ? fs.constants.O_RDWR : fs.constants.O_RDONLY;
    if (options.create) flags |= fs.constants.O_CREAT;
    if (options.create && options.exclusive) flags |= fs.constants.O_EXCL;
    if (options.dataSync) flags |= fs.constants.O_DSYNC;
    const fd = await call<number>(path, 'open', (done) => fs.open(path, flags, 0o644, done));
    return new NodeFileHandle(path, fd);
  }

  async readFile(path: string): Promise<Uint8Array> {
    const buffer = await call<Buffer>(path, 'readFile', (done) => fs.readFile(path, done));
    return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  }

  unlink(path: string): Promise<void> {
    return new Promise((resolve, reject) =>
      fs.unlink(path, (error) => (error && error.code !== 'ENOENT' ? reject(fileSystemError(error, path, 'unlink')) : resolve())),
    );
  }

  removeTree(path: string): Promise<void> {
    return call<void>(path, 'rm', (done) => fs.rm(path, { recursive: true, force: true }, done));
  }

  rename(source: string, target: string): Promise<void> {
    return call<void>(source, 'rename', (done) => fs.rename(source, target, done));
  }

  async syncDirectory(path: string): Promise<void> {
    const fd = await call<number>(path, 'open', (done) => fs.open(path, fs.constants.O_RDONLY, done));
    try {
      await call<void>(path, 'fsync', (done) => fs.fsync(fd, done));
    } finally {
      await call<void>(path, 'close', (done) => fs.close(fd, done));
    }
  }

  async lock(path: string): Promise<FileLock> {
    // Node has no flock(2). The lock is a file holding the owner's pid, created
    // with O_EXCL; a lock whose owner is dead is stale and is taken over.
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fd = fs.openSync(path, 'wx');
        fs.writeSync(fd, `${process.pid}\n`);
        fs.fsyncSync(fd);
        fs.closeSync(fd);
        return {
          release: async () => {
            try {
              if (fs.readFileSync(path, 'utf8').trim() === String(process.pid)) fs.unlinkSync(path);
            } catch {
              // Already gone: nothing to release.
            }
          },
        };
      } catch (error) {
        const errno = (error as NodeJS.ErrnoException).code;
        if (errno !== 'EEXIST') throw fileSystemError(error, path, 'lock');
      }
      let ownerPid = Number.NaN;
      try {
        ownerPid = Number.parseInt(fs.readFileSync(path, 'utf8').trim(), 10);
      } catch {
        continue; // Removed between our open and read: try again.
      }
      if (Number.isInteger(ownerPid) && ownerPid > 0 && ownerPid !== process.pid && isAlive(ownerPid)) {
        throw new FerryError('DATA_DIR_LOCKED', `${path} is held by running process ${ownerPid}`);
      }
      if (ownerPid === process.pid) {
        throw new FerryError('DATA_DIR_LOCKED', `${path} is already held by this process`);
      }
      fs.rmSync(path, { force: true }); // Stale: its owner is gone.
    }
    throw new FerryError('DATA_DIR_LOCKED', `${path} could not be taken`);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
