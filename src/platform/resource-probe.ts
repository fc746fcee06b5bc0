import { statfs } from 'node:fs';

/** Reads the machine's resources for memory and disk alarms. */
export interface ResourceProbe {
  /** Memory the process uses, in bytes (resident set). */
  memoryUsedBytes(): number;
  /** Free bytes on the file system holding `path`. */
  diskFreeBytes(path: string): Promise<number>;
}

/** The real probe: process RSS and statfs(2). */
export class NodeResourceProbe implements ResourceProbe {
  memoryUsedBytes(): number {
    return process.memoryUsage.rss();
  }

  diskFreeBytes(path: string): Promise<number> {
    return new Promise((resolve, reject) =>
      statfs(path, (error, stats) => (error ? reject(error) : resolve(Number(stats.bavail) * Number(stats.bsize)))),
    );
  }
}
