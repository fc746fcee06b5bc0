// Runs every compiled test file (dist/**/*.test.js) with node's test runner.
// `node scripts/run-tests.mjs [filter]` runs only files whose path contains `filter`.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const filter = process.argv[2] ?? '';
const files = [];
function walk(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (name.endsWith('.test.js') && path.includes(filter)) files.push(path);
  }
}
for (const root of ['dist/src', 'dist/test']) {
  try { walk(root); } catch { /* folder not built yet */ }
}
files.sort();
if (files.length === 0) {
  console.error(`no test files match "${filter}"`);
  process.exit(1);
}
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=2', ...files], { stdio: 'inherit' });
process.exit(result.status ?? 1);
