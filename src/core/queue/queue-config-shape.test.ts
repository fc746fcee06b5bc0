import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runNodeScript } from '../../platform/node-script.js';
import { resolveQueueConfig } from './queue-config.js';

test('the configs of many queues declared alike share one V8 map (hidden class), so reading their fields stays monomorphic', async () => {
  const moduleUrl = new URL('./queue-config.js', import.meta.url).href;
  const stdout = await runNodeScript(
    `import { resolveQueueConfig } from ${JSON.stringify(moduleUrl)};
const configs = Array.from({ length: 50 }, (_, index) => resolveQueueConfig({ name: 'queue-' + index, durable: true, messageTtlMs: undefined, maxLength: 10 + index }));
const maps = [];
for (const config of configs) if (!maps.some((other) => %HaveSameMap(other, config))) maps.push(config);
console.log(maps.length);
`,
    ['--allow-natives-syntax'],
  );
  assert.equal(Number(stdout.trim()), 1);
});

test('a __proto__ key in a queue declaration is no setting and leaves the config a plain object', () => {
  const config = resolveQueueConfig(JSON.parse('{"name": "orders", "__proto__": {"durable": false, "polluted": true}}') as { name: string });
  assert.equal(Object.getPrototypeOf(config), Object.prototype);
  assert.equal(config.durable, true);
  assert.equal((config as unknown as Record<string, unknown>)['polluted'], undefined);
});
