import type { ServerResponse } from 'node:http';
import type { Clock, TimerHandle } from '../../platform/clock.js';
import type { FerryError } from '../../lib/ferry-error.js';
import type { SubscriptionEvent, SubscriptionSink } from './subscription-sink.js';

/**
 * A subscription over server-sent events (`text/event-stream`, WHATWG HTML
 * §9.2): each event is `id:` (stream offsets), `event:` and one `data:` line
 * of JSON, then a blank line. A comment line every heartbeat keeps proxies
 * from closing an idle stream. Back pressure is the response's: `write`
 * returns false above its high-water mark, `drain` follows.
 */
export class SseSink implements SubscriptionSink {
  private isClosed = false;
  private readonly closeCallbacks: Array<() => void> = [];
  private heartbeat: TimerHandle | null = null;

  constructor(
    private readonly response: ServerResponse,
    private readonly clock: Clock,
    private readonly heartbeatIntervalMs: number,
  ) {
    response.on('close', () => this.finish());
  }

  /** Sends the status and headers: the client knows the subscription is live once it has them. */
  open(): void {
    this.response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      // Proxies that buffer answers (nginx) must pass events on at once.
      'x-accel-buffering': 'no',
    });
    this.response.flushHeaders();
    this.armHeartbeat();
  }

  get closed(): boolean {
    return this.isClosed;
  }

  send(event: SubscriptionEvent): boolean {
    if (this.isClosed) return false;
    const id = event.id !== undefined ? `id: ${event.id}\n` : '';
    // JSON.stringify escapes line breaks, so the data is one line.
    return this.response.write(`${id}event: ${event.type}\ndata: ${JSON.stringify(event.data)}\n\n`);
  }

  onWritable(callback: () => void): void {
    if (this.isClosed) return;
    if (!this.response.writableNeedDrain) queueMicrotask(callback);
    else this.response.once('drain', () => this.isClosed || callback());
  }

  close(error?: FerryError): void {
    if (this.isClosed) return;
    if (error) this.send({ type: 'error', data: { error: { code: error.code, message: error.message.replace(/^[A-Z0-9_]+: /, '') } } });
    this.response.end();
    this.finish();
  }

  onClose(callback: () => void): void {
    if (this.isClosed) callback();
    else this.closeCallbacks.push(callback);
  }

  private armHeartbeat(): void {
    this.heartbeat = this.clock.setTimer(this.heartbeatIntervalMs, () => {
      if (this.isClosed) return;
      // A comment: clients ignore it. Skipped while the client is behind anyway.
      if (!this.response.writableNeedDrain) this.response.write(': keep-alive\n\n');
      this.armHeartbeat();
    });
  }

  private finish(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.heartbeat?.cancel();
    for (const callback of this.closeCallbacks.splice(0)) callback();
  }
}
