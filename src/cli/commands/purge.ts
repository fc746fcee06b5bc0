import { defineCommand } from '../define-command.js';
import { EXIT_CODES } from '../exit-codes.js';
import { formatNumber } from '../format-table.js';
import { JSON_FLAG, SERVER_FLAGS, VHOST_FLAG, managementClientOf } from '../management-flags.js';

/** `ferry purge`: removes a queue's ready messages (`DELETE /api/queues/{vhost}/{queue}/contents`). */
export const purgeCommand = defineCommand({
  name: 'purge',
  synopsis: 'QUEUE [flags]',
  description: `Removes every ready message of QUEUE and prints how many went. Messages that
consumers hold unacknowledged stay, as with AMQP's queue.purge.`,
  flags: { ...SERVER_FLAGS, vhost: VHOST_FLAG, json: { ...JSON_FLAG, description: 'print {"messages_purged": N}' } },
  positionals: { min: 1, max: 1 },
  examples: ['ferry purge tasks'],
  async run(parsed, context) {
    const client = managementClientOf(parsed);
    const queue = parsed.positionals[0]!;
    const purged = await client.purge(parsed.requiredString('vhost'), queue);
    context.streams.stdout(parsed.boolean('json') ? `${JSON.stringify({ messages_purged: purged })}\n` : `purged ${formatNumber(purged)} message${purged === 1 ? '' : 's'} from queue ${JSON.stringify(queue)}\n`);
    return EXIT_CODES.success;
  },
});
