import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * Runs `source` as an ES module in a child Node process started with `nodeFlags` (such as
 * --allow-natives-syntax, for tests that ask V8 about objects) and returns what it printed.
 * The module is written to a temporary directory, removed afterwards; it imports modules by URL.
 */
export async function runNodeScript(source: string, nodeFlags: readonly string[], timeoutMs = 60_000): Promise<string> {
  const directory = await mkdtemp(path.join(tmpdir(), 'ferry-script-'));
  try {
    const script = path.join(directory, 'child.mjs');
    await writeFile(script, source);
    const { stdout } = await run(process.execPath, [...nodeFlags, script], { timeout: timeoutMs });
    return stdout;
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}
