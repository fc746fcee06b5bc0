// The error-behaviour sweep's harness: Ctx (amqplib connections with a log of the frames that
// tell what went wrong: closes, returns, cancels, acks and nacks) and Raw (a minimal raw AMQP
// client, for the handshake and for frames amqplib cannot send).
import * as net from 'node:net';
import { amqplibInternal, repoRequire, sleep, waitFor, within, normValue } from '../brokers.mjs';

export const amqp = repoRequire('amqplib');
export const defs = amqplibInternal('defs');
export const frame = amqplibInternal('frame');

const NAMES = new Map();
for (const [k, v] of Object.entries(defs)) if (typeof v === 'number' && /^[A-Z]/.test(k)) NAMES.set(v, k);
export const methodName = (id) => NAMES.get(id) ?? String(id);

/**
 * A scenario context: opens amqplib connections whose incoming frames are logged
 * (closes, returns, cancels, acks/nacks), so the runner can report what happened.
 */
export class Ctx {
  constructor(port) {
    this.port = port;
    this.events = []; // { e: 'c1.ch1.close 404 50/10' ... }
    this.texts = [];
    this.conns = [];
  }

  log(e) {
    this.events.push(e);
  }

  async connect(opts = {}) {
    const index = this.conns.length + 1;
    const url = `amqp://${opts.user ?? 'guest'}:${opts.pass ?? 'guest'}@127.0.0.1:${this.port}/${encodeURIComponent(opts.vhost ?? '/')}`;
    const model = await within(amqp.connect(url, opts.socketOptions ?? {}), 5000, 'connect');
    const rec = { model, index, closed: false };
    this.conns.push(rec);
    const c = model.connection;
    const orig = c.accept;
    const self = this;
    c.accept = function (f) {
      try {
        self.observe(index, f);
      } catch {}
      return orig.call(this, f);
    };
    model.on('error', () => {});
    model.on('close', () => {
      rec.closed = true;
    });
    return model;
  }

  observe(conn, f) {
    const p = `c${conn}`;
    if (process.env.DEBUG_FRAMES) console.error(`  frame c${conn} ch${f.channel} ${methodName(f.id)} ${JSON.stringify(f.fields ?? {}).slice(0, 200)}`);
    switch (f.id) {
      case defs.ChannelClose:
      case defs.ConnectionClose: {
        const scope = f.id === defs.ConnectionClose ? 'conn' : `ch${f.channel}`;
        this.log({
          e: `${p}.${scope}.close ${f.fields.replyCode} ${f.fields.classId}/${f.fields.methodId}`,
        });
        this.texts.push(`${p}.${scope}: ${f.fields.replyText}`);
        break;
      }
      case defs.BasicReturn:
        this.log({ e: `${p}.ch${f.channel}.return ${f.fields.replyCode} ex=${f.fields.exchange} rk=${f.fields.routingKey}` });
        this.texts.push(`${p}.ch${f.channel}.return: ${f.fields.replyText}`);
        break;
      case defs.BasicCancel:
        this.log({ e: `${p}.ch${f.channel}.cancel ${normValue(f.fields.consumerTag)}` });
        break;
      case defs.BasicAck:
        this.log({ e: `${p}.ch${f.channel}.ack ${f.fields.deliveryTag}${f.fields.multiple ? ' multi' : ''}` });
        break;
      case defs.BasicNack:
        this.log({ e: `${p}.ch${f.channel}.nack ${f.fields.deliveryTag}${f.fields.multiple ? ' multi' : ''}` });
        break;
      default:
        break;
    }
  }

  /** Runs an operation; returns its (normalised) result, 'ERR <code>' or 'TIMEOUT'. */
  async attempt(fn, ms = 5000) {
    try {
      const v = await within(Promise.resolve().then(fn), ms);
      return normValue(v === undefined ? 'ok' : v);
    } catch (err) {
      if (err.timeout) return 'TIMEOUT';
      if (err.code !== undefined) return `ERR ${err.code}`;
      return `ERR ${String(err.message).split('\n')[0].slice(0, 80)}`;
    }
  }

  /** Waits until an event matching the regexp shows up (or ms pass). */
  waitEvent(re, ms = 1500) {
    return waitFor(() => this.events.some((x) => re.test(x.e)), ms);
  }

  async connAlive(rec) {
    if (rec.closed) return false;
    try {
      const ch = await within(rec.model.createChannel(), 3000);
      await within(ch.close(), 3000);
      return true;
    } catch {
      return false;
    }
  }

  async finish() {
    await sleep(150);
    const alive = [];
    for (const rec of this.conns) alive.push(await this.connAlive(rec));
    for (const rec of this.conns) {
      if (!rec.closed) {
        try {
          await within(rec.model.close(), 3000);
        } catch {}
      }
    }
    return alive;
  }
}

/** The runner's hooks: a fresh context per scenario, and what it records of a scenario's outcome. */
export const newContext = (port) => new Ctx(port);

export async function recordOf(ctx, { value, error }) {
  if (error) value = `SCENARIO-THREW ${error.timeout ? 'timeout' : (error.code ?? '')} ${String(error.message).split('\n')[0].slice(0, 100)}`;
  let alive;
  try {
    alive = await within(ctx.finish(), 20000, 'finish');
  } catch {
    alive = ['finish-timeout'];
  }
  const record = { value, events: ctx.events.map((e) => e.e), alive, texts: ctx.texts };
  return { record, line: `${JSON.stringify(value)} ${record.events.join('; ')} alive=${alive}` };
}

const QUEUE_DECLARE = { passive: false, durable: false, exclusive: false, autoDelete: false, nowait: false, arguments: {}, ticket: 0 };

/**
 * A raw AMQP client (for the handshake and for frames amqplib cannot send):
 * records every frame it receives.
 */
export class Raw {
  constructor(port) {
    this.port = port;
    this.frames = [];
    this.rest = Buffer.alloc(0);
    this.ended = false;
    this.waiters = [];
  }

  static async open(port, { user = 'guest', pass = 'guest', vhost = '/', capabilities = undefined, tuneOk = undefined } = {}) {
    const raw = new Raw(port);
    await raw.connectSocket();
    raw.sendProtocolHeader();
    const start = await raw.next((f) => f.id === defs.ConnectionStart);
    if (!start) return raw;
    raw.start = start.fields;
    raw.sendMethod(0, defs.ConnectionStartOk, {
      clientProperties: { product: 'raw', capabilities: capabilities ?? { authentication_failure_close: true, consumer_cancel_notify: true, publisher_confirms: true, 'basic.nack': true } },
      mechanism: 'PLAIN',
      response: Buffer.from(`\0${user}\0${pass}`),
      locale: 'en_US',
    });
    const tune = await raw.next((f) => f.id === defs.ConnectionTune || f.id === defs.ConnectionClose);
    if (tune && tune.id === defs.ConnectionTune) raw.tune = tune.fields;
    if (!tune || tune.id !== defs.ConnectionTune) {
      if (tune) raw.sendMethod(0, defs.ConnectionCloseOk, {});
      await raw.waitEnd(1500);
      return raw;
    }
    raw.sendMethod(0, defs.ConnectionTuneOk, { channelMax: tune.fields.channelMax, frameMax: tune.fields.frameMax || 131072, heartbeat: 0, ...(tuneOk ?? {}) });
    raw.sendMethod(0, defs.ConnectionOpen, { virtualHost: vhost, capabilities: '', insist: false });
    const ok = await raw.next((f) => f.id === defs.ConnectionOpenOk || f.id === defs.ConnectionClose);
    if (ok && ok.id === defs.ConnectionClose) {
      raw.sendMethod(0, defs.ConnectionCloseOk, {});
      await raw.waitEnd(1500);
    }
    raw.opened = ok?.id === defs.ConnectionOpenOk;
    return raw;
  }

  /** Opens a connection and channel 1 on it (check `opened`). */
  static async openChannel(port) {
    const raw = await Raw.open(port);
    if (raw.opened) {
      raw.sendMethod(1, defs.ChannelOpen, { outOfBand: '' });
      await raw.next((f) => f.id === defs.ChannelOpenOk);
    }
    return raw;
  }

  connectSocket() {
    return within(
      new Promise((resolve, reject) => {
        const s = net.connect(this.port, '127.0.0.1', () => resolve());
        s.on('error', (e) => {
          this.socketError = e.code;
          reject(e);
        });
        s.on('data', (d) => this.onData(d));
        s.on('close', () => {
          this.ended = true;
          this.wake();
        });
        this.socket = s;
      }),
      5000,
      'raw connect',
    );
  }

  onData(d) {
    this.rest = Buffer.concat([this.rest, d]);
    for (;;) {
      const fr = frame.parseFrame(this.rest, 0);
      if (!fr) break;
      this.rest = fr.rest;
      let dec;
      try {
        dec = frame.decodeFrame(fr);
      } catch (e) {
        dec = { undecodable: String(e.message) };
      }
      dec.type = fr.type;
      dec.rawPayload = Buffer.from(fr.payload);
      this.frames.push(dec);
    }
    this.wake();
  }

  wake() {
    const ws = this.waiters;
    this.waiters = [];
    ws.forEach((w) => w());
  }

  /** The next frame not yet consumed that matches pred, or null on timeout or end of the connection. */
  async next(pred, ms = 5000) {
    const end = Date.now() + ms;
    this.cursor = this.cursor ?? 0;
    for (;;) {
      for (let i = this.cursor; i < this.frames.length; i++) {
        if (pred(this.frames[i])) {
          this.cursor = i + 1;
          return this.frames[i];
        }
      }
      if (this.ended || Date.now() >= end) return null;
      await new Promise((r) => {
        this.waiters.push(r);
        setTimeout(r, Math.max(1, end - Date.now()));
      });
    }
  }

  /** The next connection.close or channel.close, or null after ms. */
  nextClose(ms = 2000) {
    return this.next((f) => f.id === defs.ConnectionClose || f.id === defs.ChannelClose, ms);
  }

  waitEnd(ms) {
    return waitFor(() => this.ended, ms);
  }

  sendProtocolHeader(header = 'AMQP\x00\x00\x09\x01') {
    this.sendBytes(Buffer.from(header, 'latin1'));
  }

  sendMethod(ch, id, fields) {
    if (!this.ended) this.socket.write(defs.encodeMethod(id, ch, fields));
  }

  sendBytes(buf) {
    if (!this.ended) this.socket.write(buf);
  }

  /** queue.declare of a plain queue on `channel`, without waiting. */
  sendDeclare(channel, queue) {
    this.sendMethod(channel, defs.QueueDeclare, { ...QUEUE_DECLARE, queue });
  }

  /** queue.declare of a plain queue on channel 1, waiting for declare-ok. */
  async declareQueue(queue) {
    this.sendDeclare(1, queue);
    await this.next((f) => f.id === defs.QueueDeclareOk);
  }

  /** basic.publish on channel 1 to the default exchange: the method, then `header` (a content header frame, default: one for body), then body. */
  publish(routingKey, body, header = defs.encodeProperties(defs.BasicProperties, 1, body.length, {})) {
    this.sendBytes(defs.encodeMethod(defs.BasicPublish, 1, { exchange: '', routingKey, mandatory: false, immediate: false, ticket: 0 }));
    this.sendBytes(header);
    this.sendBytes(frame.makeBodyFrame(1, body));
  }

  close() {
    try {
      this.socket.destroy();
    } catch {}
  }

  /** Summary of close frames seen. */
  closes() {
    return this.frames
      .filter((f) => f.id === defs.ConnectionClose || f.id === defs.ChannelClose)
      .map((f) => ({
        e: `${f.id === defs.ConnectionClose ? 'conn' : `ch${f.channel}`}.close ${f.fields.replyCode} ${f.fields.classId}/${f.fields.methodId}`,
        text: f.fields.replyText,
      }));
  }

  /** Closes the socket, adds the close texts to ctx's and returns the closes seen and whether the server had ended the connection. */
  report(ctx) {
    this.close();
    ctx.texts.push(...this.closes().map((c) => `raw ${c.e}: ${c.text}`));
    return { closes: this.closes().map((c) => c.e), ended: this.ended };
  }
}
