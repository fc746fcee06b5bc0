/**
 * Test support: holds the storage engine's journal writes on a
 * {@link HookedFileSystem}, so a test can stop it between two group commits
 * and kill it there (see SimulatedFileSystem.crashAfterKill).
 */
import type { HookedFileSystem } from './hooked-file-system.js';

export class JournalWriteGate {
  /** While set, journal writes wait until released, one by one. */
  holding = false;
  private readonly waiting: Array<() => void> = [];

  constructor(fileSystem: HookedFileSystem) {
    fileSystem.hook = (operation, path) => {
      if (!this.holding || operation !== 'write' || !path.includes('journal/')) return undefined;
      return new Promise<void>((resolve) => this.waiting.push(resolve));
    };
  }

  /** Lets the oldest held journal write go on. */
  releaseOne(): void {
    this.waiting.shift()?.();
  }

  /** Lets held write `index` (0 the oldest) go on, out of order when it is not 0; throws when there is none. */
  release(index: number): void {
    const [resume] = this.waiting.splice(index, 1);
    if (resume === undefined) throw new RangeError(`no held journal write ${index} (${this.waiting.length} held)`);
    resume();
  }

  heldCount(): number {
    return this.waiting.length;
  }
}
