// Scenarios: each returns a JSON-able observation (compared between brokers). A result with
// {__multi: {sub: obs}} is split into several scenarios named `name/sub`; {__info: ...} is
// reported but not compared.
import { b, normMsg, errInfo, drain, drainBodies, collector, passiveCount, exists, defs } from './lib.mjs';
import { sleep, waitFor, within, nameFormat } from '../brokers.mjs';

/** Publishes through a confirm channel and waits for the confirms; returns per-message ack/nack. */
async function pubc(ctx, items) {
  if (!ctx._pc) ctx._pc = await ctx.ch(undefined, true);
  const ch = ctx._pc;
  const results = items.map(([ex, rk, body, opts]) => new Promise((resolve) => {
    ch.publish(ex, rk, b(body), opts ?? {}, (err) => resolve(err ? 'nack' : 'ack'));
  }));
  return within(Promise.all(results), 5000, 'confirms');
}

async function declareQ(ch, name, args = {}, opts = {}) {
  const r = await ch.assertQueue(name, { durable: opts.durable ?? false, exclusive: opts.exclusive ?? false, autoDelete: opts.autoDelete ?? false, arguments: args });
  return r;
}

const bodiesOf = (msgs) => msgs.map((m) => (typeof m === 'string' ? m : m.body));
const brief = (m) => `${m.content.toString()}${m.fields.redelivered ? '(r)' : ''}`;

export const scenarios = [];
const S = (name, fn) => scenarios.push({ name, fn });

// ---------------------------------------------------------------- routing
S('default_exchange', async (ctx) => {
  const ch = await ctx.ch();
  const d = await declareQ(ch, 'def.q');
  await pubc(ctx, [['', 'def.q', 'hello', { contentType: 'text/plain', headers: { h: 'v' } }]]);
  const got = await ch.get('def.q', { noAck: true });
  return { declareOk: d, msg: normMsg(got), after: await passiveCount(ch, 'def.q') };
});

S('default_exchange_mandatory_unroutable', async (ctx) => {
  const { ch, events } = await recordedConfirmChannel(ctx);
  ch.publish('', 'no.such.queue', b('x'), { mandatory: true, messageId: 'm1' });
  ch.publish('', 'no.such.queue', b('y'), { mandatory: false });
  await within(ch.waitForConfirms(), 3000, 'confirms');
  await sleep(100);
  return confirmSummary(events, 2, { x: 1, y: 2 });
});

/** A confirm channel whose returns, acks and nacks are recorded in events, in arrival order. */
async function recordedConfirmChannel(ctx) {
  const ch = await ctx.ch(undefined, true);
  const events = [];
  ch.on('return', (m) => events.push(['return', normMsg(m)]));
  ch.on('ack', (f) => events.push(['ack', f.deliveryTag, f.multiple]));
  ch.on('nack', (f) => events.push(['nack', f.deliveryTag, f.multiple]));
  return { ch, events };
}

/** Confirm events → what must hold whatever the batching: returns in order, tags acked/nacked, return before its ack. */
function confirmSummary(events, n, tagOfBody = {}) {
  const acked = new Set(); const nacked = new Set();
  const returns = [];
  const ackIndex = {};
  events.forEach((e, i) => {
    if (e[0] === 'return') { returns.push({ msg: e[1], at: i }); return; }
    const set = e[0] === 'ack' ? acked : nacked;
    for (let t = 1; t <= n; t++) if (t === e[1] || (e[2] && t < e[1])) { if (!set.has(t)) { set.add(t); ackIndex[t] ??= i; } }
  });
  return {
    returns: returns.map((r) => r.msg),
    acked: [...acked].sort((a, b) => a - b), nacked: [...nacked].sort((a, b) => a - b),
    returnPrecedesOwnAck: returns.map((r) => ackIndex[tagOfBody[r.msg.body]] > r.at),
    __info: { events: events.map((e) => (e[0] === 'return' ? ['return', e[1].body] : e)) },
  };
}

S('properties_roundtrip', async (ctx) => {
  const ch = await ctx.ch();
  await declareQ(ch, 'props.q');
  const headers = {
    str: 'text', empty: '', byte: 5, short: 1000, int: 100000, long: 2 ** 40, neg: -7, dbl: 1.5,
    f32: { '!': 'float', value: 2.5 }, tru: true, fal: false, nul: null, arr: [1, 'two', [3], { k: 'v' }],
    tbl: { a: 1, b: { c: 'd' } }, ts: { '!': 'timestamp', value: 1700000000 }, dec: { '!': 'decimal', value: { places: 2, digits: 12345 } },
    bin: Buffer.from([0, 1, 2, 255]), ubyte: { '!': 'unsignedbyte', value: 200 }, ushort: { '!': 'unsignedshort', value: 60000 },
    uint: { '!': 'unsignedint', value: 4000000000 }, i64small: { '!': 'long', value: 3 }, i32small: { '!': 'int', value: 3 },
    utf: 'ünïcødé ✓',
  };
  const opts = {
    contentType: 'application/json', contentEncoding: 'gzip', headers, deliveryMode: 2, priority: 3, correlationId: 'corr-1',
    replyTo: 'reply.q', expiration: '600000', messageId: 'msg-1', timestamp: 1700000001, type: 'my.type', userId: 'guest', appId: 'app-1',
  };
  await pubc(ctx, [['', 'props.q', '{"a":1}', opts], ['', 'props.q', 'bare', {}]]);
  const viaGet = await ch.get('props.q', { noAck: true });
  await declareQ(ch, 'props.q2');
  await pubc(ctx, [['', 'props.q2', '{"a":1}', opts]]);
  const c = await collector(ch, 'props.q2', { noAck: true });
  await c.until(1);
  const bare = await ch.get('props.q', { noAck: true });
  return { get: normMsg(viaGet), consume: c.msgs, bare: normMsg(bare) };
});

S('empty_headers_table', async (ctx) => {
  const ch = await ctx.ch();
  await declareQ(ch, 'eh.q');
  await pubc(ctx, [['', 'eh.q', 'no-headers-option'], ['', 'eh.q', 'empty-headers', { headers: {} }]]);
  const m1 = await ch.get('eh.q', { noAck: true }); const m2 = await ch.get('eh.q', { noAck: true });
  return { noOption: m1.properties.headers === undefined ? '<absent>' : m1.properties.headers, empty: m2.properties.headers === undefined ? '<absent>' : m2.properties.headers };
});

S('body_sizes', async (ctx) => {
  const ch = await ctx.ch();
  await declareQ(ch, 'body.q');
  const big = Buffer.alloc(300000, 0).map((_, i) => i % 251);
  const pc = await ctx.ch(undefined, true);
  pc.publish('', 'body.q', Buffer.alloc(0), {});
  pc.publish('', 'body.q', big, {});
  pc.publish('', 'body.q', Buffer.from([0xff, 0xfe, 0x00]), {});
  await within(pc.waitForConfirms(), 5000, 'confirms');
  const out = [];
  for (let i = 0; i < 3; i++) {
    const m = await ch.get('body.q', { noAck: true });
    out.push({ len: m.content.length, same: i === 1 ? m.content.equals(big) : m.content.toString('hex') });
  }
  return { out };
});

S('direct_routing', async (ctx) => {
  const ch = await ctx.ch();
  await ch.assertExchange('dx', 'direct', { durable: false });
  await declareQ(ch, 'dx.q1'); await declareQ(ch, 'dx.q2');
  await ch.bindQueue('dx.q1', 'dx', 'k1');
  await ch.bindQueue('dx.q2', 'dx', 'k1'); await ch.bindQueue('dx.q2', 'dx', 'k2');
  await ch.bindQueue('dx.q2', 'dx', 'k1'); // duplicate binding
  await pubc(ctx, [['dx', 'k1', 'm-k1'], ['dx', 'k2', 'm-k2'], ['dx', 'k3', 'm-k3'], ['dx', 'K1', 'm-K1'], ['dx', '', 'm-empty']]);
  return { q1: await drain(ch, 'dx.q1'), q2: await drain(ch, 'dx.q2') };
});

S('fanout_routing', async (ctx) => {
  const ch = await ctx.ch();
  await ch.assertExchange('fx', 'fanout', { durable: false });
  await declareQ(ch, 'fx.q1'); await declareQ(ch, 'fx.q2');
  await ch.bindQueue('fx.q1', 'fx', 'ignored'); await ch.bindQueue('fx.q2', 'fx', '');
  await pubc(ctx, [['fx', 'rk.1', 'a'], ['fx', '', 'b']]);
  return { q1: await drain(ch, 'fx.q1'), q2: await drain(ch, 'fx.q2') };
});

S('topic_multi_binding_single_copy', async (ctx) => {
  const ch = await ctx.ch();
  await ch.assertExchange('tx1', 'topic', { durable: false });
  await declareQ(ch, 'tx1.q');
  for (const p of ['a.*', '#', 'a.b', '*.b']) await ch.bindQueue('tx1.q', 'tx1', p);
  await pubc(ctx, [['tx1', 'a.b', 'one'], ['tx1', 'c', 'two']]);
  return { q: await drain(ch, 'tx1.q') };
});

const TOPIC_PATTERNS = {
  topic_star: ['*', 'a.*', '*.b', '*.*', 'a.*.b', '*.*.*'],
  topic_hash_alone: ['#', '#.#'],
  topic_hash_mixed: ['a.#', '#.b', 'a.*.#', '#.a.#', '#.*', '*.#'],
  topic_a_hash_b: ['a.#.b'],
  topic_empty_words: ['', 'a..b', '.', 'a.', '.b', '*..*', '#..#'],
  topic_literal: ['a.b', 'A.B'],
};
const TOPIC_KEYS = ['', 'a', 'b', 'a.b', 'a.c', 'a.b.b', 'a.x.b', 'a.x.y.b', 'a.b.c', '.', '..', 'a.', '.b', 'a..b', 'b.a', 'x.a.y', 'a.*', '#', 'A.B'];
S('topic_matrix', async (ctx) => {
  const ch = await ctx.ch();
  await ch.assertExchange('tm', 'topic', { durable: false });
  const queues = {};
  let i = 0;
  for (const [group, pats] of Object.entries(TOPIC_PATTERNS)) for (const p of pats) {
    const q = `tm.q${i++}`; queues[q] = [group, p];
    await declareQ(ch, q); await ch.bindQueue(q, 'tm', p);
  }
  await pubc(ctx, TOPIC_KEYS.map((k) => ['tm', k, JSON.stringify(k)]));
  const multi = {};
  for (const [q, [group, p]] of Object.entries(queues)) {
    multi[group] ??= {};
    multi[group][JSON.stringify(p)] = (await drainBodies(ch, q)).map((x) => JSON.parse(x));
  }
  return { __multi: multi };
});

S('headers_matrix', async (ctx) => {
  const ch = await ctx.ch();
  await ch.assertExchange('hx', 'headers', { durable: false });
  const bindings = {
    headers_all: { 'x-match': 'all', a: 1, b: 'x' },
    headers_any: { 'x-match': 'any', a: 1, b: 'x' },
    headers_default_xmatch: { a: 1, b: 'x' },
    headers_all_with_x: { 'x-match': 'all-with-x', 'x-k': 'v', a: 1 },
    headers_any_with_x: { 'x-match': 'any-with-x', 'x-k': 'v' },
    headers_all_ignores_x_args: { 'x-match': 'all', 'x-k': 'v' },
    headers_any_ignores_x_args: { 'x-match': 'any', 'x-k': 'v', a: 1 },
    headers_string_value: { 'x-match': 'all', a: '1' },
    headers_long_value: { 'x-match': 'all', a: { '!': 'long', value: 1 } },
    headers_int_value: { 'x-match': 'all', a: { '!': 'int', value: 1 } },
    headers_double_value: { 'x-match': 'all', a: { '!': 'double', value: 1 } },
    headers_void_value: { 'x-match': 'all', a: null },
    headers_empty_args: {},
    headers_bool_value: { flag: true },
    headers_any_empty: { 'x-match': 'any' },
  };
  const msgs = {
    m_a1_bx: { a: 1, b: 'x' }, m_a1: { a: 1 }, m_bx: { b: 'x' }, m_aS1: { a: '1' }, m_aL1: { a: { '!': 'long', value: 1 } },
    m_aI1: { a: { '!': 'int', value: 1 } }, m_aD1: { a: { '!': 'double', value: 1 } }, m_xk_a1: { 'x-k': 'v', a: 1 }, m_xk: { 'x-k': 'v' },
    m_none: null, m_empty: {}, m_a2_bx: { a: 2, b: 'x' }, m_flagT: { flag: true }, m_flag1: { flag: 1 }, m_anull: { a: null },
    m_a1_extra: { a: 1, b: 'x', c: 'extra' },
  };
  for (const [q, args] of Object.entries(bindings)) { await declareQ(ch, `hx.${q}`); await ch.bindQueue(`hx.${q}`, 'hx', '', args); }
  await pubc(ctx, Object.entries(msgs).map(([name, h]) => ['hx', 'rk', name, h === null ? {} : { headers: h }]));
  const multi = {};
  for (const q of Object.keys(bindings)) multi[q] = await drainBodies(ch, `hx.${q}`);
  return { __multi: multi };
});

S('exchange_to_exchange', async (ctx) => {
  const ch = await ctx.ch();
  await ch.assertExchange('e2e.src', 'topic', { durable: false });
  await ch.assertExchange('e2e.dst', 'fanout', { durable: false });
  await ch.assertExchange('e2e.dst2', 'direct', { durable: false });
  await ch.bindExchange('e2e.dst', 'e2e.src', 'a.#');
  await ch.bindExchange('e2e.dst2', 'e2e.src', '#');
  await declareQ(ch, 'e2e.q'); await declareQ(ch, 'e2e.both'); await declareQ(ch, 'e2e.q2');
  await ch.bindQueue('e2e.q', 'e2e.dst', '');
  await ch.bindQueue('e2e.both', 'e2e.dst', ''); await ch.bindQueue('e2e.both', 'e2e.src', 'a.b');
  await ch.bindQueue('e2e.q2', 'e2e.dst2', 'a.b');
  await pubc(ctx, [['e2e.src', 'a.b', 'ab'], ['e2e.src', 'b.c', 'bc'], ['e2e.src', 'a', 'a']]);
  return { q: await drain(ch, 'e2e.q'), both: await drain(ch, 'e2e.both'), q2: await drain(ch, 'e2e.q2') };
});

S('exchange_to_exchange_cycle', async (ctx) => {
  const ch = await ctx.ch();
  await ch.assertExchange('cyc.x1', 'fanout', { durable: false });
  await ch.assertExchange('cyc.x2', 'fanout', { durable: false });
  await ch.bindExchange('cyc.x2', 'cyc.x1', '');
  await ch.bindExchange('cyc.x1', 'cyc.x2', '');
  await declareQ(ch, 'cyc.q'); await ch.bindQueue('cyc.q', 'cyc.x2', '');
  await declareQ(ch, 'cyc.q1'); await ch.bindQueue('cyc.q1', 'cyc.x1', '');
  await pubc(ctx, [['cyc.x1', 'k', 'm1']]);
  await sleep(100);
  return { q: await drainBodies(ch, 'cyc.q'), q1: await drainBodies(ch, 'cyc.q1') };
});

S('alternate_exchange', async (ctx) => {
  const ch = await ctx.ch(undefined, true);
  const events = [];
  ch.on('return', (m) => events.push(['return', m.content.toString(), m.fields.replyText]));
  await ch.assertExchange('ae.alt', 'fanout', { durable: false });
  await ch.assertExchange('ae.main', 'direct', { durable: false, alternateExchange: 'ae.alt' });
  await ch.assertExchange('ae.main2', 'direct', { durable: false, alternateExchange: 'ae.missing' });
  await declareQ(ch, 'ae.q'); await ch.bindQueue('ae.q', 'ae.alt', '');
  await declareQ(ch, 'ae.routed'); await ch.bindQueue('ae.routed', 'ae.main', 'k');
  ch.publish('ae.main', 'k', b('routed'), { mandatory: true });
  ch.publish('ae.main', 'zz', b('unroutable'), { mandatory: true, headers: { h: 1 } });
  ch.publish('ae.main2', 'zz', b('ae-missing'), { mandatory: true });
  await within(ch.waitForConfirms(), 3000, 'confirms');
  await sleep(100);
  return { events, aeQ: await drain(ch, 'ae.q'), routed: await drain(ch, 'ae.routed') };
});

S('mandatory_return_fields', async (ctx) => {
  const { ch, events } = await recordedConfirmChannel(ctx);
  await ch.assertExchange('mr.x', 'direct', { durable: false });
  await declareQ(ch, 'mr.q'); await ch.bindQueue('mr.q', 'mr.x', 'good');
  ch.publish('mr.x', 'bad', b('ret'), { mandatory: true, contentType: 'text/plain', headers: { a: 1, s: 'x' }, priority: 4, correlationId: 'c', expiration: '5000', deliveryMode: 2 });
  ch.publish('mr.x', 'good', b('ok'), { mandatory: true });
  ch.publish('mr.x', 'bad', b('ret2'), { mandatory: false });
  await within(ch.waitForConfirms(), 3000, 'confirms');
  await sleep(100);
  return { ...confirmSummary(events, 3, { ret: 1, ok: 2, ret2: 3 }), q: await drainBodies(ch, 'mr.q') };
});

// ---------------------------------------------------------------- TTL
S('queue_ttl_expiry', async (ctx) => {
  const ch = await ctx.ch();
  await declareQ(ch, 'ttl.q', { 'x-message-ttl': 100 });
  await pubc(ctx, [['', 'ttl.q', '1'], ['', 'ttl.q', '2'], ['', 'ttl.q', '3']]);
  const before = await passiveCount(ch, 'ttl.q');
  await sleep(500);
  const after = await passiveCount(ch, 'ttl.q');
  return { before, after, left: await drainBodies(ch, 'ttl.q') };
});

S('per_message_expiration', async (ctx) => {
  const ch = await ctx.ch();
  await declareQ(ch, 'pmttl.q');
  await declareQ(ch, 'pmttl.q2', { 'x-message-ttl': 100000 });
  await pubc(ctx, [
    ['', 'pmttl.q', 'short', { expiration: '100' }], ['', 'pmttl.q', 'none', {}], ['', 'pmttl.q', 'long', { expiration: '100000' }],
    ['', 'pmttl.q2', 'short', { expiration: '100' }], ['', 'pmttl.q2', 'none', {}], ['', 'pmttl.q2', 'long', { expiration: '200000' }],
  ]);
  await sleep(500);
  return { q: await drain(ch, 'pmttl.q'), q2: await drain(ch, 'pmttl.q2') };
});

S('per_message_ttl_behind_head', async (ctx) => {
  const ch = await ctx.ch();
  await declareQ(ch, 'pmh.q');
  await pubc(ctx, [['', 'pmh.q', 'head', {}], ['', 'pmh.q', 'short', { expiration: '50' }], ['', 'pmh.q', 'tail', {}]]);
  await sleep(400);
  const countBefore = await passiveCount(ch, 'pmh.q');
  const first = await ch.get('pmh.q', { noAck: true });
  const countMid = await passiveCount(ch, 'pmh.q');
  const rest = await drain(ch, 'pmh.q');
  return { countBefore, first: normMsg(first), countMid, rest };
});

S('ttl_zero', async (ctx) => {
  const ch = await ctx.ch();
  await declareQ(ch, 'ttl0.q', { 'x-message-ttl': 0 });
  await declareQ(ch, 'ttl0.qc', { 'x-message-ttl': 0 });
  await declareQ(ch, 'exp0.q');
  const c = await collector(ch, 'ttl0.qc', { noAck: true });
  await pubc(ctx, [['', 'ttl0.q', 'no-consumer'], ['', 'ttl0.qc', 'with-consumer'], ['', 'exp0.q', 'exp0', { expiration: '0' }]]);
  await c.until(1, 1000);
  await sleep(100);
  return { noConsumer: await drainBodies(ch, 'ttl0.q'), withConsumer: c.msgs, exp0: await drainBodies(ch, 'exp0.q') };
});

S('expiry_head_with_consumer', async (ctx) => {
  const ch = await ctx.ch();
  await ch.prefetch(1);
  await declareQ(ch, 'ehc.q', { 'x-message-ttl': 200 });
  const c = await collector(ch, 'ehc.q', { noAck: false });
  await pubc(ctx, [['', 'ehc.q', 'm1'], ['', 'ehc.q', 'm2'], ['', 'ehc.q', 'm3']]);
  await c.until(1);
  await sleep(600);
  const countWhileBlocked = await passiveCount(ch, 'ehc.q');
  ch.ack(c.raw[0]);
  await sleep(300);
  return { delivered: c.raw.map(brief), countWhileBlocked, after: await passiveCount(ch, 'ehc.q') };
});

// ---------------------------------------------------------------- max-length
S('max_length_drop_head', async (ctx) => {
  const ch = await ctx.ch();
  await declareQ(ch, 'mlh.q', { 'x-max-length': 2 });
  const acks = await pubc(ctx, [1, 2, 3, 4, 5].map((i) => ['', 'mlh.q', `m${i}`]));
  return { acks, count: await passiveCount(ch, 'mlh.q'), left: await drainBodies(ch, 'mlh.q') };
});

S('max_length_bytes_drop_head', async (ctx) => {
  const ch = await ctx.ch();
  await declareQ(ch, 'mlb.q', { 'x-max-length-bytes': 10 });
  const acks = await pubc(ctx, [1, 2, 3, 4].map((i) => ['', 'mlb.q', `abc${i}`]));
  return { acks, left: await drainBodies(ch, 'mlb.q') };
});

S('max_length_reject_publish', async (ctx) => {
  const ch = await ctx.ch();
  await declareQ(ch, 'mlr.q', { 'x-max-length': 2, 'x-overflow': 'reject-publish' });
  const acks = await pubc(ctx, [1, 2, 3, 4].map((i) => ['', 'mlr.q', `m${i}`]));
  const g = await ch.get('mlr.q', { noAck: true });
  const acks2 = await pubc(ctx, [['', 'mlr.q', 'm5']]);
  return { acks, acks2, left: await drainBodies(ch, 'mlr.q'), first: g.content.toString() };
});

S('max_length_reject_publish_dlx', async (ctx) => {
  const ch = await ctx.ch();
  await ch.assertExchange('mlrd.dlx', 'fanout', { durable: false });
  await declareQ(ch, 'mlrd.dlq'); await ch.bindQueue('mlrd.dlq', 'mlrd.dlx', '');
  await declareQ(ch, 'mlrd.q', { 'x-max-length': 2, 'x-overflow': 'reject-publish-dlx', 'x-dead-letter-exchange': 'mlrd.dlx' });
  const acks = await pubc(ctx, [1, 2, 3, 4].map((i) => ['', 'mlrd.q', `m${i}`]));
  await sleep(100);
  return { acks, left: await drainBodies(ch, 'mlrd.q'), dlq: await drain(ch, 'mlrd.dlq') };
});

S('max_length_drop_head_dlx', async (ctx) => {
  const ch = await ctx.ch();
  await ch.assertExchange('mldh.dlx', 'fanout', { durable: false });
  await declareQ(ch, 'mldh.dlq'); await ch.bindQueue('mldh.dlq', 'mldh.dlx', '');
  await declareQ(ch, 'mldh.q', { 'x-max-length': 2, 'x-dead-letter-exchange': 'mldh.dlx' });
  const acks = await pubc(ctx, [1, 2, 3, 4].map((i) => ['', 'mldh.q', `m${i}`, { expiration: i === 1 ? '60000' : undefined }]));
  await sleep(100);
  return { acks, left: await drainBodies(ch, 'mldh.q'), dlq: await drain(ch, 'mldh.dlq') };
});

// ---------------------------------------------------------------- dead-lettering
async function dlSetup(ch, prefix, qArgs = {}) {
  await ch.assertExchange(`${prefix}.dlx`, 'fanout', { durable: false });
  await ch.assertExchange(`${prefix}.src`, 'direct', { durable: false });
  await declareQ(ch, `${prefix}.dlq`); await ch.bindQueue(`${prefix}.dlq`, `${prefix}.dlx`, '');
  await declareQ(ch, `${prefix}.q`, { 'x-dead-letter-exchange': `${prefix}.dlx`, ...qArgs });
  await ch.bindQueue(`${prefix}.q`, `${prefix}.src`, 'rk1');
}

S('dlx_on_reject', async (ctx) => {
  const ch = await ctx.ch();
  await dlSetup(ch, 'dlr');
  await pubc(ctx, [['dlr.src', 'rk1', 'm1', { headers: { keep: 'me' }, messageId: 'id1', priority: 2, expiration: '60000', timestamp: 12345 }]]);
  const m = await ch.get('dlr.q', { noAck: false });
  ch.reject(m, false);
  await sleep(100);
  return { dlq: await drain(ch, 'dlr.dlq') };
});

S('dlx_on_nack_multiple', async (ctx) => {
  const ch = await ctx.ch();
  await dlSetup(ch, 'dln');
  await pubc(ctx, [1, 2, 3, 4].map((i) => ['dln.src', 'rk1', `m${i}`]));
  const ms = [];
  for (let i = 0; i < 4; i++) ms.push(await ch.get('dln.q', { noAck: false }));
  ch.nack(ms[1], false, false); // single m2
  ch.nack(ms[3], true, false); // multiple: m1, m3, m4
  await sleep(150);
  return { dlq: await drain(ch, 'dln.dlq') };
});

S('dlx_on_expiry', async (ctx) => {
  const ch = await ctx.ch();
  await dlSetup(ch, 'dle', { 'x-message-ttl': 100 });
  await pubc(ctx, [['dle.src', 'rk1', 'queue-ttl', { headers: { h: 1 } }], ['dle.src', 'rk1', 'msg-exp', { expiration: '30' }]]);
  await sleep(500);
  return { dlq: await drain(ch, 'dle.dlq') };
});

S('dlx_routing_key_override', async (ctx) => {
  const ch = await ctx.ch();
  await ch.assertExchange('dlrk.dlx', 'direct', { durable: false });
  await declareQ(ch, 'dlrk.dlq'); await ch.bindQueue('dlrk.dlq', 'dlrk.dlx', 'newkey');
  await declareQ(ch, 'dlrk.old'); await ch.bindQueue('dlrk.old', 'dlrk.dlx', 'dlrk.q');
  await declareQ(ch, 'dlrk.q', { 'x-dead-letter-exchange': 'dlrk.dlx', 'x-dead-letter-routing-key': 'newkey' });
  await pubc(ctx, [['', 'dlrk.q', 'm1', { CC: ['cc1'] }]]);
  const m = await ch.get('dlrk.q', { noAck: false });
  ch.reject(m, false);
  await sleep(100);
  return { dlq: await drain(ch, 'dlrk.dlq'), old: await drainBodies(ch, 'dlrk.old') };
});

S('dlx_default_exchange_keeps_rk', async (ctx) => {
  const ch = await ctx.ch();
  await declareQ(ch, 'dld.target');
  await declareQ(ch, 'dld.q', { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'dld.target' });
  await declareQ(ch, 'dld.q2', { 'x-dead-letter-exchange': '' }); // rk stays dld.q2 → back to itself? (cycle check)
  await pubc(ctx, [['', 'dld.q', 'm1'], ['', 'dld.q2', 'm2']]);
  const m = await ch.get('dld.q', { noAck: false }); ch.reject(m, false);
  const m2 = await ch.get('dld.q2', { noAck: false }); ch.reject(m2, false);
  await sleep(100);
  return { target: await drain(ch, 'dld.target'), q2: await drain(ch, 'dld.q2') };
});

S('cc_bcc_routing', async (ctx) => {
  const ch = await ctx.ch();
  await ch.assertExchange('ccx', 'direct', { durable: false });
  for (const k of ['k1', 'k2', 'k3']) { await declareQ(ch, `ccx.${k}`); await ch.bindQueue(`ccx.${k}`, 'ccx', k); }
  await pubc(ctx, [['ccx', 'k1', 'm', { CC: ['k2'], BCC: ['k3'], headers: { other: 1 } }]]);
  return { k1: await drain(ch, 'ccx.k1'), k2: await drain(ch, 'ccx.k2'), k3: await drain(ch, 'ccx.k3') };
});

S('dlx_cc_bcc', async (ctx) => {
  // A message published with CC and BCC, dead-lettered without a dead-letter routing key: which of
  // its routing keys route the dead-lettered copy, and what its x-death and headers say.
  const ch = await ctx.ch();
  await ch.assertExchange('dcc.x', 'direct', { durable: false });
  await ch.assertExchange('dcc.dlx', 'direct', { durable: false });
  for (const k of ['k1', 'k2', 'k3']) { await declareQ(ch, `dcc.dead.${k}`); await ch.bindQueue(`dcc.dead.${k}`, 'dcc.dlx', k); }
  await declareQ(ch, 'dcc.src', { 'x-dead-letter-exchange': 'dcc.dlx' });
  await ch.bindQueue('dcc.src', 'dcc.x', 'k1');
  await pubc(ctx, [['dcc.x', 'k1', 'm', { CC: ['k2'], BCC: ['k3'] }]]);
  const m = await ch.get('dcc.src', { noAck: false });
  const atSource = normMsg(m);
  ch.reject(m, false);
  await sleep(100);
  return { atSource, k1: await drain(ch, 'dcc.dead.k1'), k2: await drain(ch, 'dcc.dead.k2'), k3: await drain(ch, 'dcc.dead.k3') };
});

S('dlx_two_hops', async (ctx) => {
  const ch = await ctx.ch();
  await declareQ(ch, 'hop.q3');
  await declareQ(ch, 'hop.q2', { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'hop.q3' });
  await declareQ(ch, 'hop.q1', { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'hop.q2' });
  await pubc(ctx, [['', 'hop.q1', 'm']]);
  const m1 = await ch.get('hop.q1', { noAck: false }); ch.reject(m1, false);
  await sleep(100);
  const m2 = await ch.get('hop.q2', { noAck: false });
  const atQ2 = normMsg(m2);
  ch.nack(m2, false, false);
  await sleep(100);
  return { atQ2, atQ3: await drain(ch, 'hop.q3') };
});

S('dlx_repeated_cycle', async (ctx) => {
  const ch = await ctx.ch();
  await declareQ(ch, 'cy.a', { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'cy.b' });
  await declareQ(ch, 'cy.b', { 'x-message-ttl': 50, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'cy.a' });
  await pubc(ctx, [['', 'cy.a', 'm', { headers: { orig: 'yes' } }]]);
  const seen = [];
  for (let round = 0; round < 3; round++) {
    const m = await waitFor(async () => await ch.get('cy.a', { noAck: false }), 3000);
    if (!m) { seen.push('none'); break; }
    seen.push(normMsg(m));
    ch.reject(m, false);
  }
  return { seen };
});

S('dlx_expiry_only_cycle_dropped', async (ctx) => {
  const ch = await ctx.ch();
  await declareQ(ch, 'ec.a', { 'x-message-ttl': 50, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'ec.b' });
  await declareQ(ch, 'ec.b', { 'x-message-ttl': 50, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'ec.a' });
  await declareQ(ch, 'ec.self', { 'x-message-ttl': 50, 'x-dead-letter-exchange': '' });
  await pubc(ctx, [['', 'ec.a', 'm'], ['', 'ec.self', 's']]);
  await sleep(800);
  return { a: await passiveCount(ch, 'ec.a'), b: await passiveCount(ch, 'ec.b'), self: await passiveCount(ch, 'ec.self') };
});

S('dlx_missing_exchange', async (ctx) => {
  const ch = await ctx.ch();
  await declareQ(ch, 'dlm.q', { 'x-dead-letter-exchange': 'dlm.nope' });
  await pubc(ctx, [['', 'dlm.q', 'm']]);
  const m = await ch.get('dlm.q', { noAck: false }); ch.reject(m, false);
  await sleep(100);
  return { count: await passiveCount(ch, 'dlm.q'), events: ctx.events };
});

// ---------------------------------------------------------------- quorum
S('quorum_delivery_count_header', async (ctx) => {
  const ch = await ctx.ch();
  await declareQ(ch, 'qq.dc', { 'x-queue-type': 'quorum' }, { durable: true });
  await pubc(ctx, [['', 'qq.dc', 'm']]);
  const seen = [];
  let m = await ch.get('qq.dc', { noAck: false }); seen.push(normMsg(m)); ch.nack(m, false, true);
  m = await waitFor(() => ch.get('qq.dc', { noAck: false })); seen.push(normMsg(m)); ch.reject(m, true);
  m = await waitFor(() => ch.get('qq.dc', { noAck: false })); seen.push(normMsg(m));
  await ch.close();
  const ch2 = await ctx.ch();
  m = await waitFor(() => ch2.get('qq.dc', { noAck: false })); seen.push(normMsg(m));
  const c = await collector(ch2, 'qq.dc', { noAck: false });
  await ch2.recover();
  await c.until(1);
  return { seen, afterRecover: c.msgs };
});

S('quorum_delivery_limit_dlx', async (ctx) => {
  const ch = await ctx.ch();
  await ch.assertExchange('qdl.dlx', 'fanout', { durable: false });
  await declareQ(ch, 'qdl.dlq'); await ch.bindQueue('qdl.dlq', 'qdl.dlx', '');
  await declareQ(ch, 'qdl.q', { 'x-queue-type': 'quorum', 'x-delivery-limit': 2, 'x-dead-letter-exchange': 'qdl.dlx' }, { durable: true });
  await pubc(ctx, [['', 'qdl.q', 'm', { headers: { h: 'v' } }]]);
  const gets = [];
  for (let i = 0; i < 5; i++) {
    const m = await waitFor(() => ch.get('qdl.q', { noAck: false }), 800);
    if (!m) { gets.push('empty'); break; }
    gets.push(`${m.content}${m.fields.redelivered ? '(r)' : ''} dc=${m.properties.headers?.['x-delivery-count']}`);
    ch.nack(m, false, true);
  }
  await sleep(200);
  return { gets, dlq: await drain(ch, 'qdl.dlq'), count: await passiveCount(ch, 'qdl.q') };
});

S('quorum_requeue_order', async (ctx) => {
  const ch = await ctx.ch();
  await declareQ(ch, 'qro.q', { 'x-queue-type': 'quorum' }, { durable: true });
  await pubc(ctx, [1, 2, 3, 4].map((i) => ['', 'qro.q', `m${i}`]));
  const ms = [];
  for (let i = 0; i < 3; i++) ms.push(await ch.get('qro.q', { noAck: false }));
  ch.reject(ms[2], true); ch.reject(ms[0], true);
  await sleep(100);
  const order = [];
  for (let i = 0; i < 4; i++) { const m = await ch.get('qro.q', { noAck: true }); order.push(m ? `${m.content}${m.fields.redelivered ? '(r)' : ''}` : 'empty'); }
  return { order, counts: await passiveCount(ch, 'qro.q') };
});

S('quorum_declare_counts', async (ctx) => {
  const ch = await ctx.ch();
  const d = await declareQ(ch, 'qdc.q', { 'x-queue-type': 'quorum' }, { durable: true });
  await pubc(ctx, [1, 2, 3].map((i) => ['', 'qdc.q', `m${i}`]));
  await ch.get('qdc.q', { noAck: false });
  await sleep(100);
  const p = await passiveCount(ch, 'qdc.q');
  const purge = await ch.purgeQueue('qdc.q');
  return { d, p, purge, after: await passiveCount(ch, 'qdc.q') };
});

// ---------------------------------------------------------------- priority
S('priority_ordering', async (ctx) => {
  const ch = await ctx.ch();
  await declareQ(ch, 'pri.q', { 'x-max-priority': 5 });
  const pris = [undefined, 3, 1, 5, 3, 0, 9, 200, 2];
  await pubc(ctx, pris.map((p, i) => ['', 'pri.q', `m${i}p${p}`, p === undefined ? {} : { priority: p }]));
  const out = await drain(ch, 'pri.q');
  return { order: out.map((m) => `${m.body}:${m.properties.priority}`) };
});

S('priority_redelivery', async (ctx) => {
  const ch = await ctx.ch();
  await declareQ(ch, 'prr.q', { 'x-max-priority': 10 });
  await pubc(ctx, [[0, 'a'], [5, 'b'], [5, 'c'], [1, 'd'], [9, 'e']].map(([p, n]) => ['', 'prr.q', `${n}${p}`, { priority: p }]));
  const got = [];
  for (let i = 0; i < 5; i++) got.push(await ch.get('prr.q', { noAck: false }));
  const firstOrder = got.map(brief);
  ch.nack(got[4], true, true);
  await sleep(100);
  await pubc(ctx, [['', 'prr.q', 'new5', { priority: 5 }]]);
  const order = [];
  for (let i = 0; i < 7; i++) { const m = await ch.get('prr.q', { noAck: true }); if (!m) break; order.push(brief(m)); }
  return { firstOrder, afterRequeue: order };
});

S('priority_consumer_delivery', async (ctx) => {
  const ch = await ctx.ch();
  await declareQ(ch, 'prc.q', { 'x-max-priority': 10 });
  await pubc(ctx, [[1, 'a'], [9, 'b'], [5, 'c']].map(([p, n]) => ['', 'prc.q', `${n}${p}`, { priority: p }]));
  await ch.prefetch(1);
  const c = await collector(ch, 'prc.q', { noAck: false });
  await c.until(1);
  await pubc(ctx, [['', 'prc.q', 'z10', { priority: 10 }]]);
  for (let i = 0; i < 4; i++) { await c.until(i + 1); await sleep(50); ch.ack(c.raw[i]); }
  await c.until(4);
  return { order: c.raw.map(brief) };
});

// ---------------------------------------------------------------- redelivery, ordering
S('basic_recover_requeue', async (ctx) => {
  const ch = await ctx.ch();
  await declareQ(ch, 'rec.q');
  await pubc(ctx, [1, 2, 3].map((i) => ['', 'rec.q', `m${i}`]));
  const c = await collector(ch, 'rec.q', { noAck: false }, { tags: true });
  await c.until(3);
  ch.ack(c.raw[1]);
  await ch.recover();
  await c.until(5);
  await sleep(150);
  return { deliveries: c.msgs.map((m) => `${m.body}${m.fields.redelivered ? '(r)' : ''}#${m.fields.deliveryTag}`) };
});

S('nack_multiple_requeue_order', async (ctx) => {
  const ch = await ctx.ch();
  await declareQ(ch, 'nmr.q');
  await pubc(ctx, [1, 2, 3, 4, 5, 6].map((i) => ['', 'nmr.q', `m${i}`]));
  const ms = [];
  for (let i = 0; i < 5; i++) ms.push(await ch.get('nmr.q', { noAck: false }));
  ch.ack(ms[1]);
  ch.nack(ms[3], true, true); // requeues m1, m3, m4 (m2 acked)
  await sleep(100);
  const count = await passiveCount(ch, 'nmr.q');
  const order = [];
  for (let i = 0; i < 6; i++) { const m = await ch.get('nmr.q', { noAck: true }); if (!m) break; order.push(`${brief(m)} mc=${m.fields.messageCount}`); }
  return { count, order };
});

S('reject_requeue_out_of_order', async (ctx) => {
  const ch = await ctx.ch();
  await declareQ(ch, 'rro.q');
  await pubc(ctx, [1, 2, 3, 4, 5].map((i) => ['', 'rro.q', `m${i}`]));
  const ms = [];
  for (let i = 0; i < 4; i++) ms.push(await ch.get('rro.q', { noAck: false }));
  ch.reject(ms[2], true); ch.reject(ms[0], true); ch.reject(ms[3], true);
  await sleep(100);
  const order = [];
  for (let i = 0; i < 6; i++) { const m = await ch.get('rro.q', { noAck: true }); if (!m) break; order.push(brief(m)); }
  return { order };
});

S('reject_requeue_redelivered_flag', async (ctx) => {
  const ch = await ctx.ch();
  await declareQ(ch, 'rrf.q');
  await pubc(ctx, [['', 'rrf.q', 'm1', { headers: { h: 1 } }], ['', 'rrf.q', 'm2']]);
  const m = await ch.get('rrf.q', { noAck: false });
  const first = normMsg(m);
  ch.reject(m, true);
  await sleep(50);
  const again = await ch.get('rrf.q', { noAck: false });
  const second = normMsg(again);
  ch.ack(again);
  await ch.prefetch(1);
  const c = await collector(ch, 'rrf.q', { noAck: false });
  await c.until(1);
  ch.nack(c.raw[0], false, true);
  await c.until(2);
  ch.ack(c.raw[1]);
  return { first, second, consumed: c.msgs };
});

S('channel_close_requeue_order', async (ctx) => {
  const ch1 = await ctx.ch();
  const ch2 = await ctx.ch();
  await declareQ(ch2, 'ccr.q');
  await pubc(ctx, [1, 2, 3, 4, 5, 6].map((i) => ['', 'ccr.q', `m${i}`]));
  await ch1.prefetch(4);
  const c = await collector(ch1, 'ccr.q', { noAck: false });
  await c.until(4);
  ch1.ack(c.raw[1]);
  const g = await ch2.get('ccr.q', { noAck: false }); // m5 held by ch2
  await sleep(50);
  await ch1.close();
  await sleep(100);
  const count = await passiveCount(ch2, 'ccr.q');
  const order = [];
  for (let i = 0; i < 6; i++) { const m = await ch2.get('ccr.q', { noAck: true }); if (!m) break; order.push(brief(m)); }
  return { ch2held: brief(g), count, order };
});

S('prefetch1_fair_dispatch', async (ctx) => {
  const conn = await ctx.conn();
  const chA = await ctx.ch(conn); const chB = await ctx.ch(conn);
  await declareQ(chA, 'fair.q');
  await chA.prefetch(1); await chB.prefetch(1);
  const log = [];
  const A = await collector(chA, 'fair.q', { noAck: false }); const B = await collector(chB, 'fair.q', { noAck: false });
  const wrap = (who, rec) => () => rec.raw.map((m) => `${who}:${m.content}`);
  await pubc(ctx, [1, 2, 3, 4, 5, 6].map((i) => ['', 'fair.q', `m${i}`]));
  await waitFor(() => A.raw.length + B.raw.length >= 2, 2000); await sleep(100);
  log.push([...wrap('A', A)(), ...wrap('B', B)()].join(','));
  const count1 = await passiveCount(chA, 'fair.q');
  chA.ack(A.raw[A.raw.length - 1]); await waitFor(() => A.raw.length >= 2, 2000); await sleep(100);
  log.push([...wrap('A', A)(), ...wrap('B', B)()].join(','));
  chB.ack(B.raw[B.raw.length - 1]); await waitFor(() => B.raw.length >= 2, 2000); await sleep(100);
  chB.ack(B.raw[B.raw.length - 1]); await waitFor(() => B.raw.length >= 3, 2000); await sleep(100);
  log.push([...wrap('A', A)(), ...wrap('B', B)()].join(','));
  return { log, count1, final: await passiveCount(chA, 'fair.q') };
});

S('round_robin_unlimited', async (ctx) => {
  const ch = await ctx.ch();
  await declareQ(ch, 'rr.q');
  const order = [];
  const mk = (who) => ch.consume('rr.q', (m) => order.push(`${who}:${m.content}`), { noAck: true });
  await mk('A'); await mk('B'); await mk('C');
  await pubc(ctx, [1, 2, 3, 4, 5, 6, 7].map((i) => ['', 'rr.q', `m${i}`]));
  await waitFor(() => order.length >= 7, 2000);
  return { byConsumer: ['A', 'B', 'C'].map((w) => order.filter((x) => x.startsWith(w)).join(',')) };
});

S('consumer_priorities', async (ctx) => {
  const ch = await ctx.ch();
  await declareQ(ch, 'cp.q');
  const got = [];
  await ch.consume('cp.q', (m) => got.push(`low:${m.content}`), { noAck: true, priority: 1 });
  await ch.consume('cp.q', (m) => got.push(`high:${m.content}`), { noAck: true, priority: 10 });
  await ch.consume('cp.q', (m) => got.push(`high2:${m.content}`), { noAck: true, priority: 10 });
  await pubc(ctx, [1, 2, 3, 4].map((i) => ['', 'cp.q', `m${i}`]));
  await waitFor(() => got.length >= 4, 2000); await sleep(100);
  // blocked high-priority consumer: lower one gets messages
  const chH = await ctx.ch(); const chL = await ctx.ch();
  await declareQ(chH, 'cp2.q');
  await chH.prefetch(1); await chL.prefetch(1);
  const H = await collector(chH, 'cp2.q', { noAck: false, priority: 5 });
  const L = await collector(chL, 'cp2.q', { noAck: false, priority: -1 });
  await pubc(ctx, [1, 2, 3, 4].map((i) => ['', 'cp2.q', `n${i}`]));
  await waitFor(() => H.raw.length + L.raw.length >= 2, 2000); await sleep(100);
  const step1 = { H: H.raw.map(brief), L: L.raw.map(brief) };
  chH.ack(H.raw[0]); await sleep(150);
  const step2 = { H: H.raw.map(brief), L: L.raw.map(brief) };
  return { unlimited: got, step1, step2 };
});

S('single_active_consumer', async (ctx) => {
  const conn = await ctx.conn();
  const ch1 = await ctx.ch(conn); const ch2 = await ctx.ch(conn); const ch = await ctx.ch(conn);
  const d = await declareQ(ch, 'sac.q', { 'x-single-active-consumer': true });
  const log = [];
  const c1 = await ch1.consume('sac.q', (m) => { log.push(`c1:${brief(m)}`); if (m.content.toString() !== 'm4') ch1.ack(m); }, { noAck: false });
  const c2 = await ch2.consume('sac.q', (m) => { log.push(`c2:${brief(m)}`); ch2.ack(m); }, { noAck: false });
  const p1 = await passiveCount(ch, 'sac.q');
  await pubc(ctx, [1, 2, 3, 4].map((i) => ['', 'sac.q', `m${i}`]));
  await waitFor(() => log.length >= 4, 2000); await sleep(100);
  await ch1.cancel(c1.consumerTag); // m4 remains unacked on ch1
  await pubc(ctx, [['', 'sac.q', 'm5']]);
  await waitFor(() => log.length >= 5, 2000); await sleep(100);
  const p2 = await passiveCount(ch, 'sac.q');
  await ch1.close();
  await waitFor(() => log.length >= 6, 2000); await sleep(100);
  return { declareOk: d, p1, log, p2, end: await passiveCount(ch, 'sac.q') };
});

S('global_prefetch', async (ctx) => {
  const ch = await ctx.ch();
  await declareQ(ch, 'gp.q1'); await declareQ(ch, 'gp.q2');
  await pubc(ctx, [1, 2, 3].flatMap((i) => [['', 'gp.q1', `a${i}`], ['', 'gp.q2', `b${i}`]]));
  await ch.prefetch(3, true);
  const got = [];
  await ch.consume('gp.q1', (m) => got.push(m.content.toString()), { noAck: false });
  await ch.consume('gp.q2', (m) => got.push(m.content.toString()), { noAck: false });
  await sleep(300);
  return { count: got.length };
});

S('noack_ignores_prefetch', async (ctx) => {
  const ch = await ctx.ch();
  await declareQ(ch, 'nap.q');
  await ch.prefetch(1);
  await pubc(ctx, [1, 2, 3, 4].map((i) => ['', 'nap.q', `m${i}`]));
  const c = await collector(ch, 'nap.q', { noAck: true });
  await c.until(4, 1500);
  return { got: c.raw.map(brief) };
});

S('delivery_tags_sequence', async (ctx) => {
  const ch = await ctx.ch();
  await declareQ(ch, 'dt.q');
  await pubc(ctx, [1, 2, 3, 4].map((i) => ['', 'dt.q', `m${i}`]));
  const g1 = await ch.get('dt.q', { noAck: false });
  const g2 = await ch.get('dt.q', { noAck: true });
  const c = await collector(ch, 'dt.q', { noAck: false }, { tags: true });
  await c.until(2);
  return { get: [g1.fields.deliveryTag, g2.fields.deliveryTag], consume: c.msgs.map((m) => m.fields.deliveryTag) };
});

// ---------------------------------------------------------------- lifecycle
S('auto_delete_queue', async (ctx) => {
  const ch = await ctx.ch();
  await declareQ(ch, 'ad.q', {}, { autoDelete: true });
  const r = { neverConsumed: await exists(ctx, 'ad.q') };
  const a = await ch.consume('ad.q', () => {}, { noAck: true });
  const bb = await ch.consume('ad.q', () => {}, { noAck: true });
  await ch.cancel(a.consumerTag); await sleep(100);
  r.afterFirstCancel = await exists(ctx, 'ad.q');
  await ch.cancel(bb.consumerTag); await sleep(200);
  r.afterLastCancel = await exists(ctx, 'ad.q');
  const ch2 = await ctx.ch();
  await declareQ(ch2, 'ad.q2', {}, { autoDelete: true });
  await ch2.consume('ad.q2', () => {}, { noAck: true });
  await ch2.close(); await sleep(200);
  r.afterChannelClose = await exists(ctx, 'ad.q2');
  return r;
});

S('exclusive_queue_lifecycle', async (ctx) => {
  const connA = await ctx.conn(); const connB = await ctx.conn();
  const chA = await ctx.ch(connA);
  await declareQ(chA, 'ex.q', {}, { exclusive: true });
  const srv = await declareQ(chA, '', {}, { exclusive: true });
  await pubc(ctx, [['', 'ex.q', 'm']]).catch((e) => errInfo(e));
  const chB = await connB.createChannel(); chB.on('error', () => {});
  let fromB;
  try { fromB = await chB.checkQueue('ex.q'); } catch (e) { fromB = { code: e.code }; }
  const r = { passiveFromOtherConn: fromB, countFromOwner: await passiveCount(chA, 'ex.q') };
  await connA.close(); ctx.conns = ctx.conns.filter((c) => c !== connA);
  await sleep(200);
  const chC = await connB.createChannel(); chC.on('error', () => {});
  try { r.afterOwnerClose = await chC.checkQueue('ex.q'); } catch (e) { r.afterOwnerClose = { code: e.code }; }
  const chD = await connB.createChannel(); chD.on('error', () => {});
  try { r.serverNamedAfterClose = await chD.checkQueue(srv.queue); } catch (e) { r.serverNamedAfterClose = { code: e.code }; }
  return r;
});

S('queue_x_expires', async (ctx) => {
  const ch = await ctx.ch();
  await declareQ(ch, 'xe.idle', { 'x-expires': 300 });
  await declareQ(ch, 'xe.used', { 'x-expires': 300 });
  await pubc(ctx, [['', 'xe.idle', 'm']]);
  const c = await ch.consume('xe.used', () => {}, { noAck: true });
  await sleep(900);
  const r = { idleWithMessage: await exists(ctx, 'xe.idle'), withConsumer: await exists(ctx, 'xe.used') };
  await ch.cancel(c.consumerTag);
  await sleep(900);
  r.afterCancel = await exists(ctx, 'xe.used');
  return r;
});

S('server_named_queue', async (ctx) => {
  const ch = await ctx.ch();
  const d = await ch.assertQueue('', { exclusive: true });
  const d2 = await ch.assertQueue('', { exclusive: false, durable: false, autoDelete: true });
  const c = await ch.consume(d.queue, () => {}, { noAck: true });
  const acks = await pubc(ctx, [['', d.queue, 'm']]);
  const lens = new Set(); const tagLens = new Set();
  for (let i = 0; i < 30; i++) { const q = await ch.assertQueue('', { exclusive: true }); lens.add(q.queue.length - 8); const t = await ch.consume(q.queue, () => {}, { noAck: true }); tagLens.add(t.consumerTag.length - 9); }
  return {
    declareOk: { queue: nameFormat(d.queue, 'amq.gen-'), messageCount: d.messageCount, consumerCount: d.consumerCount },
    second: nameFormat(d2.queue, 'amq.gen-'), distinct: d.queue !== d2.queue,
    randomPartLengthsOver30: [...lens].sort(), ctagRandomLengthsOver30: [...tagLens].sort(),
    consumerTag: nameFormat(c.consumerTag, 'amq.ctag-'), acks,
  };
});

S('basic_get_counts', async (ctx) => {
  const ch = await ctx.ch();
  await declareQ(ch, 'bg.q');
  const empty1 = await ch.get('bg.q', { noAck: true });
  await pubc(ctx, [1, 2, 3].map((i) => ['', 'bg.q', `m${i}`]));
  const out = [];
  for (let i = 0; i < 4; i++) { const m = await ch.get('bg.q', { noAck: i % 2 === 0 }); out.push(normMsg(m)); }
  return { empty1: normMsg(empty1), out };
});

S('declare_counts_with_unacked', async (ctx) => {
  const ch = await ctx.ch(); const chC = await ctx.ch();
  await declareQ(ch, 'dcu.q');
  await pubc(ctx, [1, 2, 3].map((i) => ['', 'dcu.q', `m${i}`]));
  await chC.prefetch(2);
  const c = await collector(chC, 'dcu.q', { noAck: false });
  await c.until(2); await sleep(100);
  const passive = await passiveCount(ch, 'dcu.q');
  const active = await declareQ(ch, 'dcu.q');
  return { passive, active };
});

S('purge_with_unacked', async (ctx) => {
  const ch = await ctx.ch(); const chC = await ctx.ch();
  await declareQ(ch, 'pu.q');
  await pubc(ctx, [1, 2, 3, 4].map((i) => ['', 'pu.q', `m${i}`]));
  await chC.prefetch(2);
  const c = await collector(chC, 'pu.q', { noAck: false });
  await c.until(2); await sleep(100);
  const purge = await ch.purgeQueue('pu.q');
  const afterPurge = await passiveCount(ch, 'pu.q');
  await chC.close(); await sleep(150);
  const afterClose = await passiveCount(ch, 'pu.q');
  const left = [];
  let m;
  while ((m = await ch.get('pu.q', { noAck: false }))) left.push(brief(m));
  await ch.recover(); await sleep(50); // requeues the gets? (recover only affects consumers' unacked on this channel)
  const del = await ch.deleteQueue('pu.q');
  return { purge, afterPurge, afterClose, left, deleteOk: del };
});

S('delete_queue_counts', async (ctx) => {
  const ch = await ctx.ch();
  await declareQ(ch, 'del.q');
  await pubc(ctx, [1, 2, 3].map((i) => ['', 'del.q', `m${i}`]));
  const d = await ch.deleteQueue('del.q');
  const d2 = await ch.deleteQueue('del.q'); // already gone
  return { d, d2 };
});

// ---------------------------------------------------------------- reply-to
S('direct_reply_to', async (ctx) => {
  const client = await ctx.ch(await ctx.conn());
  const server = await ctx.ch(await ctx.conn());
  await declareQ(server, 'rpc.q');
  const requests = [];
  await server.consume('rpc.q', (m) => {
    requests.push(m);
    server.publish('', m.properties.replyTo, b(`reply:${m.content}`), { correlationId: m.properties.correlationId, headers: { r: 1 } });
  }, { noAck: true });
  const replies = [];
  const rc = await client.consume('amq.rabbitmq.reply-to', (m) => replies.push(m), { noAck: true });
  client.publish('', 'rpc.q', b('q1'), { replyTo: 'amq.rabbitmq.reply-to', correlationId: 'c1' });
  client.publish('', 'rpc.q', b('q2'), { replyTo: 'amq.rabbitmq.reply-to', correlationId: 'c2' });
  await waitFor(() => replies.length >= 2, 3000);
  const rt = requests[0]?.properties.replyTo;
  let passive;
  try { passive = await client.checkQueue('amq.rabbitmq.reply-to'); } catch (e) { passive = { code: e.code }; }
  return {
    consumerTag: nameFormat(rc.consumerTag, 'amq.ctag-'),
    requests: requests.map((m) => normMsg(m)),
    replyToFormat: rt && { prefix: rt.startsWith('amq.rabbitmq.reply-to.'), len: rt.length, chars: [...new Set(rt.slice(22).replace(/[A-Za-z0-9]/g, ''))].join(''), sameForBoth: requests[1]?.properties.replyTo === rt },
    replies: replies.map((m) => normMsg(m)),
    replyRoutingKeyIsReplyTo: replies[0]?.fields.routingKey === rt,
    passiveDeclare: passive,
  };
});

// ---------------------------------------------------------------- tx
async function txSelect(ch) { return ch.rpc(defs.TxSelect, {}, defs.TxSelectOk); }
async function txCommit(ch) { return ch.rpc(defs.TxCommit, {}, defs.TxCommitOk); }
async function txRollback(ch) { return ch.rpc(defs.TxRollback, {}, defs.TxRollbackOk); }

S('tx_publish_commit_rollback', async (ctx) => {
  const ch = await ctx.ch(); const tx = await ctx.ch();
  await declareQ(ch, 'tx.q');
  await txSelect(tx);
  tx.publish('', 'tx.q', b('t1')); tx.publish('', 'tx.q', b('t2'));
  await sleep(100);
  const beforeCommit = await passiveCount(ch, 'tx.q');
  await txCommit(tx);
  const afterCommit = await passiveCount(ch, 'tx.q');
  tx.publish('', 'tx.q', b('t3'));
  await txRollback(tx);
  const afterRollback = await passiveCount(ch, 'tx.q');
  tx.publish('', 'tx.q', b('t4'));
  await txCommit(tx);
  return { beforeCommit, afterCommit, afterRollback, contents: await drain(ch, 'tx.q') };
});

S('tx_ack_commit_rollback', async (ctx) => {
  const ch = await ctx.ch(); const tx = await ctx.ch();
  await declareQ(ch, 'txa.q');
  await pubc(ctx, [1, 2].map((i) => ['', 'txa.q', `m${i}`]));
  await txSelect(tx);
  const m1 = await tx.get('txa.q', { noAck: false });
  tx.ack(m1);
  await txRollback(tx);
  const afterRollback = await passiveCount(ch, 'txa.q');
  const m2 = await tx.get('txa.q', { noAck: false });
  tx.ack(m2);
  await txCommit(tx);
  const afterCommit = await passiveCount(ch, 'txa.q');
  tx.ack(m1); // ack again after rollback (still unacked?)
  await txCommit(tx);
  await sleep(50);
  const evs = ctx.events.slice();
  await tx.close().catch(() => {});
  await sleep(100);
  return { afterRollback, afterCommit, events: evs, left: await drainBodies(ch, 'txa.q') };
});

S('tx_nack_requeue_rollback', async (ctx) => {
  const ch = await ctx.ch(); const tx = await ctx.ch();
  await declareQ(ch, 'txn.q');
  await pubc(ctx, [['', 'txn.q', 'm1']]);
  await txSelect(tx);
  const m = await tx.get('txn.q', { noAck: false });
  tx.reject(m, true);
  await sleep(50);
  const beforeCommit = await passiveCount(ch, 'txn.q');
  await txCommit(tx);
  await sleep(50);
  const afterCommit = await passiveCount(ch, 'txn.q');
  return { beforeCommit, afterCommit, left: await drain(ch, 'txn.q') };
});

// ---------------------------------------------------------------- confirms
S('confirms_multiple', async (ctx) => {
  const ch = await ctx.ch(undefined, true);
  await declareQ(ch, 'cm.q');
  const acks = []; const nacks = [];
  ch.on('ack', (f) => acks.push([f.deliveryTag, f.multiple]));
  ch.on('nack', (f) => nacks.push([f.deliveryTag, f.multiple]));
  for (let i = 1; i <= 50; i++) ch.publish('', 'cm.q', b(`m${i}`));
  ch.publish('', 'no-such-queue', b('unroutable'));
  await sleep(500);
  const covered = new Set();
  for (const [t, multi] of acks) for (let k = 1; k <= 51; k++) if (k === t || (multi && k < t)) covered.add(k);
  return {
    allAcked1to51: [...Array(51).keys()].every((i) => covered.has(i + 1)),
    nacks, events: ctx.events,
    __info: { ackFrames: acks.length, usedMultiple: acks.some((a) => a[1]), monotonic: acks.every((a, i) => i === 0 || a[0] > acks[i - 1][0]), acks },
  };
});

// ---------------------------------------------------------------- streams
S('stream_offsets', async (ctx) => {
  const ch = await ctx.ch();
  const d = await declareQ(ch, 'st.s', { 'x-queue-type': 'stream' }, { durable: true });
  for (let i = 0; i < 5; i++) await pubc(ctx, [['', 'st.s', `m${i}`, { headers: { i } }]]);
  await sleep(1500);
  const tsSec = Math.floor(Date.now() / 1000);
  await sleep(1200);
  for (let i = 5; i < 8; i++) await pubc(ctx, [['', 'st.s', `m${i}`]]);
  await sleep(100);
  const specs = {
    first: 'first', last: 'last', next: 'next', number2: 2, number_long2: { '!': 'long', value: 2 }, number_beyond: 100,
    timestamp: { '!': 'timestamp', value: tsSec }, none: undefined, interval_1h: '1h',
  };
  const multi = {};
  const chans = {};
  for (const [k, spec] of Object.entries(specs)) {
    const c = await ctx.ch();
    await c.prefetch(50);
    const args = spec === undefined ? {} : { 'x-stream-offset': spec };
    try {
      const rec = await collector(c, 'st.s', { noAck: false, arguments: args });
      chans[k] = { c, rec };
    } catch (e) { multi[`stream_offset_${k}`] = errInfo(e); }
  }
  await sleep(500);
  await pubc(ctx, [['', 'st.s', 'm8-after-subscribe']]);
  await sleep(500);
  for (const [k, { rec }] of Object.entries(chans)) {
    multi[`stream_offset_${k}`] = rec.msgs.map((m) => `${m.body} off=${m.properties.headers?.['x-stream-offset']}`);
  }
  const full = chans.first?.rec.msgs ?? [];
  multi.stream_delivery_fields = { first: full[0], afterSubscribe: full[8] };
  multi.stream_declare_ok = { d, passive: await passiveCount(ch, 'st.s') };
  return { __multi: multi };
});

S('stream_ack_and_redeliver', async (ctx) => {
  const ch = await ctx.ch();
  await declareQ(ch, 'st2.s', { 'x-queue-type': 'stream' }, { durable: true });
  await pubc(ctx, [1, 2, 3].map((i) => ['', 'st2.s', `m${i}`]));
  const c = await ctx.ch();
  await c.prefetch(2);
  const rec = await collector(c, 'st2.s', { noAck: false, arguments: { 'x-stream-offset': 'first' } });
  await rec.until(2); await sleep(200);
  const beforeAck = rec.raw.map(brief);
  c.ack(rec.raw[0]); // credit for one more
  await rec.until(3); await sleep(200);
  const afterAck = rec.raw.map(brief);
  c.nack(rec.raw[1], false, true); // requeue has no effect on streams
  await sleep(200);
  return { beforeAck, afterAck, afterNack: rec.raw.map(brief) };
});

// ---------------------------------------------------------------- added
S('ttl_expired_while_unacked', async (ctx) => {
  const ch = await ctx.ch();
  await ch.assertExchange('teu.dlx', 'fanout', { durable: false });
  await declareQ(ch, 'teu.dlq'); await ch.bindQueue('teu.dlq', 'teu.dlx', '');
  await declareQ(ch, 'teu.q', { 'x-message-ttl': 200, 'x-dead-letter-exchange': 'teu.dlx' });
  await pubc(ctx, [['', 'teu.q', 'm1'], ['', 'teu.q', 'm2', { expiration: '100000' }]]);
  const m1 = await ch.get('teu.q', { noAck: false });
  await sleep(500);
  const whileUnacked = await passiveCount(ch, 'teu.q');
  ch.reject(m1, true);
  await sleep(200);
  return { whileUnacked, afterRequeue: await passiveCount(ch, 'teu.q'), left: await drainBodies(ch, 'teu.q'), dlq: await drain(ch, 'teu.dlq') };
});

S('queue_delete_cancels_consumer', async (ctx) => {
  const ch = await ctx.ch(); const chC = await ctx.ch();
  await declareQ(ch, 'qdel.q');
  await pubc(ctx, [1, 2, 3].map((i) => ['', 'qdel.q', `m${i}`]));
  await chC.prefetch(1);
  const log = [];
  await chC.consume('qdel.q', (m) => log.push(m === null ? 'cancelled-by-server' : brief(m)), { noAck: false });
  await waitFor(() => log.length >= 1, 2000);
  const del = await ch.deleteQueue('qdel.q');
  await sleep(200);
  return { del, log, events: ctx.events };
});

S('nack_all_and_ack_all', async (ctx) => {
  const ch = await ctx.ch();
  await declareQ(ch, 'na.q');
  await pubc(ctx, [1, 2, 3, 4].map((i) => ['', 'na.q', `m${i}`]));
  for (let i = 0; i < 3; i++) await ch.get('na.q', { noAck: false });
  ch.nackAll(true);
  await sleep(100);
  const afterNackAll = await passiveCount(ch, 'na.q');
  for (let i = 0; i < 2; i++) await ch.get('na.q', { noAck: false });
  ch.ackAll();
  await sleep(100);
  return { afterNackAll, afterAckAll: await passiveCount(ch, 'na.q'), left: await drainBodies(ch, 'na.q') };
});

S('cancel_then_unacked_requeue', async (ctx) => {
  const ch = await ctx.ch(); const chC = await ctx.ch();
  await declareQ(ch, 'cu.q');
  await pubc(ctx, [1, 2, 3].map((i) => ['', 'cu.q', `m${i}`]));
  const c = await collector(chC, 'cu.q', { noAck: false });
  await c.until(3);
  await chC.cancel(c.tag);
  const afterCancel = await passiveCount(ch, 'cu.q');
  chC.ack(c.raw[0]);
  await sleep(50);
  await chC.close(); await sleep(100);
  return { afterCancel, left: await drainBodies(ch, 'cu.q') };
});

/** A consumer with prefetch 3 rejects (requeue) its third and first message: the order it sees them all in. */
const requeueOrderConsumer = (name, q, args, opts) => S(name, async (ctx) => {
  const ch = await ctx.ch(); const chC = await ctx.ch();
  await declareQ(ch, q, args, opts);
  await pubc(ctx, [1, 2, 3, 4, 5].map((i) => ['', q, `m${i}`]));
  await chC.prefetch(3);
  const c = await collector(chC, q, { noAck: false });
  await c.until(3); await sleep(100);
  chC.reject(c.raw[2], true); chC.reject(c.raw[0], true);
  await c.until(5); await sleep(200);
  return { order: c.raw.map(brief) };
});
requeueOrderConsumer('quorum_requeue_order_consumer', 'qroc.q', { 'x-queue-type': 'quorum' }, { durable: true });
requeueOrderConsumer('classic_requeue_order_consumer', 'croc.q');
