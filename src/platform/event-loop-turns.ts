/**
 * Test support: lets `count` passes of Node's event loop go by (check phase), so queued work runs:
 * promise continuations, callbacks a ManualClock schedules with `runSoon`, storage reads and file I/O.
 */
export async function turns(count: number): Promise<void> {
  for (let turn = 0; turn < count; turn++) await new Promise<void>((resolve) => setImmediate(resolve));
}
