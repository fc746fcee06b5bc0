import type { WebSocket } from '@fastify/websocket';
import type { FerryError } from '../../lib/ferry-error.js';
import type { Clock } from '../../platform/clock.js';
import { errorJson, SubscriptionSinkBase, type SubscriptionEvent } from './subscription-sink.js';
import { webSocketCloseCodeOf } from './websocket-close-code.js';

/** Bytes of events sent and not yet handed to the socket above which the peer counts as behind. */
const PENDING_BYTES_MAX = 256 * 1024;

/**
 * A subscription over a WebSocket: each event is one text frame of JSON,
 * `{ "type": "message", …the message… }`. The socket has no `drain`, so the
 * sink counts the bytes of frames whose send has not called back yet (they
 * sit in Node's buffers) and reports the peer behind above a bound. A ping
 * every heartbeat keeps idle connections open through proxies.
 */
export class WebSocketSink extends SubscriptionSinkBase {
  private pendingBytes = 0;
  private writableCallbacks: Array<() => void> = [];

  constructor(
    private readonly socket: WebSocket,
    clock: Clock,
    heartbeatIntervalMs: number,
  ) {
    super(clock, heartbeatIntervalMs);
    socket.on('close', () => this.finish());
    this.onClose(() => (this.writableCallbacks = []));
    this.startHeartbeat();
  }

  send(event: SubscriptionEvent): boolean {
    if (this.closed) return false;
    this.sendJson({ type: event.type, ...event.data });
    return this.pendingBytes < PENDING_BYTES_MAX;
  }

  /** Sends one JSON frame (answers to the client's frames go this way too). */
  sendJson(value: unknown): void {
    if (this.closed) return;
    const text = JSON.stringify(value);
    this.pendingBytes += text.length;
    this.socket.send(text, () => {
      this.pendingBytes -= text.length;
      if (this.pendingBytes < PENDING_BYTES_MAX / 2 && this.writableCallbacks.length > 0) {
        for (const callback of this.writableCallbacks.splice(0)) callback();
      }
    });
  }

  onWritable(callback: () => void): void {
    if (this.closed) return;
    if (this.pendingBytes < PENDING_BYTES_MAX / 2) queueMicrotask(callback);
    else this.writableCallbacks.push(callback);
  }

  close(error?: FerryError): void {
    if (this.closed) return;
    if (error) this.sendJson({ type: 'error', error: errorJson(error) });
    this.socket.close(error ? webSocketCloseCodeOf(error.code) : 1000, error?.code ?? '');
    this.finish();
  }

  protected beat(): void {
    this.socket.ping();
  }
}
