import type { WebSocket } from '@fastify/websocket';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ConnectionDescription } from '../../core/connections/connection-registry.js';
import type { Queue } from '../../core/queue/queue.js';
import type { Stream } from '../../core/stream/stream.js';
import { FerryError, isFerryError } from '../../lib/ferry-error.js';
import type { Clock } from '../../platform/clock.js';
import { authorizedVhost, type MessagingContext } from './messaging-context.js';
import { DIGITS_SCHEMA, ENCODING_SCHEMA, messagingRoute, NAME_PARAMS_SCHEMA, wholeNumberOf, type MessagingRoute, type NameParams } from './messaging-route.js';
import { readableQueue } from './pull-routes.js';
import { QueueFeed } from './queue-feed.js';
import { SseSink } from './sse-sink.js';
import { StreamFeed } from './stream-feed.js';
import { offsetSpecOf, STREAM_POSITION_PARAMETERS, type StreamPositionQuery } from './stream-position.js';
import type { SubscriptionSink } from './subscription-sink.js';
import { WebSocketSink } from './websocket-sink.js';

interface StreamSubscribeQuery extends StreamPositionQuery {
  readonly partition?: string;
  readonly encoding?: 'auto' | 'base64';
}

interface QueueSubscribeQuery {
  readonly ack?: 'auto' | 'manual';
  readonly prefetch?: string;
  readonly encoding?: 'auto' | 'base64';
}

/** A stream subscription as its pre-handler checked it. */
interface StreamPlan {
  readonly kind: 'stream';
  readonly vhost: string;
  readonly stream: Stream;
  readonly partition: number;
  readonly offset: number;
  readonly encoding: 'auto' | 'base64';
}

/** A queue subscription as its pre-handler checked it. */
interface QueuePlan {
  readonly kind: 'queue';
  readonly vhost: string;
  readonly queue: Queue;
  readonly autoAck: boolean;
  readonly prefetch: number;
  readonly encoding: 'auto' | 'base64';
}

/** A frame a WebSocket client of a queue subscription sends to settle deliveries. */
interface SettleFrame {
  readonly type: 'ack' | 'nack';
  readonly receipts: readonly string[];
  readonly requeue?: boolean;
  /** Echoed in the answer, so the client can match answers to frames. */
  readonly id?: unknown;
}

const EVENT_STREAM_DESCRIPTION =
  'Server-sent events (`text/event-stream`), or a WebSocket when the request asks for an upgrade. ' +
  'Each message is an event `message` whose data is the message as JSON (over WebSocket: a text frame ' +
  '`{ "type": "message", … }`); when the server ends the subscription, an `error` event `{ "error": { "code", "message" } }` comes last.';

/**
 * Subscriptions: a stream partition or a queue delivered as it fills, over
 * server-sent events or a WebSocket on the same path. Everything that can
 * fail as a plain HTTP error is checked before the answer starts (or the
 * upgrade happens); after that, failures end the subscription with an error
 * event. Clients that go away are cleaned up at once: stream readers stop, queue
 * consumers are cancelled and their unsettled messages return to the queue.
 */
export function subscribeRoutes(context: MessagingContext, clock: Clock): MessagingRoute[] {
  const { limits, subscriptions } = context;
  const plans = new WeakMap<FastifyRequest, StreamPlan | QueuePlan>();

  /** Describes a subscription among the broker's connections. */
  const describer = (request: FastifyRequest, plan: StreamPlan | QueuePlan, feed: QueueFeed | null) => {
    const connectedAtMs = clock.nowMs();
    const user = context.principalOf(request).user;
    return (name: string): ConnectionDescription => ({
      name,
      protocol: 'http',
      peerAddress: request.socket.remoteAddress,
      peerPort: request.socket.remotePort,
      user,
      vhost: plan.vhost,
      connectedAtMs,
      state: request.ws ? 'websocket' : 'server-sent events',
      channels:
        plan.kind === 'queue' && feed
          ? [{ number: 1, consumers: [{ tag: feed.tag, queue: plan.queue.name, queueTag: feed.tag }], unacknowledged: feed.unsettled(), prefetch: plan.autoAck ? 0 : plan.prefetch, confirm: false, transactional: false }]
          : [],
    });
  };

  /** Opens a subscription on `sink`: attaches the feed (paused), registers it, starts it. Throws before anything was sent. */
  const open = (request: FastifyRequest, sink: SubscriptionSink & { open?: () => void }): void => {
    const plan = plans.get(request)!;
    subscriptions.requireRoom();
    if (plan.kind === 'stream') {
      const feed = new StreamFeed({ stream: plan.stream, partition: plan.partition, offset: plan.offset, sink, encoding: plan.encoding, readBytesMax: limits.readBytesMax });
      sink.open?.();
      subscriptions.add({ sink, stop: () => feed.stop(), describe: describer(request, plan, null) });
      feed.start();
      return;
    }
    const feed = new QueueFeed({ vhost: plan.vhost, queue: plan.queue, sink, receipts: context.receipts, autoAck: plan.autoAck, prefetch: plan.prefetch, encoding: plan.encoding });
    feed.attach();
    sink.open?.();
    subscriptions.add({ sink, stop: () => feed.stop(), describe: describer(request, plan, feed) });
    feed.resume();
  };

  const sse = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const sink = new SseSink(reply.raw, clock, limits.heartbeatIntervalMs);
    // Throws (a plain HTTP error) before anything was written.
    open(request, sink);
    reply.hijack();
  };

  const webSocket = (socket: WebSocket, request: FastifyRequest): void => {
    const sink = new WebSocketSink(socket, clock, limits.heartbeatIntervalMs);
    try {
      open(request, sink);
    } catch (error) {
      sink.close(isFerryError(error) ? error : new FerryError('INTERNAL_ERROR', String(error), { cause: error }));
      return;
    }
    const plan = plans.get(request)!;
    socket.on('message', (data, isBinary) => {
      if (plan.kind !== 'queue') {
        sink.close(new FerryError('INVALID_REQUEST', 'a stream subscription takes no frames from the client'));
        return;
      }
      const frame = isBinary ? null : settleFrameOf(data.toString());
      if (!frame) {
        sink.close(new FerryError('INVALID_REQUEST', 'a frame must be JSON { "type": "ack" | "nack", "receipts": [...], "requeue"?: boolean, "id"?: any }'));
        return;
      }
      void settle(plan, frame, sink);
    });
  };

  /** Settles deliveries for a WebSocket client; answers `{ type: 'acked' | 'nacked', id, count }` once durable, or an error frame. */
  const settle = async (plan: QueuePlan, frame: SettleFrame, sink: WebSocketSink): Promise<void> => {
    try {
      const ids = context.receipts.deliveryIdsOf(plan.vhost, plan.queue, frame.receipts);
      if (frame.type === 'ack') await plan.queue.ack(ids);
      else await plan.queue.nack(ids, frame.requeue ?? true);
      sink.sendJson({ type: frame.type === 'ack' ? 'acked' : 'nacked', id: frame.id ?? null, count: new Set(ids).size });
    } catch (error) {
      const failure = isFerryError(error) ? error : new FerryError('INTERNAL_ERROR', String(error), { cause: error });
      sink.sendJson({ type: 'error', id: frame.id ?? null, error: { code: failure.code, message: failure.message.replace(/^[A-Z0-9_]+: /, '') } });
    }
  };

  const subscribeToStream = messagingRoute<{ Params: NameParams; Querystring: StreamSubscribeQuery }>({
    method: 'GET',
    url: '/streams/:vhost/:name/subscribe',
    operationId: 'subscribeToStream',
    summary: 'Receive the messages of a stream partition as they are appended (SSE or WebSocket)',
    description:
      'Sends the messages of `partition` from the start named by `offset`, `from` (default `next`: only new ones) or `timestamp_ms`, ' +
      'then every message appended, in offset order. Each event\'s id is the message\'s offset: an SSE client that reconnects with ' +
      '`Last-Event-ID` resumes after it (the header wins over the query). Nothing is consumed. Needs the read permission on the stream.',
    schema: {
      params: NAME_PARAMS_SCHEMA,
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: { partition: { ...DIGITS_SCHEMA, description: 'default 0' }, ...STREAM_POSITION_PARAMETERS, encoding: ENCODING_SCHEMA },
      },
    },
    eventStream: { description: EVENT_STREAM_DESCRIPTION },
    preHandler: async (request) => {
      const vhost = authorizedVhost(context, request, request.params.vhost, 'read', request.params.name);
      const stream = vhost.stream(request.params.name);
      const query = request.query;
      const partition = wholeNumberOf(query.partition, 'partition', 0, 0, Number.MAX_SAFE_INTEGER);
      const lastEventId = request.headers['last-event-id'];
      const resumed = typeof lastEventId === 'string' && /^[0-9]{1,15}$/.test(lastEventId.trim()) ? { offset: Number(lastEventId.trim()) + 1 } : null;
      const offset = await stream.offsetFor(partition, resumed ?? offsetSpecOf(query, 'next'));
      subscriptions.requireRoom();
      plans.set(request, { kind: 'stream', vhost: vhost.name, stream, partition, offset, encoding: query.encoding ?? 'auto' });
    },
    handler: sse,
    webSocketHandler: webSocket,
  });

  const subscribeToQueue = messagingRoute<{ Params: NameParams; Querystring: QueueSubscribeQuery }>({
    method: 'GET',
    url: '/queues/:vhost/:name/subscribe',
    operationId: 'subscribeToQueue',
    summary: 'Consume a queue as messages arrive (SSE or WebSocket)',
    description:
      'Attaches a consumer to the queue. With `ack=manual` (default) each message carries a receipt and at most `prefetch` are unsettled: ' +
      'settle them with the ack and nack routes (over WebSocket also with frames `{ "type": "ack" | "nack", "receipts": [...], "requeue"?: boolean, "id"?: any }`, ' +
      'answered `{ "type": "acked" | "nacked", "id", "count" }` once durable). With `ack=auto` messages are settled as they are sent (at most once). ' +
      'When the client goes away, unsettled messages return to the queue. Needs the read permission on the queue.',
    schema: {
      params: NAME_PARAMS_SCHEMA,
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          ack: { type: 'string', enum: ['auto', 'manual'], description: '`manual` (default): settle each message by its receipt; `auto`: settled when sent' },
          prefetch: { ...DIGITS_SCHEMA, description: `most unsettled messages at once (manual acks), 1 to ${limits.pullMessagesMax} (default ${Math.min(100, limits.pullMessagesMax)})` },
          encoding: ENCODING_SCHEMA,
        },
      },
    },
    eventStream: { description: EVENT_STREAM_DESCRIPTION },
    preHandler: async (request) => {
      const { vhost, queue } = readableQueue(context, request);
      const query = request.query;
      const prefetch = wholeNumberOf(query.prefetch, 'prefetch', Math.min(100, limits.pullMessagesMax), 1, limits.pullMessagesMax);
      subscriptions.requireRoom();
      plans.set(request, { kind: 'queue', vhost: vhost.name, queue, autoAck: query.ack === 'auto', prefetch, encoding: query.encoding ?? 'auto' });
    },
    handler: sse,
    webSocketHandler: webSocket,
  });

  return [subscribeToStream, subscribeToQueue];
}

/** A client's settle frame, or null when the text is not one. */
function settleFrameOf(text: string): SettleFrame | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const frame = value as Partial<SettleFrame>;
  if (frame.type !== 'ack' && frame.type !== 'nack') return null;
  if (!Array.isArray(frame.receipts) || frame.receipts.length === 0 || !frame.receipts.every((receipt) => typeof receipt === 'string')) return null;
  if (frame.requeue !== undefined && typeof frame.requeue !== 'boolean') return null;
  return frame as SettleFrame;
}
