import { setTimeout as delay } from 'node:timers/promises';

/** Polls `condition` every 10 ms until it holds; rejects, naming `what`, after `timeoutMs`. */
export async function waitUntil(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await delay(10);
  }
}
