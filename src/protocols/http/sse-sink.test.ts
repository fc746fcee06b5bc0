import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { Writable } from 'node:stream';
import { FerryError } from '../../lib/ferry-error.js';
import { ManualClock } from '../../platform/clock.js';
import { SseSink } from './sse-sink.js';

/** A response whose client takes written bytes only when told (`release`), with a tiny buffer. */
class SlowResponse extends Writable {
  readonly chunks: string[] = [];
  head: { status: number; headers: Record<string, string> } | null = null;
  private held: Array<() => void> = [];

  constructor() {
    super({ highWaterMark: 64 });
  }

  writeHead(status: number, headers: Record<string, string>): this {
    this.head = { status, headers };
    return this;
  }

  flushHeaders(): void {}

  override _write(chunk: Buffer, _encoding: string, callback: () => void): void {
    this.chunks.push(chunk.toString());
    this.held.push(callback);
  }

  /** The client read everything so far. */
  release(): void {
    for (const callback of this.held.splice(0)) callback();
  }

  text(): string {
    return this.chunks.join('');
  }
}

const sinkOn = (response: SlowResponse, clock = new ManualClock()) => new SseSink(response as unknown as ServerResponse, clock, 1_000);

test('events are written as id, event and one data line of JSON, then a blank line', () => {
  const response = new SlowResponse();
  const sink = sinkOn(response);
  sink.open();
  assert.equal(response.head?.status, 200);
  assert.equal(response.head?.headers['content-type'], 'text/event-stream; charset=utf-8');
  sink.send({ type: 'message', id: '41', data: { payload: 'two\nlines' } });
  assert.equal(response.text(), 'id: 41\nevent: message\ndata: {"payload":"two\\nlines"}\n\n');
});

test('send reports a client that is behind, and onWritable calls back once it caught up', async () => {
  const response = new SlowResponse();
  const sink = sinkOn(response);
  sink.open();
  assert.equal(sink.send({ type: 'message', data: { payload: 'x'.repeat(100) } }), false, 'over the high-water mark');
  let writable = false;
  sink.onWritable(() => (writable = true));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(writable, false, 'not while the client is behind');
  response.release();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(writable, true);
});

test('an idle stream gets a comment every heartbeat, a closing one its error as the last event', () => {
  const response = new SlowResponse();
  const clock = new ManualClock();
  const sink = sinkOn(response, clock);
  let closed = 0;
  sink.onClose(() => closed++);
  sink.open();
  clock.advance(1_000);
  response.release();
  clock.advance(1_000);
  response.release();
  assert.equal(response.text(), ': keep-alive\n\n: keep-alive\n\n');
  sink.close(new FerryError('SUBSCRIPTION_CLOSED', 'the broker is shutting down'));
  sink.close();
  assert.match(response.text(), /event: error\ndata: \{"error":\{"code":"SUBSCRIPTION_CLOSED","message":"the broker is shutting down"\}\}\n\n$/);
  assert.equal(closed, 1, 'closed once');
  assert.equal(sink.send({ type: 'message', data: {} }), false, 'nothing after close');
  clock.advance(5_000);
  assert.doesNotMatch(response.text().split('event: error')[1]!, /keep-alive/, 'no heartbeat after close');
});
