import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runNodeScript } from '../platform/node-script.js';

/**
 * A child process starts an in-memory broker, then keeps objects of one allocation site alive
 * (V8 pretenures such a site), and reports how many of the objects that site makes afterwards
 * (1,000 after each of 5 bursts) V8 put straight in the old generation (`%InYoungGeneration`).
 * V8 decides to pretenure only at a scavenge of a young generation at its largest: the child
 * runs with a fixed 1 MiB semi-space, so that it is.
 */
async function oldAfterSurvivingBurst(gcPretenuring: boolean | undefined): Promise<number> {
  const brokerUrl = new URL('./broker.js', import.meta.url).href;
  const stdout = await runNodeScript(
    `import { Broker } from ${JSON.stringify(brokerUrl)};
const broker = await Broker.start(${JSON.stringify(gcPretenuring === undefined ? { memory: true } : { memory: true, gcPretenuring })});
const make = (i) => ({ a: i, b: i + 1, c: null });
const keep = [];
let old = 0;
for (let burst = 0; burst < 5; burst++) {
  for (let i = 0; i < 800_000; i++) keep.push(make(i));
  await new Promise((resolve) => setTimeout(resolve, 5));
  for (let i = 0; i < 1000; i++) { const o = make(i); keep.push(o); if (!%InYoungGeneration(o)) old++; }
}
await broker.close();
console.log(old);
`,
    ['--allow-natives-syntax', '--max-semi-space-size=1', '--min-semi-space-size=1'],
  );
  return Number(stdout.trim());
}

test('Broker.start turns off V8 allocation-site pretenuring; gcPretenuring: true leaves it on', async () => {
  assert.equal(await oldAfterSurvivingBurst(undefined), 0, 'objects of a site whose objects survived stay young');
  assert.ok((await oldAfterSurvivingBurst(true)) > 0, 'with V8 defaults the site is pretenured (the test can tell)');
});
