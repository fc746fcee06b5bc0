import { defineCommand } from '../define-command.js';
import { EXIT_CODES } from '../exit-codes.js';
import { formatDuration } from '../format-duration.js';
import { formatTable, type Column } from '../format-table.js';
import type { ConnectionInfo } from '../management-client.js';
import { JSON_FLAG, SERVER_FLAGS, managementClientOf } from '../management-flags.js';
import { TerminalStyle } from '../terminal-style.js';

function columnsAt(nowMs: number): ReadonlyArray<Column<ConnectionInfo>> {
  return [
    { header: 'name', value: (connection) => connection.name },
    { header: 'protocol', value: (connection) => connection.protocol },
    { header: 'user', value: (connection) => connection.user },
    { header: 'vhost', value: (connection) => connection.vhost },
    { header: 'peer', value: (connection) => (connection.peer_host === null ? '' : `${connection.peer_host}:${connection.peer_port ?? ''}`) },
    { header: 'channels', value: (connection) => connection.channels },
    { header: 'state', value: (connection) => connection.state, colour: (text, connection, style) => (connection.state === 'open' ? text : style.yellow(text)) },
    { header: 'age', value: (connection) => formatDuration(Math.max(0, nowMs - connection.connected_at_ms)) },
  ];
}

/** `ferry connections`: the open client connections (`GET /api/connections`). */
export const connectionsCommand = defineCommand({
  name: 'connections',
  synopsis: '[flags]',
  description: `Lists the open client connections of every protocol: name, protocol, user,
vhost, peer address, channels, state and age, from GET /api/connections.
Administrators and monitoring users see every connection, others their own.`,
  flags: { ...SERVER_FLAGS, json: { ...JSON_FLAG, description: 'print the API\'s connection objects as a JSON array' } },
  positionals: { min: 0, max: 0 },
  examples: ['ferry connections'],
  async run(parsed, context) {
    const client = managementClientOf(parsed);
    const connections = await client.connections();
    if (parsed.boolean('json')) {
      context.streams.stdout(`${JSON.stringify(connections, null, 2)}\n`);
      return EXIT_CODES.success;
    }
    context.streams.stdout(formatTable(columnsAt(Date.now()), connections, TerminalStyle.for(context.stdoutIsTerminal, context.environment)));
    return EXIT_CODES.success;
  },
});
