import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

// Source is read from the repository (src/), not from dist/, so the codes are exactly as written.
function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (name.endsWith('.ts') && !name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

test('every error code raised in src/ is documented in docs/errors.md', () => {
  const catalogue = readFileSync('docs/errors.md', 'utf8');
  const documented = new Set([...catalogue.matchAll(/^\| `([A-Z][A-Z0-9_]+)` \|/gm)].map((m) => m[1]));
  assert.ok(documented.size > 0, 'the catalogue lists codes');
  const raised = new Map<string, string>();
  for (const file of sourceFiles('src')) {
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(/FerryError\(\s*'([A-Z][A-Z0-9_]+)'/g)) raised.set(match[1]!, file);
    for (const match of text.matchAll(/errorCode\(\s*'([A-Z][A-Z0-9_]+)'/g)) raised.set(match[1]!, file);
    // The client's error class (src/client/ferry-client-error.ts) draws on the same catalogue.
    for (const match of text.matchAll(/FerryClientError\(\s*'([A-Z][A-Z0-9_]+)'/g)) raised.set(match[1]!, file);
    for (const match of text.matchAll(/ProtocolError\(\s*'([A-Z][A-Z0-9_]+)'/g)) raised.set(match[1]!, file);
  }
  assert.ok(raised.size > 0, 'src/ raises at least one code');
  const missing = [...raised].filter(([code]) => !documented.has(code)).map(([code, file]) => `${code} (${file})`);
  assert.deepEqual(missing, [], `undocumented codes: ${missing.join(', ')}`);
});
