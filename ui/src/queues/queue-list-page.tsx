import { apiPath } from '../api/api-client.js';
import type { QueueSummary } from '../api/api-types.js';
import { useApi } from '../app/api-context.js';
import { routeHref } from '../app/hash-route.js';
import { usePoll } from '../app/use-poll.js';
import { Badges } from '../components/badges.js';
import { DataTable, type Column } from '../components/data-table.js';
import { formatBytes, formatCount, formatRate } from '../components/format.js';
import { LoadError } from '../components/load-error.js';
import { PageHeader } from '../components/page-header.js';
import { DeclareQueueForm } from './declare-queue-form.js';

const COLUMNS: ReadonlyArray<Column<QueueSummary>> = [
  { key: 'vhost', label: 'Vhost', value: (row) => row.vhost, secondary: true },
  {
    key: 'name',
    label: 'Name',
    value: (row) => row.name,
    render: (row) => (
      <>
        <a href={routeHref('queues', row.vhost, row.name)}>{row.name}</a> <Badges flags={{ transient: !row.durable, 'auto-delete': row.auto_delete, exclusive: row.exclusive }} />
      </>
    ),
  },
  { key: 'ready', label: 'Ready', value: (row) => row.messages_ready, render: (row) => formatCount(row.messages_ready), numeric: true },
  { key: 'unacked', label: 'Unacked', value: (row) => row.messages_unacknowledged, render: (row) => formatCount(row.messages_unacknowledged), numeric: true },
  { key: 'total', label: 'Total', value: (row) => row.messages, render: (row) => formatCount(row.messages), numeric: true, secondary: true },
  { key: 'consumers', label: 'Consumers', value: (row) => row.consumers, numeric: true, secondary: true },
  { key: 'publish', label: 'In', value: (row) => row.message_stats.publish_rate, render: (row) => formatRate(row.message_stats.publish_rate), numeric: true },
  { key: 'deliver', label: 'Out', value: (row) => row.message_stats.deliver_rate, render: (row) => formatRate(row.message_stats.deliver_rate), numeric: true, secondary: true },
  { key: 'ack', label: 'Ack', value: (row) => row.message_stats.ack_rate, render: (row) => formatRate(row.message_stats.ack_rate), numeric: true, secondary: true },
  { key: 'bytes', label: 'Bytes', value: (row) => row.message_bytes_ready, render: (row) => formatBytes(row.message_bytes_ready), numeric: true, secondary: true },
];

/** Every queue the user may see, sortable and filterable, with a form to declare one. */
export function QueueListPage() {
  const api = useApi();
  const poll = usePoll(() => api.get<QueueSummary[]>(apiPath`/queues`), 2_000, 'queues');
  return (
    <section>
      <PageHeader title="Queues" />
      <LoadError error={poll.error} />
      <DataTable columns={COLUMNS} rows={poll.data} rowKey={(row) => `${row.vhost}\u0000${row.name}`} noun="queues" testId="queue-table" />
      <details class="panel">
        <summary>
          <h2>Add a queue</h2>
        </summary>
        <DeclareQueueForm onDeclared={() => poll.refresh()} />
      </details>
    </section>
  );
}
