import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import {
  decodeFrame,
  encodeErrorResponse,
  encodeFrame,
  encodeResponse,
  FRAME_NAMES,
  FrameDecoder,
  PREAMBLE,
  registerInProcessEndpoint,
  type ByteChannel,
  type FrameName,
  type RawFrame,
} from '../protocols/native/codec/index.js';
import { encodeEnvelope } from '../core/message/message-codec.js';
import { resolveConnectOptions } from './connect-options.js';
import { connect } from './connect.js';
import { FerryClientError } from './ferry-client-error.js';

// ── URLs and options ───────────────────────────────────────────────────

test('URLs give transport, credentials and vhost; defaults are guest, port 7420 and "/"', () => {
  const tcp = resolveConnectOptions('ferry://app%40corp:p%3Ass@[::1]:7421/orders%2Feu');
  assert.deepEqual(tcp.target, { kind: 'tcp', host: '::1', port: 7421 });
  assert.equal(tcp.user, 'app@corp');
  assert.equal(tcp.password, 'p:ss');
  assert.equal(tcp.vhost, 'orders/eu');
  const plain = resolveConnectOptions('ferry://127.0.0.1');
  assert.deepEqual([plain.target, plain.user, plain.password, plain.vhost], [{ kind: 'tcp', host: '127.0.0.1', port: 7420 }, 'guest', 'guest', '/']);
  assert.equal(resolveConnectOptions('ferry://127.0.0.1/%2F').vhost, '/');
  const memory = resolveConnectOptions('ferry+mem://MyBroker/tenant');
  assert.deepEqual([memory.target, memory.vhost], [{ kind: 'in-process', name: 'MyBroker' }, 'tenant']);
  const options = resolveConnectOptions({ url: 'ferry://h:1', user: 'override', reconnect: false });
  assert.equal(options.user, 'override');
  assert.equal(options.reconnect, null);
});

test('malformed URLs and options are INVALID_ARGUMENT', () => {
  for (const bad of ['not a url', 'amqp://127.0.0.1', 'ferry+mem:///vhost', 'ferry://h:0']) {
    assert.throws(() => resolveConnectOptions(bad), (error: unknown) => error instanceof FerryClientError && error.code === 'INVALID_ARGUMENT', bad);
  }
  assert.throws(() => resolveConnectOptions({ inProcessName: 'x', reconnect: { delayMsMax: -1 } }), /reconnect\.delayMsMax/);
});

test('connecting to an in-process name nobody serves is CONNECTION_FAILED', async () => {
  await assert.rejects(connect('ferry+mem://nobody-here'), (error: unknown) => error instanceof FerryClientError && error.code === 'CONNECTION_FAILED');
});

// ── a scripted peer ────────────────────────────────────────────────────

interface PeerBehaviour {
  /** Heartbeat interval announced in the hello answer (default 0). */
  readonly heartbeatMs?: number;
  /** Stop answering (and stop sending anything) once the login and the first channel are done. */
  readonly silentAfterLogin?: boolean;
  /** Hand bytes to the client one at a time (frames split at every point). */
  readonly byteByByte?: boolean;
  /** Refuse the login with this code. */
  readonly refuseLogin?: string;
  /** Once a `subscribe` is answered, deliver one request asking for a reply (to `reply-queue`, correlation `c-1`). */
  readonly deliverRequest?: boolean;
  /** Hold the answers to `append` until {@link ScriptedPeer.answerAppend} (each frame's message count is in `appendCounts`). */
  readonly holdAppends?: boolean;
}

/** A native-protocol peer at `ferry+mem://name` that logs in anyone and answers a few requests, recording the frames it receives. */
class ScriptedPeer {
  readonly received: FrameName[] = [];
  /** The frames of each chunk received after the preamble: one chunk per write of the client. */
  readonly chunks: FrameName[][] = [];
  readonly channels: ByteChannel[] = [];
  /** Messages per `append` frame received, in order. */
  readonly appendCounts: number[] = [];
  private readonly heldAppends: Array<() => void> = [];
  private appendedOffset = 0;
  private readonly unregister: () => void;

  constructor(
    readonly name: string,
    private readonly behaviour: PeerBehaviour = {},
  ) {
    this.unregister = registerInProcessEndpoint(name, (channel) => this.accept(channel));
  }

  /** Stops accepting new connections (existing ones stay). */
  stop(): void {
    this.unregister();
  }

  /** Answers the oldest held `append` (stored at the next offsets); false when none is held. */
  answerAppend(): boolean {
    const answer = this.heldAppends.shift();
    answer?.();
    return answer !== undefined;
  }

  /** Writes raw bytes to every connection. */
  writeAll(bytes: Uint8Array): void {
    for (const channel of this.channels) channel.write(bytes);
  }

  private accept(channel: ByteChannel): void {
    this.channels.push(channel);
    const decoder = new FrameDecoder(1 << 20);
    let preamble = 0;
    let loggedIn = false;
    const write = (bytes: Uint8Array): void => {
      if (this.behaviour.byteByByte !== true) {
        channel.write(bytes);
        return;
      }
      for (let at = 0; at < bytes.byteLength; at++) channel.write(bytes.subarray(at, at + 1));
    };
    channel.onData((chunk) => {
      let bytes = chunk;
      if (preamble < PREAMBLE.byteLength) {
        const take = Math.min(PREAMBLE.byteLength - preamble, bytes.byteLength);
        preamble += take;
        bytes = bytes.subarray(take);
      }
      const chunkFrames: FrameName[] = [];
      for (const frame of decoder.push(bytes)) {
        const name = FRAME_NAMES.get(frame.type)!;
        this.received.push(name);
        chunkFrames.push(name);
        if (loggedIn && this.behaviour.silentAfterLogin === true) continue;
        if (name === 'append' && this.behaviour.holdAppends === true) {
          this.holdAppend(frame, write);
          continue;
        }
        const answer = this.answer(name, frame);
        if (name === 'channelOpen') loggedIn = true;
        if (answer !== null) write(answer);
        if (name === 'subscribe' && this.behaviour.deliverRequest === true) write(requestDelivery(frame.channel));
      }
      if (chunkFrames.length > 0) this.chunks.push(chunkFrames);
    });
  }

  private holdAppend(frame: RawFrame, write: (bytes: Uint8Array) => void): void {
    const { messages } = decodeFrame('append', frame.payload);
    this.appendCounts.push(messages.length);
    this.heldAppends.push(() => {
      const baseOffset = this.appendedOffset;
      this.appendedOffset += messages.length;
      write(encodeResponse('append', frame.channel, frame.correlation, { results: [{ partition: 0, baseOffset, lastOffset: this.appendedOffset - 1, duplicate: false }] }));
    });
  }

  private answer(name: FrameName, frame: RawFrame): Uint8Array | null {
    const { channel, correlation } = frame;
    switch (name) {
      case 'hello':
        return encodeResponse('hello', 0, correlation, {
          version: 1,
          server: 'scripted',
          features: [],
          frameBytesMax: 1 << 20,
          heartbeatMs: this.behaviour.heartbeatMs ?? 0,
          mechanisms: ['PLAIN'],
        });
      case 'authenticate':
        if (this.behaviour.refuseLogin !== undefined) return encodeErrorResponse(frame.type, 0, correlation, this.behaviour.refuseLogin, 'refused');
        return encodeResponse('authenticate', 0, correlation, { user: 'scripted-user' });
      case 'channelOpen':
        return encodeResponse('channelOpen', channel, correlation, {});
      case 'queueDeclare': {
        const { name: queue } = decodeFrame('queueDeclare', frame.payload);
        return encodeResponse('queueDeclare', channel, correlation, { name: queue === '' ? 'server-named' : queue, messageCount: 7, consumerCount: 0 });
      }
      case 'subscribe':
        return encodeResponse('subscribe', channel, correlation, { consumerId: 1 });
      case 'publish':
        return correlation === 0 ? null : encodeResponse('publish', channel, correlation, { statuses: [0] });
      case 'ack':
        return correlation === 0 ? null : encodeResponse('ack', channel, correlation, {});
      case 'heartbeat':
        return null;
      default:
        return correlation === 0 ? null : encodeErrorResponse(frame.type, channel, correlation, 'NOT_SCRIPTED', `${name} is not scripted`);
    }
  }
}

/** A `deliver` to consumer 1 on `channel`: one transient request for a reply to `reply-queue`, correlation `c-1`. */
function requestDelivery(channel: number): Uint8Array {
  const envelope = encodeEnvelope({ exchange: '', properties: { replyTo: 'reply-queue', correlationId: 'c-1' }, headers: {}, persistent: false });
  const message = { routingKey: new TextEncoder().encode('requests'), envelope, body: new TextEncoder().encode('ping') };
  return encodeFrame('deliver', channel, 0, { consumerId: 1, deliveries: [{ deliveryTag: 1, redelivered: false, deliveryCount: 1, timestampMs: 0, message }] });
}

let peerSequence = 0;
const peerName = (): string => `scripted-${process.pid}-${++peerSequence}`;

test('answers split at every byte are reassembled', async () => {
  const peer = new ScriptedPeer(peerName(), { byteByByte: true });
  try {
    const client = await connect({ inProcessName: peer.name });
    assert.equal(client.user, 'scripted-user');
    assert.deepEqual(await client.declareQueue('q'), { name: 'q', messageCount: 7, consumerCount: 0 });
    await client.close();
  } finally {
    peer.stop();
  }
});

test('a responder acks each request in the same write as its reply', async () => {
  const peer = new ScriptedPeer(peerName(), { deliverRequest: true });
  try {
    const client = await connect({ inProcessName: peer.name });
    await client.respond('requests', (request) => request.body);
    for (let turn = 0; turn < 50 && !peer.received.includes('ack'); turn++) await delay(1);
    assert.deepEqual(
      peer.chunks.find((names) => names.includes('ack')),
      ['publish', 'ack'],
      'the reply, then the ack of its request, in one write',
    );
    await client.close();
  } finally {
    peer.stop();
  }
});

test('server codes of a refused login pass through', async () => {
  const peer = new ScriptedPeer(peerName(), { refuseLogin: 'NATIVE_AUTHENTICATION_FAILED' });
  try {
    await assert.rejects(connect({ inProcessName: peer.name }), (error: unknown) => error instanceof FerryClientError && error.code === 'NATIVE_AUTHENTICATION_FAILED');
  } finally {
    peer.stop();
  }
});

test('an idle client sends heartbeats at the interval the server chose', async () => {
  const peer = new ScriptedPeer(peerName(), { heartbeatMs: 40 });
  try {
    const client = await connect({ inProcessName: peer.name });
    await delay(200);
    const heartbeats = peer.received.filter((name) => name === 'heartbeat').length;
    assert.ok(heartbeats >= 3, `${heartbeats} heartbeats in 200 ms at a 40 ms interval`);
    assert.equal(client.isOpen, true);
    await client.close();
  } finally {
    peer.stop();
  }
});

test('a silent server is dropped after two heartbeat intervals (NATIVE_HEARTBEAT_TIMEOUT)', async () => {
  const peer = new ScriptedPeer(peerName(), { heartbeatMs: 40, silentAfterLogin: true });
  try {
    const client = await connect({ inProcessName: peer.name, reconnect: false });
    // The heartbeat timer does not hold the process open, and an in-process channel is no handle: keep the test alive.
    const keepAlive = setInterval(() => undefined, 1_000);
    const closed = await new Promise<FerryClientError | null>((resolve) => client.once('close', resolve)).finally(() => clearInterval(keepAlive));
    assert.equal(closed?.code, 'CONNECTION_CLOSED');
    assert.equal((closed?.cause as FerryClientError | undefined)?.code, 'NATIVE_HEARTBEAT_TIMEOUT');
    await delay(10);
    assert.ok(peer.received.includes('close'), 'the client said why in a close frame');
  } finally {
    peer.stop();
  }
});

test('a frame of an unknown type from the server closes the connection with NATIVE_UNKNOWN_FRAME_TYPE', async () => {
  const peer = new ScriptedPeer(peerName());
  try {
    const client = await connect({ inProcessName: peer.name, reconnect: false });
    const closed = new Promise<FerryClientError | null>((resolve) => client.once('close', resolve));
    const frame = encodeFrame('heartbeat', 0, 0, {});
    frame[4] = 0xee;
    peer.writeAll(frame);
    const error = await closed;
    assert.equal((error?.cause as FerryClientError | undefined)?.code, 'NATIVE_UNKNOWN_FRAME_TYPE');
    await delay(10);
    assert.ok(peer.received.includes('close'), 'the client said why in a close frame');
  } finally {
    peer.stop();
  }
});

test('reconnecting gives up after attemptsMax and closes the client; waiting calls fail with CONNECTION_CLOSED', async () => {
  const peer = new ScriptedPeer(peerName());
  const client = await connect({ inProcessName: peer.name, reconnect: { attemptsMax: 3, delayMsInitial: 5, delayMsMax: 10 } });
  const reconnecting: string[] = [];
  client.on('reconnecting', (error) => reconnecting.push(error.code));
  const closed = new Promise<FerryClientError | null>((resolve) => client.once('close', resolve));
  peer.stop();
  for (const channel of peer.channels) channel.destroy();
  const waiting = client.declareQueue('later');
  const error = await closed;
  assert.equal(reconnecting.length, 1);
  assert.equal(error?.code, 'CONNECTION_CLOSED');
  assert.match(error!.message, /gave up reconnecting after 3 attempts/);
  await assert.rejects(waiting, (failure: unknown) => failure instanceof FerryClientError && failure.code === 'CONNECTION_CLOSED');
});

test('a batch whose partition is at its in-flight limit keeps filling until a confirm makes room, then leaves whole', async () => {
  const peer = new ScriptedPeer(peerName(), { holdAppends: true });
  const client = await connect({ inProcessName: peer.name });
  try {
    const publisher = client.publisher({ stream: 'events', partition: 0, batchSize: 10 });
    const body = new Uint8Array(8);
    // Five full batches fill the idempotent window of the partition.
    for (let index = 0; index < 50; index++) publisher.write(body);
    await delay(5);
    // Written in three turns while nothing can leave: one open batch, up to batchSize.
    for (const count of [3, 4, 5]) {
      for (let index = 0; index < count; index++) publisher.write(body);
      await delay(5);
    }
    assert.deepEqual(peer.appendCounts, [10, 10, 10, 10, 10]);
    const flushed = publisher.flush();
    assert.ok(peer.answerAppend());
    await delay(5);
    // The turns' 12 messages: one full batch of 10 left at once, the other 2 wait in the next one.
    assert.deepEqual(peer.appendCounts, [10, 10, 10, 10, 10, 10]);
    while (peer.answerAppend()) await delay(5);
    await flushed;
    assert.deepEqual(peer.appendCounts, [10, 10, 10, 10, 10, 10, 2]);
  } finally {
    await client.close();
    peer.stop();
  }
});
