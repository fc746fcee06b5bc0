import { useEffect, useState } from 'preact/hooks';
import { apiPath } from '../api/api-client.js';
import type { Overview } from '../api/api-types.js';
import { useApi } from '../app/api-context.js';
import { routeHref } from '../app/hash-route.js';
import { usePoll } from '../app/use-poll.js';
import { formatBytes, formatCount, formatDuration } from '../components/format.js';
import { LoadError } from '../components/load-error.js';
import { PageHeader } from '../components/page-header.js';
import { RateChart, type ChartSeries } from '../components/rate-chart.js';
import { seriesHistory } from '../components/series-history.js';
import { StatList } from '../components/stat-list.js';

/** How often the overview polls: the charts must move at least every 2 s. */
export const OVERVIEW_POLL_MS = 1_000;

const RATE_SERIES: readonly ChartSeries[] = [
  { label: 'Publish', color: '#2f7ed8' },
  { label: 'Deliver', color: '#1a9e5c' },
  { label: 'Ack', color: '#e08a1e' },
  { label: 'Unroutable', color: '#c0392b' },
];

const DEPTH_SERIES: readonly ChartSeries[] = [
  { label: 'Ready', color: '#6a4cc2' },
  { label: 'Unacked', color: '#d1477a' },
];

/** The broker at a glance: live message rates and queue depths, object counts, listeners, alarms. */
export function OverviewPage() {
  const api = useApi();
  const poll = usePoll(() => api.get<Overview>(apiPath`/overview`), OVERVIEW_POLL_MS, 'overview');
  const rates = seriesHistory('overview-rates', RATE_SERIES.length);
  const depths = seriesHistory('overview-depths', DEPTH_SERIES.length);
  const [version, setVersion] = useState(rates.version);
  const overview = poll.data;

  useEffect(() => {
    if (overview === undefined) return;
    const nowMs = Date.now();
    const stats = overview.message_stats;
    rates.push(nowMs, [stats.publish_rate, stats.deliver_rate, stats.ack_rate, stats.unroutable_rate]);
    depths.push(nowMs, [overview.queue_totals.messages_ready, overview.queue_totals.messages_unacknowledged]);
    setVersion(rates.version);
  }, [overview]);

  const totals = overview?.object_totals;
  return (
    <section>
      <PageHeader title="Overview" />
      <LoadError error={poll.error} />
      {overview && overview.alarms.length > 0 && (
        <p class="alarm" role="alert">
          Publishing is blocked by the {overview.alarms.join(' and ')} alarm.
        </p>
      )}
      <div class="chart-grid">
        <RateChart title="Message rates" series={RATE_SERIES} history={rates} unit="rate" version={version} testId="overview-rate-chart" />
        <RateChart title="Queued messages" series={DEPTH_SERIES} history={depths} unit="count" version={version} testId="overview-depth-chart" />
      </div>
      <StatList
        stats={[
          { label: 'Messages', value: formatCount(overview?.queue_totals.messages), testId: 'total-messages' },
          { label: 'Queues', value: <a href={routeHref('queues')}>{formatCount(totals?.queues)}</a>, testId: 'total-queues' },
          { label: 'Streams', value: <a href={routeHref('streams')}>{formatCount(totals?.streams ?? 0)}</a> },
          { label: 'Exchanges', value: <a href={routeHref('exchanges')}>{formatCount(totals?.exchanges)}</a> },
          { label: 'Connections', value: <a href={routeHref('connections')}>{formatCount(totals?.connections)}</a> },
          { label: 'Consumers', value: <a href={routeHref('consumers')}>{formatCount(totals?.consumers)}</a> },
          { label: 'Bindings', value: formatCount(totals?.bindings) },
          { label: 'Channels', value: formatCount(totals?.channels) },
        ]}
      />
      {overview && (
        <div class="panel">
          <h2>Node</h2>
          <table class="key-values">
            <tbody>
              <tr>
                <th scope="row">Ferry</th>
                <td>{overview.ferry_version}</td>
              </tr>
              <tr>
                <th scope="row">Node.js</th>
                <td>{overview.node_version}</td>
              </tr>
              <tr>
                <th scope="row">Uptime</th>
                <td>{formatDuration(overview.uptime_ms)}</td>
              </tr>
              {overview.storage_bytes !== null && (
                <tr>
                  <th scope="row">Storage</th>
                  <td>{formatBytes(overview.storage_bytes)}</td>
                </tr>
              )}
              {overview.listeners.map((listener) => (
                <tr key={listener.url}>
                  <th scope="row">{listener.protocol.toUpperCase()}</th>
                  <td>
                    <code>{listener.url}</code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
