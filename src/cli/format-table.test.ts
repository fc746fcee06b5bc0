import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatNumber, formatPairs, formatTable } from './format-table.js';
import { TerminalStyle } from './terminal-style.js';

const plain = new TerminalStyle(false);
const rows = [
  { name: 'orders', messages: 1234 },
  { name: 'a', messages: 5 },
];
const columns = [
  { header: 'name', value: (row: (typeof rows)[number]) => row.name },
  { header: 'messages', value: (row: (typeof rows)[number]) => row.messages },
];

test('a table aligns text left and numbers right, two spaces apart, without trailing spaces', () => {
  assert.equal(formatTable(columns, rows, plain), ['NAME    MESSAGES', 'orders     1,234', 'a              5', ''].join('\n'));
});

test('an empty table is its header line', () => {
  assert.equal(formatTable(columns, [], plain), 'NAME  MESSAGES\n');
});

test('control characters in values are escaped so a name cannot break the layout', () => {
  const table = formatTable([{ header: 'name', value: (row: { name: string }) => row.name }], [{ name: 'evil\nname\u001b[31m' }], plain);
  assert.equal(table, 'NAME\nevil\\nname\\u001b[31m\n');
});

test('colour applies only when the style is enabled, and does not disturb alignment', () => {
  const coloured = formatTable(columns, rows, new TerminalStyle(true));
  assert.match(coloured, /\u001b\[1mNAME  \u001b\[22m/);
  assert.equal(coloured.replace(/\u001b\[[0-9;]*m/g, ''), formatTable(columns, rows, plain));
  assert.equal(TerminalStyle.for(true, { NO_COLOR: '1' }).enabled, false);
  assert.equal(TerminalStyle.for(false, {}).enabled, false);
  assert.equal(TerminalStyle.for(true, {}).enabled, true);
});

test('pairs put labels in one column, and numbers get thousands separators', () => {
  assert.equal(formatPairs([['version', '1.0'], ['uptime', '3 s']], plain), 'version  1.0\nuptime   3 s\n');
  assert.equal(formatNumber(1234567.891), '1,234,567.89');
});
