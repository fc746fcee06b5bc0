import { FerryError } from '../../lib/ferry-error.js';
import { defineCommand } from '../define-command.js';
import { EXIT_CODES } from '../exit-codes.js';
import { formatNumber } from '../format-table.js';
import { JSON_FLAG, SERVER_FLAGS, VHOST_FLAG, managementClientOf } from '../management-flags.js';

/** `ferry delete queue|exchange NAME`: `DELETE /api/queues/…` or `DELETE /api/exchanges/…`. */
export const deleteCommand = defineCommand({
  name: 'delete',
  synopsis: 'queue|exchange NAME [flags]',
  description: `Deletes a queue (with its messages and bindings) or an exchange (with its
bindings). With --if-empty or --if-unused the server refuses (PRECONDITION_FAILED
or EXCHANGE_IN_USE, exit 1) when the condition does not hold.`,
  flags: {
    ...SERVER_FLAGS,
    vhost: VHOST_FLAG,
    'if-empty': { type: 'boolean', description: 'queues only: delete only when it holds no messages' },
    'if-unused': { type: 'boolean', description: 'delete only when the queue has no consumers, or the exchange no bindings from it' },
    json: { ...JSON_FLAG, description: 'print {"messages_deleted": N} for a queue, {} for an exchange' },
  },
  positionals: { min: 2, max: 2 },
  examples: ['ferry delete queue tasks', 'ferry delete exchange events --if-unused'],
  async run(parsed, context) {
    const [kind, name] = parsed.positionals as [string, string];
    if (kind !== 'queue' && kind !== 'exchange') throw new FerryError('INVALID_USAGE', `cannot delete ${JSON.stringify(kind)}: say queue or exchange`);
    if (kind === 'exchange' && parsed.boolean('if-empty')) throw new FerryError('INVALID_USAGE', '--if-empty applies to queues only');
    const client = managementClientOf(parsed);
    const vhost = parsed.requiredString('vhost');
    const json = parsed.boolean('json');
    if (kind === 'queue') {
      const deleted = await client.deleteQueue(vhost, name, { ifEmpty: parsed.boolean('if-empty'), ifUnused: parsed.boolean('if-unused') });
      context.streams.stdout(json ? `${JSON.stringify({ messages_deleted: deleted })}\n` : `deleted queue ${JSON.stringify(name)} with ${formatNumber(deleted)} message${deleted === 1 ? '' : 's'}\n`);
    } else {
      await client.deleteExchange(vhost, name, { ifUnused: parsed.boolean('if-unused') });
      context.streams.stdout(json ? '{}\n' : `deleted exchange ${JSON.stringify(name)}\n`);
    }
    return EXIT_CODES.success;
  },
});
