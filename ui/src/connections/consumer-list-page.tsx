import { apiPath } from '../api/api-client.js';
import type { Consumer } from '../api/api-types.js';
import { useApi } from '../app/api-context.js';
import { routeHref } from '../app/hash-route.js';
import { usePoll } from '../app/use-poll.js';
import { DataTable, type Column } from '../components/data-table.js';
import { LoadError } from '../components/load-error.js';
import { PageHeader } from '../components/page-header.js';

const COLUMNS: ReadonlyArray<Column<Consumer>> = [
  { key: 'vhost', label: 'Vhost', value: (row) => row.vhost, secondary: true },
  { key: 'queue', label: 'Queue', value: (row) => row.queue, render: (row) => <a href={routeHref('queues', row.vhost, row.queue)}>{row.queue}</a> },
  { key: 'tag', label: 'Tag', value: (row) => row.consumer_tag, render: (row) => <code>{row.consumer_tag}</code> },
  { key: 'channel', label: 'Channel', value: (row) => row.channel, secondary: true },
  { key: 'ack', label: 'Ack required', value: (row) => row.ack_required, secondary: true },
  { key: 'prefetch', label: 'Prefetch', value: (row) => row.prefetch_count, numeric: true },
  { key: 'unacked', label: 'Unacked', value: (row) => row.messages_unacknowledged, numeric: true },
  { key: 'active', label: 'Active', value: (row) => row.active },
];

/** Every consumer of every queue the user may see. */
export function ConsumerListPage() {
  const api = useApi();
  const poll = usePoll(() => api.get<Consumer[]>(apiPath`/consumers`), 2_000, 'consumers');
  return (
    <section>
      <PageHeader title="Consumers" />
      <LoadError error={poll.error} />
      <DataTable columns={COLUMNS} rows={poll.data} rowKey={(row) => `${row.vhost}\u0000${row.queue}\u0000${row.consumer_tag}`} noun="consumers" testId="consumer-table" />
    </section>
  );
}
