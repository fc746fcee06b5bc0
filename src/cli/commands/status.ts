import { defineCommand } from '../define-command.js';
import { EXIT_CODES } from '../exit-codes.js';
import { formatDuration } from '../format-duration.js';
import { formatNumber, formatPairs } from '../format-table.js';
import { JSON_FLAG, SERVER_FLAGS, managementClientOf } from '../management-flags.js';
import { TerminalStyle } from '../terminal-style.js';

/** `ferry status`: the server's overview (`GET /api/overview`). */
export const statusCommand = defineCommand({
  name: 'status',
  synopsis: '[flags]',
  description: `Shows the server's version, uptime, listeners, object totals, messages, rates
and resource alarms, from GET /api/overview. Exits 1 when the server cannot be
reached or refuses the login, so it also serves as a health check.`,
  flags: { ...SERVER_FLAGS, json: { ...JSON_FLAG, description: 'print the overview document as JSON' } },
  positionals: { min: 0, max: 0 },
  examples: ['ferry status', 'FERRY_URL=http://10.0.0.5:15672 FERRY_PASSWORD=secret ferry status --user admin'],
  async run(parsed, context) {
    const client = managementClientOf(parsed);
    const overview = await client.overview();
    if (parsed.boolean('json')) {
      context.streams.stdout(`${JSON.stringify(overview, null, 2)}\n`);
      return EXIT_CODES.success;
    }
    const style = TerminalStyle.for(context.stdoutIsTerminal, context.environment);
    const totals = overview.object_totals;
    const queued = overview.queue_totals;
    const rates = overview.message_stats;
    const plural = (count: number, noun: string): string => `${formatNumber(count)} ${noun}${count === 1 ? '' : 's'}`;
    context.streams.stdout(
      formatPairs(
        [
          ['version', `Ferry ${overview.ferry_version} (Node ${overview.node_version})`],
          ['uptime', formatDuration(overview.uptime_ms)],
          ['listeners', overview.listeners.map((listener) => `${listener.protocol} ${listener.host ?? ''}:${listener.port}`).join(', ') || 'none'],
          [
            'objects',
            [
              plural(totals.vhosts, 'vhost'),
              plural(totals.exchanges, 'exchange'),
              plural(totals.queues, 'queue'),
              ...(totals.streams !== undefined ? [plural(totals.streams, 'stream')] : []),
              plural(totals.bindings, 'binding'),
              plural(totals.consumers, 'consumer'),
              plural(totals.connections, 'connection'),
              plural(totals.channels, 'channel'),
            ].join(', '),
          ],
          [
            'messages',
            `${formatNumber(queued.messages)} (ready ${formatNumber(queued.messages_ready)}, unacknowledged ${formatNumber(queued.messages_unacknowledged)}, scheduled ${formatNumber(queued.messages_scheduled)})`,
          ],
          [
            'rates',
            `publish ${formatNumber(rates.publish_rate)}/s, deliver ${formatNumber(rates.deliver_rate)}/s, ack ${formatNumber(rates.ack_rate)}/s, unroutable ${formatNumber(rates.unroutable_rate)}/s`,
          ],
          ['alarms', overview.alarms.length === 0 ? style.green('none') : style.red(overview.alarms.join(', '))],
          ...(overview.storage_bytes !== null ? [['storage', formatBytes(overview.storage_bytes)] as const] : []),
        ],
        style,
      ),
    );
    return EXIT_CODES.success;
  },
});

/** A byte count for people: `512 B`, `1.5 KiB`, `12.3 MiB`, `2.0 GiB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}
