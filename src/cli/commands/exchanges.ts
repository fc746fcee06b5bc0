import { defineCommand } from '../define-command.js';
import { EXIT_CODES } from '../exit-codes.js';
import { formatTable, type Column } from '../format-table.js';
import type { ExchangeInfo } from '../management-client.js';
import { ALL_VHOSTS_FLAG, JSON_FLAG, SERVER_FLAGS, VHOST_FLAG, managementClientOf } from '../management-flags.js';
import { TerminalStyle } from '../terminal-style.js';

const COLUMNS: ReadonlyArray<Column<ExchangeInfo>> = [
  // The default exchange's name is empty; RabbitMQ's tools show it the same way.
  { header: 'name', value: (exchange) => (exchange.name === '' ? '(default)' : exchange.name), colour: (text, exchange, style) => (exchange.name === '' ? style.dim(text) : text) },
  { header: 'type', value: (exchange) => exchange.type },
  { header: 'bindings', value: (exchange) => exchange.bindings_from },
  { header: 'alternate', value: (exchange) => exchange.alternate_exchange ?? '' },
  {
    header: 'features',
    value: (exchange) =>
      [exchange.durable ? 'durable' : 'transient', exchange.auto_delete ? 'auto-delete' : '', exchange.internal ? 'internal' : ''].filter((word) => word !== '').join(' '),
  },
];

/** `ferry exchanges`: the exchanges of a vhost (`GET /api/exchanges/{vhost}`) or of all. */
export const exchangesCommand = defineCommand({
  name: 'exchanges',
  synopsis: '[flags]',
  description: `Lists the exchanges of the vhost (or of every vhost with --all-vhosts) with their
type, how many bindings leave them, alternate exchange and flags, from
GET /api/exchanges. The default exchange (named "") shows as (default).`,
  flags: { ...SERVER_FLAGS, vhost: VHOST_FLAG, 'all-vhosts': ALL_VHOSTS_FLAG, json: { ...JSON_FLAG, description: 'print the API\'s exchange objects as a JSON array' } },
  positionals: { min: 0, max: 0 },
  examples: ['ferry exchanges', 'ferry exchanges --all-vhosts'],
  async run(parsed, context) {
    const client = managementClientOf(parsed);
    const vhost = parsed.requiredString('vhost');
    const allVhosts = parsed.boolean('all-vhosts');
    const exchanges = await client.exchanges(allVhosts ? null : vhost);
    if (parsed.boolean('json')) {
      context.streams.stdout(`${JSON.stringify(exchanges, null, 2)}\n`);
      return EXIT_CODES.success;
    }
    const columns = allVhosts ? [{ header: 'vhost', value: (exchange: ExchangeInfo) => exchange.vhost }, ...COLUMNS] : COLUMNS;
    context.streams.stdout(formatTable(columns, exchanges, TerminalStyle.for(context.stdoutIsTerminal, context.environment)));
    return EXIT_CODES.success;
  },
});
