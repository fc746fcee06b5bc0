import type { ServerResponse } from 'node:http';
import type { Clock } from '../../platform/clock.js';
import type { FerryError } from '../../lib/ferry-error.js';
import { errorJson, SubscriptionSinkBase, type SubscriptionEvent } from './subscription-sink.js';

/**
 * A subscription over server-sent events (`text/event-stream`, WHATWG HTML
 * §9.2): each event is `id:` (stream offsets), `event:` and one `data:` line
 * of JSON, then a blank line. A comment line every heartbeat keeps proxies
 * from closing an idle stream. Back pressure is the response's: `write`
 * returns false above its high-water mark, `drain` follows.
 */
export class SseSink extends SubscriptionSinkBase {
  constructor(
    private readonly response: ServerResponse,
    clock: Clock,
    heartbeatIntervalMs: number,
  ) {
    super(clock, heartbeatIntervalMs);
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
    this.startHeartbeat();
  }

  send(event: SubscriptionEvent): boolean {
    if (this.closed) return false;
    const id = event.id !== undefined ? `id: ${event.id}\n` : '';
    // JSON.stringify escapes line breaks, so the data is one line.
    return this.response.write(`${id}event: ${event.type}\ndata: ${JSON.stringify(event.data)}\n\n`);
  }

  onWritable(callback: () => void): void {
    if (this.closed) return;
    if (!this.response.writableNeedDrain) queueMicrotask(callback);
    else this.response.once('drain', () => this.closed || callback());
  }

  close(error?: FerryError): void {
    if (this.closed) return;
    if (error) this.send({ type: 'error', data: { error: errorJson(error) } });
    this.response.end();
    this.finish();
  }

  protected beat(): void {
    // A comment: clients ignore it. Skipped while the client is behind anyway.
    if (!this.response.writableNeedDrain) this.response.write(': keep-alive\n\n');
  }
}
