import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { resolveQueueConfig } from './queue-config.js';

const run = promisify(execFile);

test('the configs of many queues declared alike share one V8 map (hidden class), so reading their fields stays monomorphic', async () => {
  const directory = await mkdtemp(path.join(tmpdir(), 'ferry-config-shape-'));
  try {
    const script = path.join(directory, 'child.mjs');
    const moduleUrl = new URL('./queue-config.js', import.meta.url).href;
    await writeFile(
      script,
      `import { resolveQueueConfig } from ${JSON.stringify(moduleUrl)};
const configs = Array.from({ length: 50 }, (_, index) => resolveQueueConfig({ name: 'queue-' + index, durable: true, messageTtlMs: undefined, maxLength: 10 + index }));
const maps = [];
for (const config of configs) if (!maps.some((other) => %HaveSameMap(other, config))) maps.push(config);
console.log(maps.length);
`,
    );
    const { stdout } = await run(process.execPath, ['--allow-natives-syntax', script], { timeout: 60_000 });
    assert.equal(Number(stdout.trim()), 1);
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
});

test('a __proto__ key in a queue declaration is no setting and leaves the config a plain object', () => {
  const config = resolveQueueConfig(JSON.parse('{"name": "orders", "__proto__": {"durable": false, "polluted": true}}') as { name: string });
  assert.equal(Object.getPrototypeOf(config), Object.prototype);
  assert.equal(config.durable, true);
  assert.equal((config as unknown as Record<string, unknown>)['polluted'], undefined);
});
