import { defineCommand } from '../define-command.js';
import { EXIT_CODES } from '../exit-codes.js';
import { formatTable, type Column } from '../format-table.js';
import type { QueueInfo } from '../management-client.js';
import { ALL_VHOSTS_FLAG, JSON_FLAG, SERVER_FLAGS, VHOST_FLAG, managementClientOf } from '../management-flags.js';
import { TerminalStyle } from '../terminal-style.js';

const COLUMNS: ReadonlyArray<Column<QueueInfo>> = [
  { header: 'name', value: (queue) => queue.name },
  { header: 'messages', value: (queue) => queue.messages },
  { header: 'ready', value: (queue) => queue.messages_ready },
  { header: 'unacked', value: (queue) => queue.messages_unacknowledged },
  { header: 'consumers', value: (queue) => queue.consumers },
  { header: 'publish/s', value: (queue) => queue.message_stats.publish_rate },
  { header: 'deliver/s', value: (queue) => queue.message_stats.deliver_rate },
  {
    header: 'features',
    value: (queue) => [queue.durable ? 'durable' : 'transient', queue.auto_delete ? 'auto-delete' : '', queue.exclusive ? 'exclusive' : ''].filter((word) => word !== '').join(' '),
  },
];

/** `ferry queues`: the queues of a vhost (`GET /api/queues/{vhost}`) or of all. */
export const queuesCommand = defineCommand({
  name: 'queues',
  synopsis: '[flags]',
  description: `Lists the queues of the vhost (or of every vhost with --all-vhosts) with their
messages (ready and unacknowledged), consumers and publish and deliver rates
per second, from GET /api/queues.`,
  flags: { ...SERVER_FLAGS, vhost: VHOST_FLAG, 'all-vhosts': ALL_VHOSTS_FLAG, json: { ...JSON_FLAG, description: 'print the API\'s queue objects as a JSON array' } },
  positionals: { min: 0, max: 0 },
  examples: ['ferry queues', 'ferry queues --vhost staging --json'],
  async run(parsed, context) {
    const client = managementClientOf(parsed);
    const vhost = parsed.requiredString('vhost');
    const allVhosts = parsed.boolean('all-vhosts');
    const queues = await client.queues(allVhosts ? null : vhost);
    if (parsed.boolean('json')) {
      context.streams.stdout(`${JSON.stringify(queues, null, 2)}\n`);
      return EXIT_CODES.success;
    }
    const columns = allVhosts ? [{ header: 'vhost', value: (queue: QueueInfo) => queue.vhost }, ...COLUMNS] : COLUMNS;
    context.streams.stdout(formatTable(columns, queues, TerminalStyle.for(context.stdoutIsTerminal, context.environment)));
    return EXIT_CODES.success;
  },
});
