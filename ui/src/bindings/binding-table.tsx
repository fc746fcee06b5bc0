import { apiPath, describeError } from '../api/api-client.js';
import { exchangePathName, type Binding } from '../api/api-types.js';
import { routeHref } from '../app/hash-route.js';
import { useApi } from '../app/api-context.js';
import { confirmAction } from '../components/confirm-dialog.js';
import { DataTable, type Column } from '../components/data-table.js';
import { notify } from '../components/notices.js';

/** Where a binding leads, as a link to that page. */
function destinationLink(binding: Binding) {
  const section = binding.destination_type === 'exchange' ? 'exchanges' : binding.destination_type === 'stream' ? 'streams' : 'queues';
  return <a href={routeHref(section, binding.vhost, binding.destination)}>{binding.destination}</a>;
}

/**
 * Bindings of one exchange (from it) or to one queue, exchange or stream,
 * with Unbind (after confirmation) for queue and exchange destinations.
 */
export function BindingTable({ bindings, onChanged, testId }: { bindings: readonly Binding[] | undefined; onChanged: () => void; testId?: string }) {
  const api = useApi();

  const unbind = async (binding: Binding): Promise<void> => {
    const confirmed = await confirmAction({
      title: 'Remove binding?',
      message: `Messages from exchange “${binding.source}” with routing key “${binding.routing_key}” will no longer reach ${binding.destination_type} “${binding.destination}”.`,
      confirmLabel: 'Unbind',
    });
    if (!confirmed) return;
    const kind = binding.destination_type === 'exchange' ? 'e' : 'q';
    try {
      await api.delete(apiPath`/bindings/${binding.vhost}/e/${exchangePathName(binding.source)}/${kind}/${binding.destination}/${binding.properties_key}`);
      notify('success', 'Binding removed');
      onChanged();
    } catch (error) {
      notify('error', `Unbind failed: ${describeError(error)}`);
    }
  };

  const columns: Array<Column<Binding>> = [
    { key: 'source', label: 'From', value: (row) => row.source, render: (row) => <a href={routeHref('exchanges', row.vhost, exchangePathName(row.source))}>{row.source === '' ? '(default)' : row.source}</a> },
    { key: 'destination', label: 'To', value: (row) => row.destination, render: destinationLink },
    { key: 'type', label: 'Kind', value: (row) => row.destination_type, secondary: true },
    { key: 'routing_key', label: 'Routing key', value: (row) => row.routing_key, render: (row) => <code>{row.routing_key}</code> },
    { key: 'arguments', label: 'Arguments', value: (row) => (Object.keys(row.arguments).length === 0 ? '' : JSON.stringify(row.arguments)), secondary: true },
    {
      key: 'actions',
      label: '',
      value: () => null,
      render: (row) =>
        row.destination_type === 'stream' ? null : (
          <button type="button" class="button button-small" onClick={() => void unbind(row)}>
            Unbind
          </button>
        ),
    },
  ];
  return <DataTable columns={columns} rows={bindings} rowKey={(row) => `${row.source}|${row.destination_type}|${row.destination}|${row.properties_key}`} noun="bindings" plain {...(testId ? { testId } : {})} />;
}
