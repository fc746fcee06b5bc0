// The message-semantics sweep's harness: amqplib with wire-type capture, messages in a
// comparable form, a per-scenario context and small queue helpers.
import { amqplibFile, amqplibInternal, repoRequire, waitFor, within, normNames, normValue } from '../brokers.mjs';

// Patch amqplib's table decoder (before amqplib's defs.js captures it) so every decoded
// table also carries the wire type tag of each value (kept off the enumerable keys).
const codec = amqplibInternal('codec');
if (repoRequire.cache[amqplibFile('defs')]) throw new Error('semantics/lib.mjs must be loaded before amqplib: it patches its table decoder');
const originalDecode = codec.decodeFields;
const TYPES = new WeakMap();
function typedTable(slice) {
  const out = {};
  let off = 0;
  function value() {
    const tag = String.fromCharCode(slice[off]);
    off++;
    let len;
    switch (tag) {
      case 'b': case 'B': case 't': off += 1; return tag;
      case 's': case 'u': off += 2; return tag;
      case 'I': case 'i': case 'f': off += 4; return tag;
      case 'l': case 'd': case 'T': off += 8; return tag;
      case 'D': off += 5; return tag;
      case 'V': return tag;
      case 'S': case 'x': len = slice.readUInt32BE(off); off += 4 + len; return tag;
      case 'F': { len = slice.readUInt32BE(off); off += 4; const t = typedTable(slice.subarray(off, off + len)); off += len; return { F: t }; }
      case 'A': {
        len = slice.readUInt32BE(off); off += 4; const end = off + len; const arr = [];
        while (off < end) arr.push(value());
        return { A: arr };
      }
      default: return '?' + tag;
    }
  }
  while (off < slice.length) {
    const klen = slice.readUInt8(off); off++;
    const key = slice.toString('utf8', off, off + klen); off += klen;
    out[key] = value();
  }
  return out;
}
codec.decodeFields = function patchedDecodeFields(slice) {
  const result = originalDecode(slice);
  try { TYPES.set(result, typedTable(slice)); } catch { /* leave untyped */ }
  return result;
};
export const amqp = repoRequire('amqplib');
export const defs = amqplibInternal('defs');

/** Typed view: replaces each table value with its wire tag (nested). */
function typedView(table) {
  const t = table && TYPES.get(table);
  if (!t) return null;
  const sortRec = (x) => {
    if (typeof x === 'string') return x;
    if (x.F) { const o = {}; for (const k of Object.keys(x.F).sort()) o[k] = sortRec(x.F[k]); return { F: o }; }
    if (x.A) return { A: x.A.map(sortRec) };
    const o = {}; for (const k of Object.keys(x).sort()) o[k] = sortRec(x[k]); return o;
  };
  return sortRec(t);
}

const PROPS = ['contentType', 'contentEncoding', 'headers', 'deliveryMode', 'priority', 'correlationId', 'replyTo', 'expiration', 'messageId', 'timestamp', 'type', 'userId', 'appId', 'clusterId'];

/** A delivered/got/returned message in comparable form (opts.tags: keep the delivery tag). */
export function normMsg(m, opts = {}) {
  if (m === false) return 'get-empty';
  if (m === null) return 'consumer-cancelled-by-server';
  const f = m.fields;
  const out = {};
  out.body = m.content.length > 64 ? `<${m.content.length} bytes sha:${hash(m.content)}>` : m.content.toString('utf8');
  const fields = {};
  for (const k of ['exchange', 'routingKey', 'redelivered', 'messageCount', 'replyCode', 'replyText']) if (k in f) fields[k] = normValue(f[k], k);
  if (opts.tags && 'deliveryTag' in f) fields.deliveryTag = f.deliveryTag;
  out.fields = fields;
  const props = {};
  for (const p of PROPS) {
    const v = m.properties[p];
    if (v === undefined) continue;
    if (p === 'headers') {
      const h = {};
      for (const k of Object.keys(v).sort()) h[k] = normValue(v[k], k);
      props.headers = h;
      const tv = typedView(v);
      if (tv) {
        out.headerTypes = tv;
        out.headerKeyOrder = Object.keys(v);
        // key order inside each x-death entry
        if (Array.isArray(v['x-death'])) out.xDeathKeyOrder = v['x-death'].map((e) => Object.keys(e));
      }
    } else if (p === 'timestamp') {
      props.timestamp = v;
    } else props[p] = normValue(v, p);
  }
  out.properties = props;
  return out;
}

function hash(buf) {
  let h = 2166136261;
  for (const b of buf) { h ^= b; h = Math.imul(h, 16777619) >>> 0; }
  return h.toString(16);
}

export function errInfo(e) {
  if (!e) return e;
  return { error: e.code ?? 'err', msg: normNames(String(e.message)).slice(0, 160) };
}

// ---------- per-scenario context ----------

export class Ctx {
  constructor(port) {
    this.url = `amqp://guest:guest@127.0.0.1:${port}/%2F`;
    this.conns = [];
    this.events = [];
  }
  async conn() {
    const c = await within(amqp.connect(this.url, { heartbeat: 0 }), 5000, 'connect');
    c.on('error', (e) => this.events.push(['conn-error', errInfo(e)]));
    c.on('close', () => {});
    this.conns.push(c);
    return c;
  }
  async ch(conn, confirm = false) {
    conn = conn ?? (this.conns[0] ?? (await this.conn()));
    const ch = confirm ? await conn.createConfirmChannel() : await conn.createChannel();
    ch.on('error', (e) => this.events.push(['channel-error', errInfo(e)]));
    ch.on('close', () => {});
    return ch;
  }
  async close() {
    for (const c of this.conns) {
      try { await within(c.close(), 3000, 'conn close'); } catch { /* already closed */ }
    }
    this.conns = [];
  }
}

/** The runner's hooks: a fresh context per scenario, and what it records of a scenario's outcome. */
export const newContext = (port) => new Ctx(port);

export async function recordOf(ctx, { value, error }) {
  const result = error ? { threw: errInfo(error), events: ctx.events } : value;
  try { await ctx.close(); } catch { /* already closed */ }
  return { record: JSON.parse(JSON.stringify(result)), line: error ? `THREW ${JSON.stringify(result.threw)}` : 'ok' };
}

/** Drains a queue with basic.get (noAck) until empty: messages in comparable form, or bodies only. */
export async function drain(ch, q, { bodies = false } = {}, max = 1000) {
  const out = [];
  for (let i = 0; i < max; i++) {
    const m = await within(ch.get(q, { noAck: true }), 3000, 'get');
    if (m === false) break;
    out.push(bodies ? m.content.toString() : normMsg(m));
  }
  return out;
}
export const drainBodies = (ch, q) => drain(ch, q, { bodies: true });

/** Starts a consumer that records messages; returns {tag, msgs, raw, until(n)} */
export async function collector(ch, q, opts = {}, normOpts = {}) {
  const rec = { msgs: [], raw: [] };
  const r = await ch.consume(q, (m) => { rec.raw.push(m); rec.msgs.push(normMsg(m, normOpts)); }, opts);
  rec.tag = r.consumerTag;
  rec.until = async (n, timeoutMs = 3000) => { await waitFor(() => rec.raw.length >= n, timeoutMs); return rec.msgs; };
  return rec;
}

/** queue.declare passive on ch: its counts, or the error. */
export async function passiveCount(ch, q) {
  try {
    const r = await within(ch.checkQueue(q), 3000, 'checkQueue');
    return { messageCount: r.messageCount, consumerCount: r.consumerCount };
  } catch (e) {
    return errInfo(e);
  }
}

/** Whether queue exists, checked on a throwaway channel. */
export async function exists(ctx, q) {
  const c = ctx.conns[0] ?? (await ctx.conn());
  const ch = await c.createChannel();
  ch.on('error', () => {});
  try {
    const r = await within(ch.checkQueue(q), 3000, 'checkQueue');
    await ch.close().catch(() => {});
    return { exists: true, messageCount: r.messageCount, consumerCount: r.consumerCount };
  } catch (e) {
    return { exists: false, code: e.code };
  }
}

export const b = (s) => Buffer.from(String(s));
