import { useEffect, useState } from 'preact/hooks';
import { apiPath, describeError } from '../api/api-client.js';
import type { Binding, QueueConsumer, QueueDetail } from '../api/api-types.js';
import { useApi } from '../app/api-context.js';
import { navigate, routeHref } from '../app/hash-route.js';
import { usePoll } from '../app/use-poll.js';
import { AddBindingForm } from '../bindings/add-binding-form.js';
import { BindingTable } from '../bindings/binding-table.js';
import { Badges } from '../components/badges.js';
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
import { MessageBrowser } from './message-browser.js';

const RATE_SERIES: readonly ChartSeries[] = [
  { label: 'Publish', color: '#2f7ed8' },
  { label: 'Deliver', color: '#1a9e5c' },
  { label: 'Ack', color: '#e08a1e' },
];

const DEPTH_SERIES: readonly ChartSeries[] = [
  { label: 'Ready', color: '#6a4cc2' },
  { label: 'Unacked', color: '#d1477a' },
];

const CONSUMER_COLUMNS: ReadonlyArray<Column<QueueConsumer>> = [
  { key: 'tag', label: 'Consumer tag', value: (row) => row.consumer_tag, render: (row) => <code>{row.consumer_tag}</code> },
  { key: 'ack', label: 'Ack required', value: (row) => row.ack_required },
  { key: 'prefetch', label: 'Prefetch', value: (row) => row.prefetch_count, numeric: true },
  { key: 'unacked', label: 'Unacked', value: (row) => row.unacknowledged, numeric: true },
  { key: 'priority', label: 'Priority', value: (row) => row.priority, numeric: true, secondary: true },
  { key: 'active', label: 'Active', value: (row) => row.active },
  { key: 'exclusive', label: 'Exclusive', value: (row) => row.exclusive, secondary: true },
];

/** Policies as "name: value" lines, durations and sizes readable. */
function describePolicy(name: string, value: unknown): string {
  if (typeof value === 'number' && name.endsWith('_ms')) return formatDuration(value);
  if (typeof value === 'number' && name.endsWith('_bytes')) return formatBytes(value);
  return String(value);
}

/** One queue: live charts, figures, consumers, bindings, publish form, message browser; purge and delete. */
export function QueuePage({ vhost, name }: { vhost: string; name: string }) {
  const api = useApi();
  const key = `${vhost}\u0000${name}`;
  const poll = usePoll(() => api.get<QueueDetail>(apiPath`/queues/${vhost}/${name}`), 1_000, key);
  const bindings = usePoll(() => api.get<Binding[]>(apiPath`/queues/${vhost}/${name}/bindings`), 5_000, key);
  const rates = seriesHistory(`queue:${key}:rates`, RATE_SERIES.length);
  const depths = seriesHistory(`queue:${key}:depths`, DEPTH_SERIES.length);
  const [version, setVersion] = useState(rates.version);
  const queue = poll.data;

  useEffect(() => {
    if (queue === undefined) return;
    const nowMs = Date.now();
    rates.push(nowMs, [queue.message_stats.publish_rate, queue.message_stats.deliver_rate, queue.message_stats.ack_rate]);
    depths.push(nowMs, [queue.messages_ready, queue.messages_unacknowledged]);
    setVersion(rates.version);
  }, [queue]);

  const purge = async (): Promise<void> => {
    const confirmed = await confirmAction({
      title: `Purge queue ${name}?`,
      message: `The ready messages of queue “${name}” (${formatQuantity(queue?.messages_ready ?? 0, 'message')} now) will be deleted; messages that consumers hold stay. This cannot be undone.`,
      confirmLabel: 'Purge messages',
    });
    if (!confirmed) return;
    try {
      const answer = await api.delete<{ messages_purged: number }>(apiPath`/queues/${vhost}/${name}/contents`);
      notify('success', `Purged ${formatQuantity(answer.messages_purged, 'message')}`);
      poll.refresh();
    } catch (error) {
      notify('error', `Purge failed: ${describeError(error)}`);
    }
  };

  const remove = async (): Promise<void> => {
    const confirmed = await confirmAction({
      title: `Delete queue ${name}?`,
      message: `Queue “${name}” in vhost “${vhost}”, its ${formatQuantity(queue?.messages ?? 0, 'message')} and its bindings will be deleted; its consumers are cancelled. This cannot be undone.`,
      confirmLabel: 'Delete queue',
    });
    if (!confirmed) return;
    try {
      await api.delete(apiPath`/queues/${vhost}/${name}`);
      notify('success', `Queue ${name} deleted`);
      navigate(routeHref('queues'));
    } catch (error) {
      notify('error', `Delete failed: ${describeError(error)}`);
    }
  };

  const policies = Object.entries(queue?.policies ?? {});
  return (
    <section>
      <PageHeader title={name} kind={`Queue in vhost ${vhost}`}>
        <button type="button" class="button" onClick={() => void purge()} data-testid="purge-queue">
          Purge
        </button>
        <button type="button" class="button button-danger" onClick={() => void remove()} data-testid="delete-queue">
          Delete
        </button>
      </PageHeader>
      <LoadError error={poll.error} />
      {queue && <Badges flags={{ durable: queue.durable, transient: !queue.durable, 'auto-delete': queue.auto_delete, exclusive: queue.exclusive }} />}
      <StatList
        stats={[
          { label: 'Ready', value: formatCount(queue?.messages_ready), testId: 'queue-ready' },
          { label: 'Unacked', value: formatCount(queue?.messages_unacknowledged), testId: 'queue-unacked' },
          { label: 'Scheduled', value: formatCount(queue?.messages_scheduled) },
          { label: 'Consumers', value: formatCount(queue?.consumers) },
          { label: 'Ready bytes', value: formatBytes(queue?.message_bytes_ready) },
          { label: 'On disk', value: formatBytes(queue?.storage_bytes) },
          { label: 'Dead-lettered', value: formatCount(queue?.message_stats.dead_lettered) },
          { label: 'Expired', value: formatCount(queue?.message_stats.expired) },
        ]}
      />
      <div class="chart-grid">
        <RateChart title="Message rates" series={RATE_SERIES} history={rates} unit="rate" version={version} testId="queue-rate-chart" />
        <RateChart title="Messages" series={DEPTH_SERIES} history={depths} unit="count" version={version} testId="queue-depth-chart" />
      </div>
      {policies.length > 0 && (
        <div class="panel">
          <h2>Policies</h2>
          <table class="key-values">
            <tbody>
              {policies.map(([policy, value]) => (
                <tr key={policy}>
                  <th scope="row">{policy.replace(/_(ms|bytes)$/, '').replace(/_/g, ' ')}</th>
                  <td>{describePolicy(policy, value)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <div class="panel">
        <h2>Consumers</h2>
        <DataTable columns={CONSUMER_COLUMNS} rows={queue?.consumer_details} rowKey={(row) => row.consumer_tag} noun="consumers" plain />
      </div>
      <div class="panel">
        <h2>Bindings</h2>
        <p class="form-note">
          The default exchange routes messages whose routing key is <code>{name}</code> here.
        </p>
        <BindingTable bindings={bindings.data} onChanged={bindings.refresh} />
        <details class="more">
          <summary>Add a binding</summary>
          <AddBindingForm vhost={vhost} fixed={{ side: 'destination', kind: 'queue', name }} onBound={bindings.refresh} />
        </details>
      </div>
      <div class="two-columns">
        <div class="panel">
          <h2>Publish a message</h2>
          <PublishForm vhost={vhost} exchange="amq.default" routingKey={name} onPublished={poll.refresh} />
        </div>
        <div class="panel">
          <h2>Messages</h2>
          <MessageBrowser vhost={vhost} queue={name} onChanged={poll.refresh} />
        </div>
      </div>
    </section>
  );
}
