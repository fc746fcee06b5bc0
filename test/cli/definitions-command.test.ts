// `ferry definitions export | import`: the topology of one server into a second.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runFerry, startTestServer, type TestServer } from './cli-harness.js';

let source: TestServer;
let target: TestServer;
let directory: string;

before(async () => {
  [source, target] = await Promise.all([startTestServer(), startTestServer()]);
  directory = mkdtempSync(join(tmpdir(), 'ferry-cli-definitions-'));
  await source.api('PUT', '/api/exchanges/%2F/billing', { type: 'topic' });
  await source.api('PUT', '/api/queues/%2F/invoices', { policies: { max_length: 500 } });
  await source.api('POST', '/api/bindings/%2F/e/billing/q/invoices', { routing_key: 'invoice.#' });
  await source.api('PUT', '/api/users/auditor', { password: 'secret', tags: ['monitoring'] });
});

after(async () => {
  await Promise.all([source.close(), target.close()]);
  rmSync(directory, { recursive: true, force: true });
});

test('export to a file and import it into a second server recreates exchanges, queues, bindings and users', async () => {
  const file = join(directory, 'definitions.json');
  const exported = await runFerry(['definitions', 'export', file], { environment: { FERRY_URL: source.httpUrl } });
  assert.equal(exported.code, 0, exported.stderr);
  assert.equal(exported.stdout, '');
  const document = JSON.parse(readFileSync(file, 'utf8')) as { queues: Array<{ name: string }> };
  assert.ok(document.queues.some((queue) => queue.name === 'invoices'));

  const imported = await runFerry(['definitions', 'import', file], { environment: { FERRY_URL: target.httpUrl } });
  assert.equal(imported.code, 0, imported.stderr);
  assert.match(imported.stdout, /^imported: .*queues 1.*bindings 1/);

  const queues = (await target.api('GET', '/api/queues/%2F')) as Array<{ name: string; policies: { max_length?: number } }>;
  assert.equal(queues.find((queue) => queue.name === 'invoices')?.policies.max_length, 500);
  const bindings = (await target.api('GET', '/api/bindings/%2F')) as Array<{ source: string; destination: string; routing_key: string }>;
  assert.ok(bindings.some((binding) => binding.source === 'billing' && binding.destination === 'invoices' && binding.routing_key === 'invoice.#'));
  const users = (await target.api('GET', '/api/users')) as Array<{ name: string }>;
  assert.ok(users.some((user) => user.name === 'auditor'));
  // The imported password hash logs in.
  const status = await runFerry(['status'], { environment: { FERRY_URL: target.httpUrl, FERRY_USER: 'auditor', FERRY_PASSWORD: 'secret' } });
  assert.equal(status.code, 0, status.stderr);
});

test('export without FILE writes JSON to stdout, and import - reads stdin', async () => {
  const exported = await runFerry(['definitions', 'export'], { environment: { FERRY_URL: source.httpUrl } });
  assert.equal(exported.code, 0, exported.stderr);
  const imported = await runFerry(['definitions', 'import', '-', '--json'], { environment: { FERRY_URL: target.httpUrl }, stdin: exported.stdout });
  assert.equal(imported.code, 0, imported.stderr);
  const { imported: counts } = JSON.parse(imported.stdout) as { imported: Record<string, number> };
  assert.equal(counts['exchanges'], 1);
});

test('importing a file that is not JSON, or is not a definitions document, exits 1 with a code', async () => {
  const broken = join(directory, 'broken.json');
  writeFileSync(broken, '{ "queues": ');
  const notJson = await runFerry(['definitions', 'import', broken], { environment: { FERRY_URL: target.httpUrl } });
  assert.equal(notJson.code, 1);
  assert.match(notJson.stderr, /^ferry: INVALID_DEFINITIONS: .*broken\.json is not JSON/);

  const wrong = join(directory, 'wrong.json');
  writeFileSync(wrong, '{ "queues": [{ "name": 1 }] }');
  const invalid = await runFerry(['definitions', 'import', wrong], { environment: { FERRY_URL: target.httpUrl } });
  assert.equal(invalid.code, 1);
  assert.match(invalid.stderr, /^ferry: INVALID_DEFINITIONS: /);

  const missing = await runFerry(['definitions', 'import', join(directory, 'nothing.json')], { environment: { FERRY_URL: target.httpUrl } });
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^ferry: FILE_NOT_FOUND: /);
});
