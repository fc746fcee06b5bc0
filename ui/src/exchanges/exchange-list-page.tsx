import { apiPath } from '../api/api-client.js';
import { exchangePathName, type Exchange } from '../api/api-types.js';
import { useApi } from '../app/api-context.js';
import { routeHref } from '../app/hash-route.js';
import { usePoll } from '../app/use-poll.js';
import { Badges } from '../components/badges.js';
import { DataTable, type Column } from '../components/data-table.js';
import { LoadError } from '../components/load-error.js';
import { PageHeader } from '../components/page-header.js';
import { DeclareExchangeForm } from './declare-exchange-form.js';

const COLUMNS: ReadonlyArray<Column<Exchange>> = [
  { key: 'vhost', label: 'Vhost', value: (row) => row.vhost, secondary: true },
  {
    key: 'name',
    label: 'Name',
    value: (row) => (row.name === '' ? '(default)' : row.name),
    render: (row) => (
      <>
        <a href={routeHref('exchanges', row.vhost, exchangePathName(row.name))}>{row.name === '' ? '(default)' : row.name}</a>{' '}
        <Badges flags={{ transient: !row.durable, 'auto-delete': row.auto_delete, internal: row.internal }} />
      </>
    ),
  },
  { key: 'type', label: 'Type', value: (row) => row.type + (row.topic_dialect && row.topic_dialect !== 'amqp' ? ` (${row.topic_dialect})` : '') },
  { key: 'bindings', label: 'Bindings', value: (row) => row.bindings_from, numeric: true },
  { key: 'alternate', label: 'Alternate', value: (row) => row.alternate_exchange, secondary: true },
];

/** Every exchange the user may see, with a form to declare one. */
export function ExchangeListPage() {
  const api = useApi();
  const poll = usePoll(() => api.get<Exchange[]>(apiPath`/exchanges`), 2_000, 'exchanges');
  return (
    <section>
      <PageHeader title="Exchanges" />
      <LoadError error={poll.error} />
      <DataTable columns={COLUMNS} rows={poll.data} rowKey={(row) => `${row.vhost}\u0000${row.name}`} noun="exchanges" testId="exchange-table" />
      <details class="panel">
        <summary>
          <h2>Add an exchange</h2>
        </summary>
        <DeclareExchangeForm onDeclared={poll.refresh} />
      </details>
    </section>
  );
}
