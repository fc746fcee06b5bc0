import type { BrokerCore } from '../core/broker/broker-core.js';
import type { Queue } from '../core/queue/queue.js';
import type { Stream } from '../core/stream/stream.js';
import type { VirtualHost } from '../core/vhost/virtual-host.js';

/** Messages per second of one queue, smoothed. */
export interface QueueRates {
  readonly publish: number;
  readonly deliver: number;
  readonly ack: number;
}

/** Messages per second of one vhost: publishes to its exchanges, deliveries and acks of its queues. */
export interface VhostRates extends QueueRates {
  readonly unroutable: number;
}

/** Messages per second appended to one stream (publishes routed into it and direct appends), smoothed. */
export interface StreamRates {
  readonly append: number;
}

/** Settings of {@link MessageRates}; each has a default. */
export interface MessageRatesOptions {
  /** How often counters are sampled. */
  readonly sampleIntervalMs?: number;
  /** Time constant of the exponential smoothing: a step in rate is 63% reached after this long. */
  readonly smoothingMs?: number;
  /** Milliseconds on a clock that never goes backwards. */
  readonly monotonicMs?: () => number;
}

interface Track {
  readonly values: number[];
  readonly rates: number[];
  seenInSweep: number;
}

const NO_QUEUE_RATES: QueueRates = Object.freeze({ publish: 0, deliver: 0, ack: 0 });
const NO_STREAM_RATES: StreamRates = Object.freeze({ append: 0 });
const NO_VHOST_RATES: VhostRates = Object.freeze({ publish: 0, deliver: 0, ack: 0, unroutable: 0 });

/**
 * Message rates computed off the hot path: the core only increments integer
 * counters (`Queue.counters`, `VirtualHost.counters`); this samples them on a
 * timer and keeps an exponentially smoothed rate per queue, stream and vhost.
 * A queue or stream first seen after the first sweep counts from zero, so its
 * early publishes are not lost; a deleted one's tracking is dropped at the next sweep.
 */
export class MessageRates {
  private readonly sampleIntervalMs: number;
  private readonly smoothingMs: number;
  private readonly monotonicMs: () => number;
  private readonly queues = new Map<Queue, Track>();
  private readonly streams = new Map<Stream, Track>();
  private readonly vhosts = new Map<VirtualHost, Track>();
  private readonly vhostTotals = new Map<VirtualHost, VhostRates>();
  private timer: NodeJS.Timeout | null = null;
  private lastSampleMs: number | null = null;
  private sweep = 0;

  constructor(
    private readonly core: BrokerCore,
    options: MessageRatesOptions = {},
  ) {
    this.sampleIntervalMs = options.sampleIntervalMs ?? 1_000;
    this.smoothingMs = options.smoothingMs ?? 5_000;
    this.monotonicMs = options.monotonicMs ?? (() => performance.now());
  }

  /** Takes a first sample and samples every `sampleIntervalMs` until `stop()`. */
  start(): void {
    if (this.timer) return;
    this.sample();
    this.timer = setInterval(() => this.sample(), this.sampleIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Samples every counter now (the timer calls it; tests may too). */
  sample(): void {
    const nowMs = this.monotonicMs();
    const elapsedMs = this.lastSampleMs === null ? 0 : nowMs - this.lastSampleMs;
    const first = this.lastSampleMs === null;
    this.lastSampleMs = nowMs;
    const weight = elapsedMs > 0 ? 1 - Math.exp(-elapsedMs / this.smoothingMs) : 0;
    const sweep = ++this.sweep;
    this.vhostTotals.clear();
    for (const name of this.core.vhostNames()) {
      let vhost: VirtualHost;
      try {
        vhost = this.core.vhost(name);
      } catch {
        continue; // Closed or deleted meanwhile.
      }
      const vhostTrack = this.update(this.vhosts, vhost, [vhost.counters.published, vhost.counters.unroutable], first, elapsedMs, weight, sweep);
      let deliver = 0;
      let ack = 0;
      for (const queue of vhost.listQueues()) {
        const counters = queue.counters;
        const track = this.update(this.queues, queue, [counters.published, counters.delivered, counters.acked], first, elapsedMs, weight, sweep);
        deliver += track.rates[1]!;
        ack += track.rates[2]!;
      }
      for (const stream of vhost.listStreams()) this.update(this.streams, stream, [stream.counters.appended], first, elapsedMs, weight, sweep);
      this.vhostTotals.set(vhost, { publish: vhostTrack.rates[0]!, unroutable: vhostTrack.rates[1]!, deliver, ack });
    }
    for (const [queue, track] of this.queues) if (track.seenInSweep !== sweep) this.queues.delete(queue);
    for (const [stream, track] of this.streams) if (track.seenInSweep !== sweep) this.streams.delete(stream);
    for (const [vhost, track] of this.vhosts) if (track.seenInSweep !== sweep) this.vhosts.delete(vhost);
  }

  private update<K>(tracks: Map<K, Track>, key: K, values: number[], first: boolean, elapsedMs: number, weight: number, sweep: number): Track {
    let track = tracks.get(key);
    if (!track) {
      // Created since the last sweep: everything it counted happened within this interval.
      track = { values: first ? values : values.map(() => 0), rates: values.map(() => 0), seenInSweep: sweep };
      tracks.set(key, track);
    }
    track.seenInSweep = sweep;
    if (elapsedMs > 0) {
      for (let index = 0; index < values.length; index++) {
        const instant = ((values[index]! - track.values[index]!) * 1000) / elapsedMs;
        track.rates[index]! += (instant - track.rates[index]!) * weight;
      }
    }
    for (let index = 0; index < values.length; index++) track.values[index] = values[index]!;
    return track;
  }

  /** The queue's smoothed rates (zero before its first sample). */
  queueRates(queue: Queue): QueueRates {
    const track = this.queues.get(queue);
    if (!track) return NO_QUEUE_RATES;
    return { publish: track.rates[0]!, deliver: track.rates[1]!, ack: track.rates[2]! };
  }

  /** The stream's smoothed append rate (zero before its first sample). */
  streamRates(stream: Stream): StreamRates {
    const track = this.streams.get(stream);
    return track ? { append: track.rates[0]! } : NO_STREAM_RATES;
  }

  /** The vhost's smoothed rates (zero before its first sample). */
  vhostRates(vhost: VirtualHost): VhostRates {
    return this.vhostTotals.get(vhost) ?? NO_VHOST_RATES;
  }

  /** The sum over every vhost. */
  totalRates(): VhostRates {
    let publish = 0;
    let deliver = 0;
    let ack = 0;
    let unroutable = 0;
    for (const rates of this.vhostTotals.values()) {
      publish += rates.publish;
      deliver += rates.deliver;
      ack += rates.ack;
      unroutable += rates.unroutable;
    }
    return { publish, deliver, ack, unroutable };
  }
}
