import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { BrokerCore } from '../core/broker/broker-core.js';
import type { Queue } from '../core/queue/queue.js';
import type { VirtualHost } from '../core/vhost/virtual-host.js';
import type { MessageRates } from './message-rates.js';

/** What the metrics read at each scrape. */
export interface MetricsSource {
  readonly core: BrokerCore;
  readonly rates: MessageRates;
  /** Bytes of the durable store, when known. */
  readonly storageBytes?: () => number;
}

/** Process metrics (CPU, memory, event-loop lag, GC, handles) are one per process, whatever the number of servers. */
let processRegistry: Registry | null = null;

function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

type QueueCounter = 'published' | 'delivered' | 'acked' | 'deadLettered' | 'expired' | 'dropped';

const QUEUE_COUNTERS: ReadonlyArray<readonly [string, QueueCounter, string]> = [
  ['ferry_queue_messages_published_total', 'published', 'Messages accepted by the queue.'],
  ['ferry_queue_messages_delivered_total', 'delivered', 'Deliveries to consumers and pullers (redeliveries count).'],
  ['ferry_queue_messages_acknowledged_total', 'acked', 'Deliveries settled by an ack (automatic acks count).'],
  ['ferry_queue_messages_dead_lettered_total', 'deadLettered', 'Messages rejected without requeue or past their delivery limit.'],
  ['ferry_queue_messages_expired_total', 'expired', 'Messages past their time to live.'],
  ['ferry_queue_messages_dropped_total', 'dropped', 'Messages dropped from the head by a length limit.'],
];

/**
 * Ferry's Prometheus metrics (prom-client), served at `/metrics`: per-queue
 * depth, counters, rates, consumers, memory and storage; connections and
 * channels per protocol; storage bytes; the journal fsync latency histogram;
 * alarms; and the process metrics (event-loop lag among them). Values are
 * read from the core at scrape time, so nothing is added to the hot path;
 * only the fsync histogram is fed as it happens (`observeSync`).
 *
 * Create it before storage opens (its `observeSync` is storage's `onSync`),
 * then `attach` the core once it runs.
 */
export class FerryMetrics {
  readonly registry = new Registry();
  private source: MetricsSource | null = null;
  private readonly fsyncSeconds: Histogram;

  constructor() {
    const registers = [this.registry];
    const self = this;
    const eachQueue = (visit: (vhost: VirtualHost, queue: Queue) => void): void => {
      const source = self.source;
      if (!source) return;
      for (const name of source.core.vhostNames()) {
        let vhost: VirtualHost;
        try {
          vhost = source.core.vhost(name);
        } catch {
          continue;
        }
        for (const queue of vhost.listQueues()) visit(vhost, queue);
      }
    };
    const queueGauge = (name: string, help: string, read: (queue: Queue) => number): void => {
      new Gauge({
        name,
        help,
        labelNames: ['vhost', 'queue'],
        registers,
        collect() {
          this.reset();
          eachQueue((vhost, queue) => this.set({ vhost: vhost.name, queue: queue.name }, read(queue)));
        },
      });
    };
    queueGauge('ferry_queue_messages_ready', 'Messages ready for delivery.', (queue) => queue.messageCount());
    queueGauge('ferry_queue_messages_unacknowledged', 'Messages delivered and not yet settled.', (queue) => queue.unsettledCount());
    queueGauge('ferry_queue_messages_scheduled', 'Delayed messages not yet due.', (queue) => queue.scheduledCount());
    queueGauge('ferry_queue_message_bytes_ready', 'Body bytes of ready messages.', (queue) => queue.messageBytes());
    queueGauge('ferry_queue_consumers', 'Attached push consumers.', (queue) => queue.consumerCount());
    queueGauge('ferry_queue_memory_bytes', 'Body bytes the queue holds in memory.', (queue) => queue.memoryBytes());
    queueGauge('ferry_queue_storage_bytes', 'Bytes of the queue message logs.', (queue) => queue.logs().reduce((sum, log) => sum + log.sizeBytes(), 0));
    for (const [name, field, help] of QUEUE_COUNTERS) {
      new Counter({
        name,
        help,
        labelNames: ['vhost', 'queue'],
        registers,
        collect() {
          this.reset();
          eachQueue((vhost, queue) => this.inc({ vhost: vhost.name, queue: queue.name }, queue.counters[field]));
        },
      });
    }
    new Gauge({
      name: 'ferry_queue_messages_per_second',
      help: 'Smoothed message rate of a queue by event (publish, deliver, ack).',
      labelNames: ['vhost', 'queue', 'event'],
      registers,
      collect() {
        this.reset();
        const rates = self.source?.rates;
        if (!rates) return;
        eachQueue((vhost, queue) => {
          const queueRates = rates.queueRates(queue);
          this.set({ vhost: vhost.name, queue: queue.name, event: 'publish' }, queueRates.publish);
          this.set({ vhost: vhost.name, queue: queue.name, event: 'deliver' }, queueRates.deliver);
          this.set({ vhost: vhost.name, queue: queue.name, event: 'ack' }, queueRates.ack);
        });
      },
    });
    const eachVhost = (visit: (vhost: VirtualHost) => void): void => {
      const source = self.source;
      if (!source) return;
      for (const name of source.core.vhostNames()) {
        try {
          visit(source.core.vhost(name));
        } catch {
          // Closed or deleted meanwhile.
        }
      }
    };
    new Counter({
      name: 'ferry_vhost_messages_published_total',
      help: 'Client publishes to the vhost exchanges.',
      labelNames: ['vhost'],
      registers,
      collect() {
        this.reset();
        eachVhost((vhost) => this.inc({ vhost: vhost.name }, vhost.counters.published));
      },
    });
    new Counter({
      name: 'ferry_vhost_messages_unroutable_total',
      help: 'Client publishes routed to no queue.',
      labelNames: ['vhost'],
      registers,
      collect() {
        this.reset();
        eachVhost((vhost) => this.inc({ vhost: vhost.name }, vhost.counters.unroutable));
      },
    });
    new Gauge({
      name: 'ferry_vhost_objects',
      help: 'Queues, exchanges and bindings of a vhost.',
      labelNames: ['vhost', 'kind'],
      registers,
      collect() {
        this.reset();
        eachVhost((vhost) => {
          this.set({ vhost: vhost.name, kind: 'queue' }, vhost.listQueues().length);
          this.set({ vhost: vhost.name, kind: 'exchange' }, vhost.router.listExchanges().length);
          this.set({ vhost: vhost.name, kind: 'binding' }, vhost.router.bindingCount);
        });
      },
    });
    new Gauge({
      name: 'ferry_connections',
      help: 'Open client connections by protocol.',
      labelNames: ['protocol'],
      registers,
      collect() {
        this.reset();
        const counts = new Map<string, number>();
        for (const connection of self.source?.core.connections.list() ?? []) counts.set(connection.protocol, (counts.get(connection.protocol) ?? 0) + 1);
        for (const [protocol, count] of counts) this.set({ protocol }, count);
      },
    });
    new Gauge({
      name: 'ferry_channels',
      help: 'Open channels by protocol.',
      labelNames: ['protocol'],
      registers,
      collect() {
        this.reset();
        const counts = new Map<string, number>();
        for (const connection of self.source?.core.connections.list() ?? []) {
          counts.set(connection.protocol, (counts.get(connection.protocol) ?? 0) + connection.describe().channels.length);
        }
        for (const [protocol, count] of counts) this.set({ protocol }, count);
      },
    });
    new Gauge({
      name: 'ferry_storage_bytes',
      help: 'Bytes of every log in the durable store (messages, delivery state, definitions).',
      registers,
      collect() {
        const storageBytes = self.source?.storageBytes;
        if (storageBytes) this.set(storageBytes());
      },
    });
    new Gauge({
      name: 'ferry_alarm_active',
      help: '1 while the alarm (memory or disk) blocks publishers.',
      labelNames: ['alarm'],
      registers,
      collect() {
        const alarms = self.source?.core.alarms.activeAlarms();
        if (!alarms) return;
        for (const alarm of ['memory', 'disk'] as const) this.set({ alarm }, alarms.has(alarm) ? 1 : 0);
      },
    });
    this.fsyncSeconds = new Histogram({
      name: 'ferry_storage_fsync_duration_seconds',
      help: 'Time to make a journal write durable (write and fsync of one group commit).',
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
  }

  /** Starts reading the core at each scrape. */
  attach(source: MetricsSource): void {
    this.source = source;
  }

  /** Records one journal fsync (storage's `onSync`). */
  observeSync(durationMs: number): void {
    this.fsyncSeconds.observe(durationMs / 1000);
  }

  /** The Prometheus text content type. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** Every metric in Prometheus text format: Ferry's, then the process's. */
  async text(): Promise<string> {
    const ferry = await this.registry.metrics();
    return `${ferry}\n${await processMetrics().metrics()}`;
  }
}
