// Scenarios: each provokes one error or edge case and returns what the client saw.
// The runner adds ctx.events (close/return/cancel/ack frames) and connection liveness.
import { sleep, within, normValue } from '../brokers.mjs';
import { defs, methodName, Raw } from './lib.mjs';

export const scenarios = [];
const sc = (name, fn) => scenarios.push({ name, fn });
const buf = (s = 'x') => Buffer.from(s);

async function conf(ctx, conn) {
  const c = conn ?? (await ctx.connect());
  const ch = await within(c.createConfirmChannel());
  ch.on('error', () => {});
  return { c, ch };
}
async function chan(ctx, conn) {
  const c = conn ?? (await ctx.connect());
  const ch = await within(c.createChannel());
  ch.on('error', () => {});
  return { c, ch };
}
const publishConfirmed = (ch, ex, rk, content, opts = {}) =>
  within(
    new Promise((resolve) => ch.publish(ex, rk, content, opts, (err) => resolve(err ? 'nacked-or-closed' : 'acked'))),
    5000,
    'confirm',
  ).catch((e) => (e.timeout ? 'TIMEOUT' : 'ERR'));

/** A scenario that runs op on a new channel (after setup) and returns how it ended. */
const tryOn = (name, op, setup) =>
  sc(name, async (ctx) => {
    const { ch } = await chan(ctx);
    if (setup) await setup(ch);
    return ctx.attempt(() => op(ch));
  });
/** A scenario that runs two operations one after the other on one channel. */
const tryTwice = (name, first, second) =>
  sc(name, async (ctx) => {
    const { ch } = await chan(ctx);
    const a = await ctx.attempt(() => first(ch));
    const b = await ctx.attempt(() => second(ch));
    return { a, b };
  });
/** A scenario that sends what the server should refuse, then waits (up to ms) for a close. */
const sendThenClose = (name, send, ms) =>
  sc(name, async (ctx) => {
    const { ch } = await chan(ctx);
    await send(ch);
    await ctx.waitEvent(/close/, ms);
    return 'sent';
  });
/** Declares stream queue q (and sets a prefetch). */
const streamQueue = (q, prefetch) => async (ch) => {
  await ch.assertQueue(q, { arguments: { 'x-queue-type': 'stream' } });
  if (prefetch) await ch.prefetch(prefetch);
};
/** basic.consume of q with a no-op callback: 'ok' once consume-ok arrives. */
const consumeOk = (q, opts) => async (ch) => (await ch.consume(q, () => {}, opts)) && 'ok';
/** A raw connection with channel 1 open and plain queue q declared on it (check `opened`). */
async function rawWithQueue(ctx, q) {
  const raw = await Raw.openChannel(ctx.port);
  if (raw.opened) await raw.declareQueue(q);
  return raw;
}
/** A raw connection opened with opts (user, pass, vhost, capabilities, tuneOk), then settle(raw): how the server took it. */
const rawOpen = (name, opts, settle) =>
  sc(name, async (ctx) => {
    const raw = await Raw.open(ctx.port, opts);
    if (settle) await settle(raw);
    return { opened: !!raw.opened, ...raw.report(ctx) };
  });
/** On a raw connection with channel 1 open, send(raw) breaks the framing rules: which close follows. */
const rawFraming = (name, send) =>
  sc(name, async (ctx) => {
    const raw = await Raw.openChannel(ctx.port);
    if (!raw.opened) return 'open failed';
    send(raw);
    await raw.nextClose();
    await raw.waitEnd(1000);
    return raw.report(ctx);
  });

// ---------------------------------------------------------------- passive declares
tryOn('passive-missing-queue', (ch) => ch.checkQueue('pm-q'));
tryOn('passive-missing-exchange', (ch) => ch.checkExchange('pm-x'));
sc('passive-counts-with-unacked', async (ctx) => {
  const { ch } = await conf(ctx);
  await ch.assertQueue('pc-q');
  for (let i = 0; i < 3; i++) await publishConfirmed(ch, '', 'pc-q', buf());
  const got = await ctx.attempt(async () => {
    const m = await ch.get('pc-q');
    return m ? { tag: m.fields.deliveryTag, messageCount: m.fields.messageCount } : false;
  });
  const { ch: ch2 } = await chan(ctx, ctx.conns[0].model);
  await ch2.consume('pc-q', () => {}, { noAck: false }).catch(() => {});
  await ch2.prefetch(1);
  await sleep(200);
  const check = await ctx.attempt(() => ch.checkQueue('pc-q'));
  return { got, check };
});
tryOn('passive-counts-consumers', (ch) => ch.checkQueue('pcc-q'), async (ch) => {
  await ch.assertQueue('pcc-q');
  await ch.consume('pcc-q', () => {});
  await ch.consume('pcc-q', () => {});
});
tryOn('passive-declare-exchange-amq-direct', (ch) => ch.checkExchange('amq.direct'));

// ---------------------------------------------------------------- redeclare queue
const redeclareQueue = (name, queue, first, second) =>
  tryTwice(name, (ch) => ch.assertQueue(queue, first), (ch) => ch.assertQueue(queue, second));
redeclareQueue('redeclare-queue-durable', 'rq-d', { durable: true }, { durable: false });
redeclareQueue('redeclare-queue-exclusive-to-nonexcl-same-conn', 'rq-e1', { exclusive: true }, { exclusive: false });
redeclareQueue('redeclare-queue-nonexcl-to-excl-same-conn', 'rq-e2', { exclusive: false }, { exclusive: true });
redeclareQueue('redeclare-queue-autodelete', 'rq-ad', { autoDelete: false }, { autoDelete: true });
redeclareQueue('redeclare-queue-ttl-differs', 'rq-ttl', { messageTtl: 1000 }, { messageTtl: 2000 });
redeclareQueue('redeclare-queue-maxlen-added', 'rq-ml', {}, { maxLength: 10 });
redeclareQueue('redeclare-queue-maxlen-removed', 'rq-ml2', { maxLength: 10 }, {});
redeclareQueue('redeclare-queue-type-quorum-vs-classic', 'rq-qt', {}, { arguments: { 'x-queue-type': 'quorum' } });
redeclareQueue('redeclare-queue-type-explicit-classic', 'rq-qt2', {}, { arguments: { 'x-queue-type': 'classic' } });
// same numeric value, different table type tag (short vs long)
const ttlOfType = (type) => ({ arguments: { 'x-message-ttl': { '!': type, value: 1000 } } });
redeclareQueue('redeclare-queue-ttl-int-type-differs', 'rq-ttl2', ttlOfType('int16'), ttlOfType('int64'));

// ---------------------------------------------------------------- exchanges
tryTwice('redeclare-exchange-type', (ch) => ch.assertExchange('rx-t', 'direct'), (ch) => ch.assertExchange('rx-t', 'topic'));
tryTwice('redeclare-exchange-durable', (ch) => ch.assertExchange('rx-d', 'direct', { durable: true }), (ch) => ch.assertExchange('rx-d', 'direct', { durable: false }));
tryTwice('redeclare-exchange-internal', (ch) => ch.assertExchange('rx-i', 'direct', { internal: false }), (ch) => ch.assertExchange('rx-i', 'direct', { internal: true }));
tryOn('declare-exchange-unknown-type', (ch) => ch.assertExchange('ux', 'no-such-type'));
tryOn('declare-queue-amq-prefix', (ch) => ch.assertQueue('amq.foo'));
tryOn('declare-exchange-amq-prefix', (ch) => ch.assertExchange('amq.foo', 'direct'));
tryOn('passive-declare-queue-amq-prefix-missing', (ch) => ch.checkQueue('amq.foo'));
tryOn('redeclare-amq-direct-same-props', (ch) => ch.assertExchange('amq.direct', 'direct', { durable: true }));
tryOn('declare-default-exchange-empty-name', (ch) => ch.assertExchange('', 'direct'));
tryOn('exchange-delete-amq-direct', (ch) => ch.deleteExchange('amq.direct'));
tryOn('exchange-delete-default', (ch) => ch.deleteExchange(''));
tryOn('exchange-delete-if-unused-bound', (ch) => ch.deleteExchange('xdu', { ifUnused: true }), async (ch) => {
  await ch.assertExchange('xdu', 'direct');
  await ch.assertQueue('xdu-q');
  await ch.bindQueue('xdu-q', 'xdu', 'k');
});

// ---------------------------------------------------------------- delete / bind / unbind missing
tryOn('queue-delete-missing', (ch) => ch.deleteQueue('dm-q'));
tryOn('exchange-delete-missing', (ch) => ch.deleteExchange('dm-x'));
tryOn('queue-bind-missing-queue', (ch) => ch.bindQueue('bmq-q', 'bmq-x', 'k'), (ch) => ch.assertExchange('bmq-x', 'direct'));
tryOn('queue-bind-missing-exchange', (ch) => ch.bindQueue('bmx-q', 'bmx-x', 'k'), (ch) => ch.assertQueue('bmx-q'));
tryOn('queue-bind-both-missing', (ch) => ch.bindQueue('bbm-q', 'bbm-x', 'k'));
tryOn('queue-unbind-missing-queue', (ch) => ch.unbindQueue('ubq-q', 'ubq-x', 'k'), (ch) => ch.assertExchange('ubq-x', 'direct'));
tryOn('queue-unbind-missing-exchange', (ch) => ch.unbindQueue('ubx-q', 'ubx-x', 'k'), (ch) => ch.assertQueue('ubx-q'));
tryOn('queue-unbind-nonexistent-binding', (ch) => ch.unbindQueue('ubb-q', 'ubb-x', 'k'), async (ch) => {
  await ch.assertQueue('ubb-q');
  await ch.assertExchange('ubb-x', 'direct');
});
tryOn('exchange-bind-missing-source', (ch) => ch.bindExchange('ebs-d', 'ebs-s', 'k'), (ch) => ch.assertExchange('ebs-d', 'direct'));
tryOn('exchange-bind-missing-destination', (ch) => ch.bindExchange('ebd-d', 'ebd-s', 'k'), (ch) => ch.assertExchange('ebd-s', 'direct'));
tryOn('queue-bind-default-exchange', (ch) => ch.bindQueue('bde-q', '', 'bde-q'), (ch) => ch.assertQueue('bde-q'));
tryOn('queue-unbind-default-exchange', (ch) => ch.unbindQueue('ubde-q', '', 'ubde-q'), (ch) => ch.assertQueue('ubde-q'));
tryOn('queue-bind-empty-name-no-prior-declare', (ch) => ch.bindQueue('', 'amq.direct', 'k'));
sc('queue-bind-empty-name-after-declare', async (ctx) => {
  const { ch } = await chan(ctx);
  await ch.assertQueue('bel-q');
  const b = await ctx.attempt(() => ch.bindQueue('', 'amq.direct', 'bel-k'));
  const { ch: ch2 } = await conf(ctx, ctx.conns[0].model);
  const p = await publishConfirmed(ch2, 'amq.direct', 'bel-k', buf());
  const m = await ctx.attempt(async () => !!(await ch.get('bel-q', { noAck: true })));
  return { b, p, m };
});
tryOn('queue-purge-missing', (ch) => ch.purgeQueue('pm2-q'));
tryOn('basic-get-missing-queue', (ch) => ch.get('gm-q'));
tryOn('basic-consume-missing-queue', (ch) => ch.consume('cm-q', () => {}));
tryOn('basic-get-empty', (ch) => ch.get('ge-q'), (ch) => ch.assertQueue('ge-q'));

// ---------------------------------------------------------------- queue.delete if-unused / if-empty
sc('queue-delete-if-unused-with-consumer', async (ctx) => {
  const { ch } = await chan(ctx);
  await ch.assertQueue('diu-q');
  await ch.consume('diu-q', () => {});
  const { ch: ch2 } = await chan(ctx, ctx.conns[0].model);
  return ctx.attempt(() => ch2.deleteQueue('diu-q', { ifUnused: true }));
});
sc('queue-delete-if-empty-nonempty', async (ctx) => {
  const { ch } = await conf(ctx);
  await ch.assertQueue('die-q');
  await publishConfirmed(ch, '', 'die-q', buf());
  return ctx.attempt(() => ch.deleteQueue('die-q', { ifEmpty: true }));
});
sc('queue-delete-if-unused-ok-count', async (ctx) => {
  const { ch } = await conf(ctx);
  await ch.assertQueue('diok-q');
  await publishConfirmed(ch, '', 'diok-q', buf());
  await publishConfirmed(ch, '', 'diok-q', buf());
  return ctx.attempt(() => ch.deleteQueue('diok-q', { ifUnused: true }));
});
sc('queue-delete-with-consumer-cancel-notify', async (ctx) => {
  const { ch } = await chan(ctx);
  await ch.assertQueue('dcn-q');
  let cancelled = null;
  await ch.consume('dcn-q', (m) => {
    if (m === null) cancelled = 'callback-null';
  });
  const { ch: ch2 } = await chan(ctx, ctx.conns[0].model);
  const d = await ctx.attempt(() => ch2.deleteQueue('dcn-q'));
  await ctx.waitEvent(/cancel/, 1000);
  return { d, cancelled };
});

// ---------------------------------------------------------------- exclusive queue from another connection
async function exclusiveOther(ctx, name, op) {
  const { ch } = await chan(ctx);
  await ch.assertQueue(name, { exclusive: true });
  const { ch: ch2 } = await chan(ctx, await ctx.connect());
  return ctx.attempt(() => op(ch2));
}
sc('exclusive-other-conn-declare', (ctx) => exclusiveOther(ctx, 'ex-d', (ch) => ch.assertQueue('ex-d', { exclusive: true })));
sc('exclusive-other-conn-declare-nonexcl', (ctx) => exclusiveOther(ctx, 'ex-dn', (ch) => ch.assertQueue('ex-dn')));
sc('exclusive-other-conn-passive', (ctx) => exclusiveOther(ctx, 'ex-p', (ch) => ch.checkQueue('ex-p')));
sc('exclusive-other-conn-consume', (ctx) => exclusiveOther(ctx, 'ex-c', (ch) => ch.consume('ex-c', () => {})));
sc('exclusive-other-conn-bind', (ctx) => exclusiveOther(ctx, 'ex-b', (ch) => ch.bindQueue('ex-b', 'amq.direct', 'k')));
sc('exclusive-other-conn-unbind', (ctx) => exclusiveOther(ctx, 'ex-ub', (ch) => ch.unbindQueue('ex-ub', 'amq.direct', 'k')));
sc('exclusive-other-conn-unbind-existing-binding', async (ctx) => {
  const { ch } = await chan(ctx);
  await ch.assertQueue('ex-ube', { exclusive: true });
  await ch.bindQueue('ex-ube', 'amq.direct', 'k');
  const { ch: ch2 } = await chan(ctx, await ctx.connect());
  return ctx.attempt(() => ch2.unbindQueue('ex-ube', 'amq.direct', 'k'));
});
sc('exclusive-other-conn-delete', (ctx) => exclusiveOther(ctx, 'ex-del', (ch) => ch.deleteQueue('ex-del')));
sc('exclusive-other-conn-purge', (ctx) => exclusiveOther(ctx, 'ex-pu', (ch) => ch.purgeQueue('ex-pu')));
sc('exclusive-other-conn-get', (ctx) => exclusiveOther(ctx, 'ex-g', (ch) => ch.get('ex-g')));
sc('exclusive-other-conn-publish', async (ctx) => {
  const { ch } = await chan(ctx);
  await ch.assertQueue('ex-pub', { exclusive: true });
  const { ch: ch2 } = await conf(ctx, await ctx.connect());
  const p = await publishConfirmed(ch2, '', 'ex-pub', buf());
  const m = await ctx.attempt(async () => !!(await ch.get('ex-pub', { noAck: true })));
  return { p, m };
});

// ---------------------------------------------------------------- consumers
sc('exclusive-consumer-then-second', async (ctx) => {
  const { ch } = await chan(ctx);
  await ch.assertQueue('xc-q');
  const a = await ctx.attempt(async () => (await ch.consume('xc-q', () => {}, { exclusive: true })) && 'ok');
  const { ch: ch2 } = await chan(ctx, ctx.conns[0].model);
  const b = await ctx.attempt(async () => (await ch2.consume('xc-q', () => {})) && 'ok');
  return { a, b };
});
sc('consumer-then-exclusive-consumer', async (ctx) => {
  const { ch } = await chan(ctx);
  await ch.assertQueue('cx-q');
  const a = await ctx.attempt(async () => (await ch.consume('cx-q', () => {})) && 'ok');
  const { ch: ch2 } = await chan(ctx, ctx.conns[0].model);
  const b = await ctx.attempt(async () => (await ch2.consume('cx-q', () => {}, { exclusive: true })) && 'ok');
  return { a, b };
});
sc('duplicate-consumer-tag-same-channel', async (ctx) => {
  const { ch } = await chan(ctx);
  await ch.assertQueue('dt-q');
  const a = await ctx.attempt(() => ch.consume('dt-q', () => {}, { consumerTag: 'tag1' }));
  const b = await ctx.attempt(() => ch.consume('dt-q', () => {}, { consumerTag: 'tag1' }));
  return { a, b };
});
sc('same-consumer-tag-different-channels', async (ctx) => {
  const { ch } = await chan(ctx);
  await ch.assertQueue('dt2-q');
  const { ch: ch2 } = await chan(ctx, ctx.conns[0].model);
  const a = await ctx.attempt(() => ch.consume('dt2-q', () => {}, { consumerTag: 'tag1' }));
  const b = await ctx.attempt(() => ch2.consume('dt2-q', () => {}, { consumerTag: 'tag1' }));
  return { a, b };
});
tryOn('basic-cancel-unknown-tag', (ch) => ch.cancel('no-such-tag'));
tryOn('basic-consume-server-tag', (ch) => ch.consume('st-q', () => {}), (ch) => ch.assertQueue('st-q'));

// ---------------------------------------------------------------- acks
const fake = (tag) => ({ fields: { deliveryTag: tag } });
async function withDelivered(ctx, n, name) {
  const { ch } = await conf(ctx);
  await ch.assertQueue(name);
  for (let i = 0; i < n; i++) await publishConfirmed(ch, '', name, buf());
  const { ch: ch2 } = await chan(ctx, ctx.conns[0].model);
  const msgs = [];
  for (let i = 0; i < n; i++) msgs.push(await ch2.get(name));
  return { ch: ch2, msgs };
}
sendThenClose('ack-unknown-tag', (ch) => ch.ack(fake(99)));
sc('ack-double', async (ctx) => {
  const { ch, msgs } = await withDelivered(ctx, 1, 'ad-q');
  ch.ack(msgs[0]);
  ch.ack(msgs[0]);
  await ctx.waitEvent(/close/);
  return msgs.map((m) => m && m.fields.deliveryTag);
});
sendThenClose('ack-zero-multiple-nothing-outstanding', (ch) => ch.ack(fake(0), true), 800);
sc('ack-zero-multiple-with-outstanding', async (ctx) => {
  const { ch, msgs } = await withDelivered(ctx, 2, 'azm-q');
  ch.ack(fake(0), true);
  await ctx.waitEvent(/close/, 800);
  const { ch: ch3 } = await chan(ctx, ctx.conns[0].model);
  const check = await ctx.attempt(() => ch3.checkQueue('azm-q'));
  return { tags: msgs.map((m) => m && m.fields.deliveryTag), check };
});
sc('ack-zero-single', async (ctx) => {
  const { ch } = await withDelivered(ctx, 1, 'az1-q');
  ch.ack(fake(0), false);
  await ctx.waitEvent(/close/);
  return 'sent';
});
sc('ack-multiple-beyond-max', async (ctx) => {
  const { ch } = await withDelivered(ctx, 1, 'amb-q');
  ch.ack(fake(5), true);
  await ctx.waitEvent(/close/);
  return 'sent';
});
sendThenClose('nack-unknown-tag', (ch) => ch.nack(fake(7), false, true));
sendThenClose('reject-unknown-tag', (ch) => ch.reject(fake(7), true));
sc('ack-tag-from-noack-consumer', async (ctx) => {
  const { ch: pch } = await conf(ctx);
  await pch.assertQueue('ana-q');
  await publishConfirmed(pch, '', 'ana-q', buf());
  const { ch } = await chan(ctx, ctx.conns[0].model);
  const m = await ch.get('ana-q', { noAck: true });
  ch.ack(m);
  await ctx.waitEvent(/close/);
  return m && m.fields.deliveryTag;
});
sc('ack-on-other-channel', async (ctx) => {
  const { msgs } = await withDelivered(ctx, 1, 'aoc-q');
  const { ch: ch3 } = await chan(ctx, ctx.conns[0].model);
  ch3.ack(msgs[0]);
  await ctx.waitEvent(/close/);
  return 'sent';
});

// ---------------------------------------------------------------- publishing
sendThenClose('publish-missing-exchange-no-confirm', (ch) => ch.publish('pmx-x', 'k', buf()));
sc('publish-missing-exchange-confirm', async (ctx) => {
  const { ch } = await conf(ctx);
  const r = await publishConfirmed(ch, 'pmxc-x', 'k', buf());
  await ctx.waitEvent(/close/);
  return r;
});
sc('publish-mandatory-unroutable-default-exchange', async (ctx) => {
  const { ch } = await conf(ctx);
  const r = await publishConfirmed(ch, '', 'no-such-queue', buf(), { mandatory: true });
  await ctx.waitEvent(/return/);
  return r;
});
sc('publish-mandatory-unroutable-named-exchange', async (ctx) => {
  const { ch } = await conf(ctx);
  await ch.assertExchange('mu-x', 'direct');
  const r = await publishConfirmed(ch, 'mu-x', 'nowhere', buf(), { mandatory: true });
  await ctx.waitEvent(/return/);
  return r;
});
sc('publish-nonmandatory-unroutable-confirm', async (ctx) => {
  const { ch } = await conf(ctx);
  return publishConfirmed(ch, '', 'no-such-queue-2', buf());
});
sc('publish-immediate-flag', async (ctx) => {
  // basic.publish immediate=true: RabbitMQ does not implement it.
  const { ch } = await chan(ctx);
  await ch.assertQueue('imm-q');
  ch.sendMessage({ exchange: '', routingKey: 'imm-q', mandatory: false, immediate: true, ticket: 0 }, {}, buf());
  await ctx.waitEvent(/close/);
  return 'sent';
});
sendThenClose('publish-internal-exchange', async (ch) => { await ch.assertExchange('int-x', 'direct', { internal: true }); ch.publish('int-x', 'k', buf()); });
sendThenClose('publish-expiration-abc', async (ch) => { await ch.assertQueue('pea-q'); ch.publish('', 'pea-q', buf(), { expiration: 'abc' }); });
sendThenClose('publish-expiration-negative', async (ch) => { await ch.assertQueue('pen-q'); ch.publish('', 'pen-q', buf(), { expiration: '-1' }); });
sc('publish-expiration-zero-then-get', async (ctx) => {
  const { ch } = await conf(ctx);
  await ch.assertQueue('pez-q');
  const r = await publishConfirmed(ch, '', 'pez-q', buf(), { expiration: '0' });
  await sleep(50);
  const g = await ctx.attempt(async () => !!(await ch.get('pez-q', { noAck: true })));
  return { r, g };
});
sc('publish-headers-unusual-types-roundtrip', async (ctx) => {
  const { ch } = await conf(ctx);
  await ch.assertQueue('hdr-q');
  const headers = {
    byte: { '!': 'int8', value: -5 },
    ubyte: { '!': 'uint8', value: 200 },
    short: { '!': 'int16', value: -300 },
    ushort: { '!': 'uint16', value: 60000 },
    int: { '!': 'int32', value: -70000 },
    uint: { '!': 'uint32', value: 4000000000 },
    long: { '!': 'int64', value: 2 ** 40 },
    float: { '!': 'float', value: 1.5 },
    double: 2.25,
    decimal: { '!': 'decimal', value: { places: 2, digits: 12345 } },
    ts: { '!': 'timestamp', value: 1700000000 },
    bool: true,
    void: null,
    bytes: Buffer.from([0, 1, 255]),
    arr: [1, 'two', [3], { four: 4 }, null],
    table: { nested: { deeper: 'x' } },
    empty: '',
    utf8: 'héllo ☃',
  };
  const r = await publishConfirmed(ch, '', 'hdr-q', buf(), { headers, timestamp: 1700000000, priority: 5, deliveryMode: 2 });
  const m = await ch.get('hdr-q', { noAck: true });
  return { r, headers: m && normValue(m.properties.headers), props: m && normValue({ ...m.properties, headers: undefined }) };
});
function topLevelTags(payload) {
  // payload = property flags + fields; only the headers flag is set here, so the table follows.
  const tags = {};
  let o = 2;
  const len = payload.readUInt32BE(o);
  o += 4;
  const end = o + len;
  const sizes = { b: 1, B: 1, s: 2, u: 2, I: 4, i: 4, l: 8, f: 4, d: 8, D: 5, T: 8, t: 1, V: 0 };
  while (o < end) {
    const kl = payload[o];
    const key = payload.toString('utf8', o + 1, o + 1 + kl);
    o += 1 + kl;
    const tag = String.fromCharCode(payload[o]);
    o += 1;
    tags[key] = tag;
    if (tag in sizes) o += sizes[tag];
    else if ('SxAF'.includes(tag)) o += 4 + payload.readUInt32BE(o);
    else break;
  }
  return tags;
}
sc('publish-headers-raw-type-tags', async (ctx) => {
  // The type tags of the headers table as delivered by basic.get (sent tag in the key name).
  const raw = await rawWithQueue(ctx, 'hrt-q');
  if (!raw.opened) return 'open failed';
  const headers = {
    b: { '!': 'int8', value: 1 },
    B: { '!': 'uint8', value: 1 },
    s: { '!': 'int16', value: 1 },
    u: { '!': 'uint16', value: 1 },
    I: { '!': 'int32', value: 1 },
    i: { '!': 'uint32', value: 1 },
    l: { '!': 'int64', value: 1 },
    f: { '!': 'float', value: 1 },
    d: { '!': 'double', value: 1 },
    'd-frac': 2.5,
    D: { '!': 'decimal', value: { places: 2, digits: 12345 } },
    T: { '!': 'timestamp', value: 1700000000 },
    t: true,
    V: null,
    x: Buffer.from('ab'),
    S: 'str',
    A: [1],
    F: { a: 1 },
  };
  raw.publish('hrt-q', buf(), defs.encodeProperties(defs.BasicProperties, 1, 1, { headers }));
  await sleep(100);
  raw.sendMethod(1, defs.BasicGet, { queue: 'hrt-q', noAck: true, ticket: 0 });
  const g = await raw.next((f) => f.id === defs.BasicGetOk || f.id === defs.BasicGetEmpty || f.id === defs.ChannelClose);
  const h = g?.id === defs.BasicGetOk ? await raw.next((f) => f.type === 2) : null;
  raw.close();
  const sent = defs.encodeProperties(defs.BasicProperties, 1, 1, { headers }).subarray(7 + 12, -1);
  if (!h) return { get: g && methodName(g.id) };
  const got = h.rawPayload.subarray(12);
  const tags = topLevelTags(got);
  const changed = Object.entries(tags).filter(([k, t]) => k[0] !== t).map(([k, t]) => `${k}->${t}`);
  return { sameBytes: got.equals(sent), changedTags: changed.join(' ') };
});
sc('publish-header-invalid-type-tag', async (ctx) => {
  // A header table with an undefined field type tag 'Z'.
  const raw = await rawWithQueue(ctx, 'hit-q');
  if (!raw.opened) return 'open failed';
  const props = Buffer.from(defs.encodeProperties(defs.BasicProperties, 1, 1, { headers: { k: { '!': 'int8', value: 1 } } }));
  const idx = props.indexOf(Buffer.from([1, 0x6b, 0x62])); // len=1,'k','b'
  props[idx + 2] = 0x5a; // 'Z'
  raw.publish('hit-q', buf(), props);
  await sleep(150);
  raw.sendMethod(1, defs.BasicGet, { queue: 'hit-q', noAck: true, ticket: 0 });
  const g = await raw.next((f) => f.id === defs.BasicGetOk || f.id === defs.BasicGetEmpty || f.id === defs.ChannelClose || f.id === defs.ConnectionClose, 2000);
  await sleep(100);
  return { get: g ? methodName(g.id) : 'none', ...raw.report(ctx) };
});

// ---------------------------------------------------------------- qos
tryOn('basic-qos-global', (ch) => ch.qos(10, true));
tryOn('basic-qos-prefetch-size-nonzero', (ch) => ch.rpc(defs.BasicQos, { prefetchSize: 1000, prefetchCount: 1, global: false }, defs.BasicQosOk));

// ---------------------------------------------------------------- invalid x-arguments
const badArg = (name, args, extra = {}) => tryOn(name, (ch) => ch.assertQueue(`ba-${name}`, { ...extra, arguments: args }));
badArg('arg-max-length-string', { 'x-max-length': '10' });
badArg('arg-max-length-negative', { 'x-max-length': -1 });
badArg('arg-message-ttl-negative', { 'x-message-ttl': -1 });
badArg('arg-message-ttl-string', { 'x-message-ttl': '1000' });
badArg('arg-max-priority-256', { 'x-max-priority': 256 });
badArg('arg-max-priority-255', { 'x-max-priority': 255 });
badArg('arg-overflow-unknown', { 'x-overflow': 'explode' });
badArg('arg-queue-type-unknown', { 'x-queue-type': 'bogus' });
badArg('arg-dlrk-without-dlx', { 'x-dead-letter-routing-key': 'rk' });
badArg('arg-expires-zero', { 'x-expires': 0 });
badArg('arg-expires-string', { 'x-expires': 'soon' });
badArg('arg-max-length-bytes-float', { 'x-max-length-bytes': 1.5 });
badArg('arg-unknown-x-arg-accepted', { 'x-foo-bar': 'baz' });
badArg('quorum-non-durable', { 'x-queue-type': 'quorum' }, { durable: false });
badArg('quorum-exclusive', { 'x-queue-type': 'quorum' }, { exclusive: true });
badArg('quorum-auto-delete', { 'x-queue-type': 'quorum' }, { autoDelete: true });
badArg('stream-non-durable', { 'x-queue-type': 'stream' }, { durable: false });
badArg('stream-exclusive', { 'x-queue-type': 'stream' }, { exclusive: true });
badArg('sac-plus-exclusive-queue', { 'x-single-active-consumer': true }, { exclusive: true });
badArg('sac-non-boolean', { 'x-single-active-consumer': 'yes' });
badArg('arg-dlx-non-string', { 'x-dead-letter-exchange': 5 });

sc('max-length-0-reject-publish-confirm', async (ctx) => {
  const { ch } = await conf(ctx);
  await ch.assertQueue('ml0-q', { maxLength: 0, overflow: 'reject-publish' });
  return publishConfirmed(ch, '', 'ml0-q', buf());
});
sc('max-length-1-drop-head-counts', async (ctx) => {
  const { ch } = await conf(ctx);
  await ch.assertQueue('ml1-q', { maxLength: 1 });
  const a = await publishConfirmed(ch, '', 'ml1-q', buf('1'));
  const b = await publishConfirmed(ch, '', 'ml1-q', buf('2'));
  const m = await ch.get('ml1-q', { noAck: true });
  return { a, b, body: m && m.content.toString() };
});
sc('sac-second-consumer-counts', async (ctx) => {
  const { ch } = await chan(ctx);
  await ch.assertQueue('sac-q', { arguments: { 'x-single-active-consumer': true } });
  const a = await ctx.attempt(async () => (await ch.consume('sac-q', () => {})) && 'ok');
  const b = await ctx.attempt(async () => (await ch.consume('sac-q', () => {})) && 'ok');
  const c = await ctx.attempt(() => ch.checkQueue('sac-q'));
  return { a, b, c };
});

// ---------------------------------------------------------------- streams
tryOn('stream-basic-get', (ch) => ch.get('sg-s'), streamQueue('sg-s'));
tryOn('stream-consume-without-qos', consumeOk('sc-s'), streamQueue('sc-s'));
tryOn('stream-consume-noack', consumeOk('sn-s', { noAck: true }), streamQueue('sn-s', 10));
tryOn('stream-consume-bad-offset', consumeOk('so-s', { arguments: { 'x-stream-offset': 'sideways' } }), streamQueue('so-s', 10));
tryOn('stream-consume-with-qos-ok', consumeOk('sq-s'), streamQueue('sq-s', 10));

// ---------------------------------------------------------------- tx / confirm
tryOn('tx-commit-without-select', (ch) => ch.rpc(defs.TxCommit, {}, defs.TxCommitOk));
tryOn('tx-rollback-without-select', (ch) => ch.rpc(defs.TxRollback, {}, defs.TxRollbackOk));
sc('confirm-select-on-tx-channel', async (ctx) => {
  const { ch } = await chan(ctx);
  const a = await ctx.attempt(() => ch.rpc(defs.TxSelect, {}, defs.TxSelectOk));
  const b = await ctx.attempt(() => ch.rpc(defs.ConfirmSelect, { nowait: false }, defs.ConfirmSelectOk));
  return { a, b };
});
sc('tx-select-on-confirm-channel', async (ctx) => {
  const { ch } = await conf(ctx);
  return ctx.attempt(() => ch.rpc(defs.TxSelect, {}, defs.TxSelectOk));
});
sc('tx-rollback-requeues-nothing-published', async (ctx) => {
  const { ch } = await chan(ctx);
  await ch.assertQueue('txr-q');
  await ch.rpc(defs.TxSelect, {}, defs.TxSelectOk);
  ch.publish('', 'txr-q', buf());
  const r = await ctx.attempt(() => ch.rpc(defs.TxRollback, {}, defs.TxRollbackOk));
  const c = await ctx.attempt(() => ch.checkQueue('txr-q'));
  return { r, c };
});
sendThenClose('basic-recover-async', (ch) => ch.sendImmediately(defs.BasicRecoverAsync, { requeue: true }), 800);
tryOn('basic-recover-requeue-false', (ch) => ch.rpc(defs.BasicRecover, { requeue: false }, defs.BasicRecoverOk));
tryOn('channel-flow-inactive', (ch) => ch.rpc(defs.ChannelFlow, { active: false }, defs.ChannelFlowOk));

// ---------------------------------------------------------------- channel / connection level
sc('channel-open-twice', async (ctx) => {
  const c = await ctx.connect();
  const ch = await c.createChannel();
  ch.on('error', () => {});
  c.connection.sendMethod(ch.ch, defs.ChannelOpen, { outOfBand: '' });
  await ctx.waitEvent(/close/);
  return 'sent';
});
sc('method-on-unopened-channel', async (ctx) => {
  const raw = await Raw.open(ctx.port);
  if (!raw.opened) return 'open failed';
  raw.sendDeclare(5, 'uo-q');
  await raw.nextClose();
  await raw.waitEnd(500);
  return { closes: raw.report(ctx).closes };
});
rawOpen('vhost-does-not-exist', { vhost: 'nope' });
rawOpen('wrong-password-with-auth-failure-close', { pass: 'wrong' }, (raw) => raw.waitEnd(1500));
rawOpen('wrong-password-without-capability', { pass: 'wrong', capabilities: {} }, (raw) => raw.waitEnd(1500));
sc('unknown-user-amqplib', async (ctx) => {
  try {
    await ctx.connect({ user: 'nobody', pass: 'x' });
    return 'connected';
  } catch (e) {
    ctx.texts.push(`amqplib: ${e.message}`);
    return `ERR ${/ACCESS_REFUSED|403/.test(e.message) ? '403' : e.message.slice(0, 40)}`;
  }
});
sc('unsupported-sasl-mechanism', async (ctx) => {
  const raw = new Raw(ctx.port);
  await raw.connectSocket();
  raw.sendProtocolHeader();
  await raw.next((f) => f.id === defs.ConnectionStart);
  raw.sendMethod(0, defs.ConnectionStartOk, { clientProperties: { capabilities: { authentication_failure_close: true } }, mechanism: 'CRAM-NOPE', response: Buffer.from('x'), locale: 'en_US' });
  await raw.next((f) => f.id === defs.ConnectionClose || f.id === defs.ConnectionTune, 2000);
  await raw.waitEnd(1000);
  return raw.report(ctx);
});
sc('bad-protocol-header', async (ctx) => {
  const raw = new Raw(ctx.port);
  await raw.connectSocket();
  let got = Buffer.alloc(0);
  raw.socket.removeAllListeners('data');
  raw.socket.on('data', (d) => (got = Buffer.concat([got, d])));
  raw.sendProtocolHeader('AMQP\x00\x00\x08\x00');
  await raw.waitEnd(2000);
  raw.close();
  return { reply: got.toString('latin1').replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`), ended: raw.ended };
});

// ---------------------------------------------------------------- tune / framing (raw)
/** After tune-ok: whether the connection works (a channel opens) and stays. */
async function usable(raw) {
  if (raw.opened) {
    raw.sendMethod(1, defs.ChannelOpen, { outOfBand: '' });
    await raw.next((f) => f.id === defs.ChannelOpenOk || f.id === defs.ConnectionClose, 1500);
  }
  await raw.waitEnd(1000);
}
sc('connection-tune-values', async (ctx) => {
  const raw = await Raw.open(ctx.port);
  raw.close();
  return raw.tune ?? 'no tune';
});
sc('connection-start-values', async (ctx) => {
  const raw = await Raw.open(ctx.port);
  raw.close();
  const st = raw.start ?? {};
  return { version: `${st.versionMajor}-${st.versionMinor}`, mechanisms: String(st.mechanisms), locales: String(st.locales), capabilities: normValue(st.serverProperties?.capabilities ?? null) };
});
rawOpen('tune-ok-channel-max-zero', { tuneOk: { channelMax: 0 } }, usable);
rawOpen('tune-ok-frame-max-above-server', { tuneOk: { frameMax: 10 * 1024 * 1024 } }, usable);
rawOpen('tune-ok-frame-max-below-minimum', { tuneOk: { frameMax: 1024 } }, usable);
rawOpen('tune-ok-frame-max-zero', { tuneOk: { frameMax: 0 } }, usable);
rawFraming('body-frame-exceeds-frame-max', (raw) => raw.publish('nowhere', Buffer.alloc(200 * 1024, 1)));
rawFraming('body-size-mismatch-too-much-content', (raw) => raw.publish('nowhere', Buffer.from('abcd'), defs.encodeProperties(defs.BasicProperties, 1, 2, {})));
rawFraming('method-frame-instead-of-content-header', (raw) => {
  raw.sendMethod(1, defs.BasicPublish, { exchange: '', routingKey: 'nowhere', mandatory: false, immediate: false, ticket: 0 });
  raw.sendMethod(1, defs.BasicQos, { prefetchSize: 0, prefetchCount: 1, global: false });
});

// ---------------------------------------------------------------- direct reply-to
tryOn('reply-to-declare', (ch) => ch.assertQueue('amq.rabbitmq.reply-to'));
tryOn('reply-to-passive-declare', (ch) => ch.checkQueue('amq.rabbitmq.reply-to'));
tryOn('reply-to-consume-with-ack', consumeOk('amq.rabbitmq.reply-to', { noAck: false }));
sendThenClose('reply-to-publish-without-consumer', async (ch) => { await ch.assertQueue('rtp-q'); ch.publish('', 'rtp-q', buf(), { replyTo: 'amq.rabbitmq.reply-to' }); });
sc('reply-to-publish-directly-to-pseudo-queue', async (ctx) => {
  const { ch } = await conf(ctx);
  const r = await publishConfirmed(ch, '', 'amq.rabbitmq.reply-to', buf(), { mandatory: true });
  await ctx.waitEvent(/close|return/, 800);
  return r;
});
sc('reply-to-publish-bogus-suffix', async (ctx) => {
  const { ch } = await conf(ctx);
  const r = await publishConfirmed(ch, '', 'amq.rabbitmq.reply-to.garbage', buf(), { mandatory: true });
  await ctx.waitEvent(/close|return/, 800);
  return r;
});
sc('reply-to-consume-twice', async (ctx) => {
  const { ch } = await chan(ctx);
  const a = await ctx.attempt(async () => (await ch.consume('amq.rabbitmq.reply-to', () => {}, { noAck: true })) && 'ok');
  const b = await ctx.attempt(async () => (await ch.consume('amq.rabbitmq.reply-to', () => {}, { noAck: true })) && 'ok');
  return { a, b };
});
