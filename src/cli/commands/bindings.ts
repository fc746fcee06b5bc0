import { defineCommand } from '../define-command.js';
import { EXIT_CODES } from '../exit-codes.js';
import { formatTable, type Column } from '../format-table.js';
import type { BindingInfo } from '../management-client.js';
import { ALL_VHOSTS_FLAG, JSON_FLAG, SERVER_FLAGS, VHOST_FLAG, managementClientOf } from '../management-flags.js';
import { TerminalStyle } from '../terminal-style.js';

const COLUMNS: ReadonlyArray<Column<BindingInfo>> = [
  { header: 'source', value: (binding) => (binding.source === '' ? '(default)' : binding.source) },
  { header: 'destination', value: (binding) => binding.destination },
  { header: 'type', value: (binding) => binding.destination_type },
  { header: 'routing key', value: (binding) => binding.routing_key },
  { header: 'arguments', value: (binding) => (Object.keys(binding.arguments).length === 0 ? '' : JSON.stringify(binding.arguments)) },
];

/** `ferry bindings`: the bindings of a vhost (`GET /api/bindings/{vhost}`) or of all. */
export const bindingsCommand = defineCommand({
  name: 'bindings',
  synopsis: '[flags]',
  description: `Lists the bindings of the vhost (or of every vhost with --all-vhosts): source
exchange, destination (queue, exchange or stream), routing key and arguments,
from GET /api/bindings.`,
  flags: { ...SERVER_FLAGS, vhost: VHOST_FLAG, 'all-vhosts': ALL_VHOSTS_FLAG, json: { ...JSON_FLAG, description: 'print the API\'s binding objects as a JSON array' } },
  positionals: { min: 0, max: 0 },
  examples: ['ferry bindings', 'ferry bindings --json | jq \'.[] | select(.destination == "orders")\''],
  async run(parsed, context) {
    const client = managementClientOf(parsed);
    const vhost = parsed.requiredString('vhost');
    const allVhosts = parsed.boolean('all-vhosts');
    const bindings = await client.bindings(allVhosts ? null : vhost);
    if (parsed.boolean('json')) {
      context.streams.stdout(`${JSON.stringify(bindings, null, 2)}\n`);
      return EXIT_CODES.success;
    }
    const columns = allVhosts ? [{ header: 'vhost', value: (binding: BindingInfo) => binding.vhost }, ...COLUMNS] : COLUMNS;
    context.streams.stdout(formatTable(columns, bindings, TerminalStyle.for(context.stdoutIsTerminal, context.environment)));
    return EXIT_CODES.success;
  },
});
