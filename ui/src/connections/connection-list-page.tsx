import { apiPath, describeError } from '../api/api-client.js';
import type { Connection } from '../api/api-types.js';
import { useApi } from '../app/api-context.js';
import { usePoll } from '../app/use-poll.js';
import { confirmAction } from '../components/confirm-dialog.js';
import { DataTable, type Column } from '../components/data-table.js';
import { formatTime } from '../components/format.js';
import { LoadError } from '../components/load-error.js';
import { notify } from '../components/notices.js';
import { PageHeader } from '../components/page-header.js';

/** Open client connections, with Close (after confirmation). */
export function ConnectionListPage() {
  const api = useApi();
  const poll = usePoll(() => api.get<Connection[]>(apiPath`/connections`), 2_000, 'connections');

  const close = async (connection: Connection): Promise<void> => {
    const confirmed = await confirmAction({
      title: 'Close connection?',
      message: `Connection “${connection.name}” of user ${connection.user} will be closed; its unacknowledged messages return to their queues.`,
      confirmLabel: 'Close connection',
    });
    if (!confirmed) return;
    try {
      await api.delete(apiPath`/connections/${connection.name}`);
      notify('success', 'Connection closed');
      poll.refresh();
    } catch (error) {
      notify('error', `Close failed: ${describeError(error)}`);
    }
  };

  const columns: ReadonlyArray<Column<Connection>> = [
    { key: 'name', label: 'Name', value: (row) => row.name, render: (row) => <code>{row.name}</code> },
    { key: 'protocol', label: 'Protocol', value: (row) => row.protocol },
    { key: 'user', label: 'User', value: (row) => row.user },
    { key: 'vhost', label: 'Vhost', value: (row) => row.vhost, secondary: true },
    { key: 'peer', label: 'Peer', value: (row) => (row.peer_host === null ? null : `${row.peer_host}:${row.peer_port ?? ''}`), secondary: true },
    { key: 'state', label: 'State', value: (row) => row.state, secondary: true },
    { key: 'channels', label: 'Channels', value: (row) => row.channels, numeric: true, secondary: true },
    { key: 'since', label: 'Connected', value: (row) => row.connected_at_ms, render: (row) => formatTime(row.connected_at_ms), secondary: true },
    {
      key: 'close',
      label: '',
      value: () => null,
      render: (row) => (
        <button type="button" class="button button-small" onClick={() => void close(row)}>
          Close
        </button>
      ),
    },
  ];

  return (
    <section>
      <PageHeader title="Connections" />
      <LoadError error={poll.error} />
      <DataTable columns={columns} rows={poll.data} rowKey={(row) => row.name} noun="connections" initialSort={{ key: 'since', descending: true }} testId="connection-table" />
    </section>
  );
}
