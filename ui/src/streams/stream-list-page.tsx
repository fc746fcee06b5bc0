import { apiPath } from '../api/api-client.js';
import type { StreamSummary } from '../api/api-types.js';
import { useApi } from '../app/api-context.js';
import { routeHref } from '../app/hash-route.js';
import { usePoll } from '../app/use-poll.js';
import { DataTable, type Column } from '../components/data-table.js';
import { formatBytes, formatCount, formatDuration, formatRate } from '../components/format.js';
import { LoadError } from '../components/load-error.js';
import { PageHeader } from '../components/page-header.js';
import { DeclareStreamForm } from './declare-stream-form.js';

const COLUMNS: ReadonlyArray<Column<StreamSummary>> = [
  { key: 'vhost', label: 'Vhost', value: (row) => row.vhost, secondary: true },
  { key: 'name', label: 'Name', value: (row) => row.name, render: (row) => <a href={routeHref('streams', row.vhost, row.name)}>{row.name}</a> },
  { key: 'partitions', label: 'Partitions', value: (row) => row.partitions, numeric: true, secondary: true },
  { key: 'messages', label: 'Messages', value: (row) => row.messages, render: (row) => formatCount(row.messages), numeric: true },
  { key: 'size', label: 'Size', value: (row) => row.size_bytes, render: (row) => formatBytes(row.size_bytes), numeric: true },
  { key: 'rate', label: 'In', value: (row) => row.message_stats.append_rate, render: (row) => formatRate(row.message_stats.append_rate), numeric: true },
  { key: 'groups', label: 'Groups', value: (row) => row.consumer_groups, numeric: true, secondary: true },
  { key: 'retention', label: 'Retention', value: (row) => row.retention_ms, render: (row) => (row.retention_ms === null ? '–' : formatDuration(row.retention_ms)), secondary: true },
];

/** Every stream the user may see, with a form to declare one. */
export function StreamListPage() {
  const api = useApi();
  const poll = usePoll(() => api.get<StreamSummary[]>(apiPath`/streams`), 2_000, 'streams');
  return (
    <section>
      <PageHeader title="Streams" />
      <LoadError error={poll.error} />
      <DataTable columns={COLUMNS} rows={poll.data} rowKey={(row) => `${row.vhost}\u0000${row.name}`} noun="streams" testId="stream-table" />
      <details class="panel">
        <summary>
          <h2>Add a stream</h2>
        </summary>
        <DeclareStreamForm onDeclared={poll.refresh} />
      </details>
    </section>
  );
}
