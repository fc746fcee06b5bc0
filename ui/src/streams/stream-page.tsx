import { useEffect, useState } from 'preact/hooks';
import { apiPath, describeError } from '../api/api-client.js';
import type { Binding, StreamDetail } from '../api/api-types.js';
import { useApi } from '../app/api-context.js';
import { navigate, routeHref } from '../app/hash-route.js';
import { usePoll } from '../app/use-poll.js';
import { BindingTable } from '../bindings/binding-table.js';
import { confirmAction } from '../components/confirm-dialog.js';
import { DataTable, type Column } from '../components/data-table.js';
import { formatBytes, formatCount, formatDuration, formatQuantity } from '../components/format.js';
import { LoadError } from '../components/load-error.js';
import { notify } from '../components/notices.js';
import { PageHeader } from '../components/page-header.js';
import { RateChart, type ChartSeries } from '../components/rate-chart.js';
import { seriesHistory } from '../components/series-history.js';
import { StatList } from '../components/stat-list.js';
import { PublishForm } from '../messages/publish-form.js';
import { StreamReader } from './stream-reader.js';

type PartitionRow = StreamDetail['partition_details'][number];
type GroupRow = StreamDetail['consumer_group_details'][number];

const PARTITION_COLUMNS: ReadonlyArray<Column<PartitionRow>> = [
  { key: 'partition', label: 'Partition', value: (row) => row.partition, numeric: true },
  { key: 'start', label: 'First offset', value: (row) => row.start_offset, numeric: true },
  { key: 'end', label: 'Next offset', value: (row) => row.end_offset, numeric: true },
  { key: 'messages', label: 'Messages', value: (row) => row.messages, render: (row) => formatCount(row.messages), numeric: true },
];

const GROUP_COLUMNS: ReadonlyArray<Column<GroupRow>> = [
  { key: 'name', label: 'Group', value: (row) => row.name },
  { key: 'lag', label: 'Lag', value: (row) => row.lag, render: (row) => formatCount(row.lag), numeric: true },
  {
    key: 'offsets',
    label: 'Committed offsets',
    value: (row) => row.offsets.map((offset) => `${offset.partition}:${offset.committed_offset ?? '–'}`).join(' '),
    render: (row) => <code>{row.offsets.map((offset) => `${offset.partition}: ${offset.committed_offset ?? '–'}`).join(', ')}</code>,
  },
];

const APPEND_SERIES: readonly ChartSeries[] = [{ label: 'Append', color: '#2f7ed8' }];

/** One stream: append rate, size and retention, partitions, consumer groups, bindings, publish, read; delete. */
export function StreamPage({ vhost, name }: { vhost: string; name: string }) {
  const api = useApi();
  const key = `${vhost}\u0000${name}`;
  const poll = usePoll(() => api.get<StreamDetail>(apiPath`/streams/${vhost}/${name}`), 1_000, key);
  const bindings = usePoll(() => api.get<Binding[]>(apiPath`/streams/${vhost}/${name}/bindings`), 5_000, key);
  const rates = seriesHistory(`stream:${key}:rates`, APPEND_SERIES.length);
  const [version, setVersion] = useState(rates.version);
  const stream = poll.data;

  useEffect(() => {
    if (stream === undefined) return;
    rates.push(Date.now(), [stream.message_stats.append_rate]);
    setVersion(rates.version);
  }, [stream]);

  const remove = async (): Promise<void> => {
    const confirmed = await confirmAction({
      title: `Delete stream ${name}?`,
      message: `Stream “${name}” in vhost “${vhost}”, its ${formatQuantity(stream?.messages ?? 0, 'message')}, consumer-group offsets and bindings will be deleted. This cannot be undone.`,
      confirmLabel: 'Delete stream',
    });
    if (!confirmed) return;
    try {
      await api.delete(apiPath`/streams/${vhost}/${name}`);
      notify('success', `Stream ${name} deleted`);
      navigate(routeHref('streams'));
    } catch (error) {
      notify('error', `Delete failed: ${describeError(error)}`);
    }
  };

  return (
    <section>
      <PageHeader title={name} kind={`Stream in vhost ${vhost}`}>
        <button type="button" class="button button-danger" onClick={() => void remove()} data-testid="delete-stream">
          Delete
        </button>
      </PageHeader>
      <LoadError error={poll.error} />
      <StatList
        stats={[
          { label: 'Messages', value: formatCount(stream?.messages), testId: 'stream-messages' },
          { label: 'Size', value: formatBytes(stream?.size_bytes) },
          { label: 'Partitions', value: formatCount(stream?.partitions) },
          { label: 'Appended', value: formatCount(stream?.message_stats.append) },
          { label: 'Keep for', value: stream?.retention_ms ? formatDuration(stream.retention_ms) : 'no limit' },
          { label: 'Keep bytes', value: stream?.retention_bytes ? formatBytes(stream.retention_bytes) : 'no limit' },
          { label: 'Keep messages', value: stream?.retention_messages ? formatCount(stream.retention_messages) : 'no limit' },
          { label: 'Durable', value: stream === undefined ? '–' : stream.durable ? 'yes' : 'no' },
        ]}
      />
      <div class="chart-grid">
        <RateChart title="Append rate" series={APPEND_SERIES} history={rates} unit="rate" version={version} testId="stream-rate-chart" />
      </div>
      <div class="two-columns">
        <div class="panel">
          <h2>Partitions</h2>
          <DataTable columns={PARTITION_COLUMNS} rows={stream?.partition_details} rowKey={(row) => String(row.partition)} noun="partitions" plain />
        </div>
        <div class="panel">
          <h2>Consumer groups</h2>
          <DataTable columns={GROUP_COLUMNS} rows={stream?.consumer_group_details} rowKey={(row) => row.name} noun="consumer groups" plain />
        </div>
      </div>
      <div class="panel">
        <h2>Bindings</h2>
        <BindingTable bindings={bindings.data} onChanged={bindings.refresh} />
      </div>
      <div class="two-columns">
        <div class="panel">
          <h2>Publish a message</h2>
          <PublishForm vhost={vhost} exchange="amq.default" routingKey={name} onPublished={poll.refresh} />
        </div>
        <div class="panel">
          <h2>Messages</h2>
          {stream && <StreamReader vhost={vhost} stream={name} partitions={stream.partitions} />}
        </div>
      </div>
    </section>
  );
}
