import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { testPasswordHasher } from '../core/test-broker.js';
import { Broker } from '../server/broker.js';
import { startTestAdmin, type TestAdmin } from './admin-test-client.js';

let broker: Broker;
let admin: TestAdmin;
let directory: string;
const script = `console.log(${JSON.stringify('x'.repeat(4_000))});\n`;

before(async () => {
  // A stand-in for a Vite build: index.html, a hashed asset, a public file, and a file the console does not serve.
  directory = mkdtempSync(join(tmpdir(), 'ferry-console-'));
  mkdirSync(join(directory, 'assets'));
  writeFileSync(join(directory, 'index.html'), '<!doctype html><title>Ferry</title><script type="module" src="/assets/index-abc123.js"></script>');
  writeFileSync(join(directory, 'assets', 'index-abc123.js'), script);
  writeFileSync(join(directory, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
  writeFileSync(join(directory, 'notes.ts'), 'export {};');
  broker = await Broker.start({ memory: true, passwordHasher: testPasswordHasher });
  admin = await startTestAdmin(broker.core, { consoleDirectory: directory });
});

after(async () => {
  await admin.close();
  await broker.close();
  rmSync(directory, { recursive: true, force: true });
});

/** A raw request (fetch would decompress and add its own accept-encoding). */
function get(path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(`${admin.url}${path}`, { method, headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }));
      response.on('error', reject);
    });
    outgoing.on('error', reject);
    outgoing.end();
  });
}

test('/ serves index.html without a login, revalidated on every load, under a strict content security policy', async () => {
  const index = await get('/');
  assert.equal(index.status, 200);
  assert.equal(index.headers['content-type'], 'text/html; charset=utf-8');
  assert.equal(index.headers['cache-control'], 'no-cache');
  assert.match(String(index.headers['content-security-policy']), /default-src 'self'/);
  assert.match(String(index.headers['content-security-policy']), /connect-src 'self'/);
  assert.equal(index.headers['x-content-type-options'], 'nosniff');
  assert.match(index.body.toString(), /<title>Ferry<\/title>/);
  const etag = index.headers['etag'];
  assert.ok(etag);
  const again = await get('/', { 'if-none-match': etag });
  assert.equal(again.status, 304);
  assert.equal(again.body.byteLength, 0);
  assert.equal((await get('/', {}, 'HEAD')).status, 200);
  assert.equal((await get('/index.html')).body.toString(), index.body.toString());
});

test('hashed assets are cached for a year and sent gzipped to clients that accept it', async () => {
  const plain = await get('/assets/index-abc123.js');
  assert.equal(plain.status, 200);
  assert.equal(plain.headers['content-type'], 'text/javascript; charset=utf-8');
  assert.equal(plain.headers['cache-control'], 'public, max-age=31536000, immutable');
  assert.equal(plain.headers['content-encoding'], undefined);
  assert.equal(plain.body.toString(), script);
  const gzipped = await get('/assets/index-abc123.js', { 'accept-encoding': 'gzip, br' });
  assert.equal(gzipped.headers['content-encoding'], 'gzip');
  assert.equal(gzipped.headers['vary'], 'accept-encoding');
  assert.ok(gzipped.body.byteLength < script.length / 10);
  assert.equal(gunzipSync(gzipped.body).toString(), script);
  assert.equal((await get('/assets/index-abc123.js', { 'accept-encoding': 'gzip;q=0' })).headers['content-encoding'], undefined);
  const icon = await get('/favicon.svg');
  assert.equal(icon.headers['content-type'], 'image/svg+xml');
  assert.equal(icon.headers['cache-control'], 'no-cache');
});

test('files the console does not serve, and paths outside it, are 404 NOT_FOUND', async () => {
  for (const path of ['/notes.ts', '/assets/missing.js', '/assets/', '/../package.json', '/%2e%2e/package.json']) {
    const answer = await admin.request('GET', path, { login: null });
    assert.equal(answer.status, 404, path);
    assert.equal(answer.code, 'NOT_FOUND', path);
  }
});

test('the API still asks for a login, without a browser challenge when a script asks', async () => {
  const browser = await admin.request('GET', '/api/overview', { login: null });
  assert.equal(browser.status, 401);
  assert.match(browser.headers.get('www-authenticate') ?? '', /^Basic/);
  const script = await admin.request('GET', '/api/overview', { login: null, headers: { 'x-requested-with': 'XMLHttpRequest' } });
  assert.equal(script.status, 401);
  assert.equal(script.code, 'UNAUTHORIZED');
  assert.equal(script.headers.get('www-authenticate'), null, 'the console shows its own login form');
});

test('without a built console, / says how to build it', async () => {
  const bare = await startTestAdmin(broker.core, { consoleDirectory: join(directory, 'missing') });
  try {
    const answer = await bare.request('GET', '/', { login: null });
    assert.equal(answer.status, 404);
    assert.equal(answer.code, 'NOT_FOUND');
    assert.match(answer.body.error.message, /npm run build/);
  } finally {
    await bare.close();
  }
});

test('a console directory beyond the limits is logged and not served; the API still starts', async () => {
  const crowded = mkdtempSync(join(tmpdir(), 'ferry-console-crowded-'));
  writeFileSync(join(crowded, 'index.html'), '<!doctype html>');
  for (let index = 0; index < 250; index++) writeFileSync(join(crowded, `file-${index}.js`), '');
  const logged: string[] = [];
  const crowdedAdmin = await startTestAdmin(broker.core, { consoleDirectory: crowded, logger: { error: (message) => logged.push(message) } });
  try {
    assert.equal((await crowdedAdmin.request('GET', '/', { login: null })).status, 404);
    assert.equal((await crowdedAdmin.request('GET', '/api/overview')).status, 200);
    assert.deepEqual(logged, ['web console not served: its files cannot be loaded']);
  } finally {
    await crowdedAdmin.close();
    rmSync(crowded, { recursive: true, force: true });
  }
});
