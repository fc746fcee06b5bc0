/**
 * A bare AMQP 0-9-1 server for bench:amqp: just enough of the protocol for
 * amqplib to connect (PLAIN, any credentials), open channels, declare and
 * delete queues, set a prefetch, consume, publish with or without confirms and
 * ack, with no broker behind it: a publish is written to its queue's consumer
 * (messages wait in memory while the queue has none) and confirmed at once,
 * nothing is stored, prefetch is not enforced, acks are read and dropped.
 * Only the default exchange routes.
 *
 * What the same amqplib workload measures through it is the floor any broker
 * has on this machine with this client: the client's own work, the kernel's
 * loopback and scheduling, and one process that frames bytes.
 *
 *   node dist/bench/bare-amqp-server.js     prints its port on 127.0.0.1, then serves until killed
 */
import * as net from 'node:net';
import { FrameDecoder, type FrameType, type FrameVisitor, writeMethodFrame } from '../src/protocols/amqp091/codec/frame-codec.js';
import { decodeMethodAt, type AnyMethodFieldsInput } from '../src/protocols/amqp091/codec/method-codec.js';
import { FRAME_BODY, FRAME_END, FRAME_HEADER, FRAME_METHOD, methodSpecByName, type MethodSpec } from '../src/protocols/amqp091/codec/spec.js';
import { WireWriter } from '../src/protocols/amqp091/codec/wire-writer.js';

const FRAME_MAX = 131_072;

/** A queue's consumer: the connection and channel its deliveries go to. */
interface Consumer {
  readonly connection: Connection;
  readonly channel: number;
  readonly tag: string;
}

/** A message as published: routing key, the content header's payload (sent on unchanged) and body. */
interface Message {
  readonly routingKey: string;
  readonly header: Uint8Array;
  readonly body: Uint8Array;
}

const consumers = new Map<string, Consumer>();
const waiting = new Map<string, Message[]>();
/** Connections written to while another one's chunk was handled. */
const dirty = new Set<Connection>();

function spec(name: string): MethodSpec {
  const found = methodSpecByName(name as Parameters<typeof methodSpecByName>[0]);
  if (found === undefined) throw new Error(`no method ${name}`);
  return found;
}

const BASIC_DELIVER = spec('basic.deliver');

/** One client connection; its frames are answered in one socket write per chunk read. */
class Connection implements FrameVisitor {
  private readonly decoder = new FrameDecoder({ expectProtocolHeader: true, frameMax: FRAME_MAX });
  private readonly out = new WireWriter();
  /** Per channel: the publish being assembled, and the confirm sequence (0: not in confirm mode). */
  private readonly publishing = new Map<number, { routingKey: string; header: Uint8Array | null; bodySize: number; parts: Uint8Array[]; received: number }>();
  private readonly confirmSequence = new Map<number, number>();
  private deliveryTag = 0;
  private tags = 0;

  constructor(private readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      let started = this.decoder.protocolHeaderReceived;
      this.decoder.pushEach(chunk, this);
      if (!started && this.decoder.protocolHeaderReceived) {
        started = true;
        this.method(0, 'connection.start', {
          versionMajor: 0,
          versionMinor: 9,
          serverProperties: { product: 'bare', version: '0', capabilities: { publisher_confirms: true, 'basic.nack': true, consumer_cancel_notify: true } },
          mechanisms: 'PLAIN AMQPLAIN',
          locales: 'en_US',
        });
      }
      this.flush();
      // Deliveries this chunk made to other connections: one write each, as for this one.
      for (const connection of dirty) connection.flush();
      dirty.clear();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      for (const [queue, consumer] of consumers) if (consumer.connection === this) consumers.delete(queue);
    });
  }

  frame(type: FrameType, channel: number, bytes: Uint8Array, start: number, end: number): void {
    if (type === FRAME_METHOD) this.onMethod(channel, bytes, start, end);
    else if (type === FRAME_HEADER) this.onHeader(channel, bytes.slice(start, end));
    else if (type === FRAME_BODY) this.onBody(channel, bytes.slice(start, end));
  }

  /** Writes what the frames of the last chunk produced, as one write. */
  flush(): void {
    if (this.out.length === 0) return;
    this.socket.write(this.out.finish());
    this.out.reset();
  }

  deliver(channel: number, tag: string, message: Message): void {
    // The method frame by the codec, then the content header exactly as published and the body in one frame.
    writeMethodFrame(this.out, channel, BASIC_DELIVER, { consumerTag: tag, deliveryTag: ++this.deliveryTag, redelivered: false, exchange: '', routingKey: message.routingKey });
    this.rawFrame(FRAME_HEADER, channel, message.header);
    if (message.body.byteLength > 0) this.rawFrame(FRAME_BODY, channel, message.body);
  }

  private rawFrame(type: number, channel: number, payload: Uint8Array): void {
    this.out.u8(type);
    this.out.u16(channel);
    this.out.u32(payload.byteLength);
    this.out.raw(payload);
    this.out.u8(FRAME_END);
  }

  private method(channel: number, name: string, fields: AnyMethodFieldsInput = {}): void {
    writeMethodFrame(this.out, channel, spec(name), fields);
  }

  private onMethod(channel: number, bytes: Uint8Array, start: number, end: number): void {
    const method = decodeMethodAt(bytes, start, end);
    const fields = method.fields as Record<string, unknown>;
    switch (method.name) {
      case 'connection.start-ok':
        this.method(0, 'connection.tune', { channelMax: 2047, frameMax: FRAME_MAX, heartbeat: 0 });
        break;
      case 'connection.tune-ok':
        break;
      case 'connection.open':
        this.method(0, 'connection.open-ok');
        break;
      case 'connection.close':
        this.method(0, 'connection.close-ok');
        this.flush();
        this.socket.end();
        break;
      case 'channel.open':
        this.method(channel, 'channel.open-ok');
        break;
      case 'channel.close':
        this.confirmSequence.delete(channel);
        for (const [queue, consumer] of consumers) if (consumer.connection === this && consumer.channel === channel) consumers.delete(queue);
        this.method(channel, 'channel.close-ok');
        break;
      case 'confirm.select':
        this.confirmSequence.set(channel, 0);
        if (fields['nowait'] !== true) this.method(channel, 'confirm.select-ok');
        break;
      case 'basic.qos':
        this.method(channel, 'basic.qos-ok');
        break;
      case 'queue.declare':
        this.method(channel, 'queue.declare-ok', { queue: fields['queue'] as string, messageCount: 0, consumerCount: 0 });
        break;
      case 'queue.delete':
        waiting.delete(fields['queue'] as string);
        this.method(channel, 'queue.delete-ok', { messageCount: 0 });
        break;
      case 'basic.consume': {
        const queue = fields['queue'] as string;
        const tag = (fields['consumerTag'] as string) || `bare-${++this.tags}`;
        consumers.set(queue, { connection: this, channel, tag });
        this.method(channel, 'basic.consume-ok', { consumerTag: tag });
        for (const message of waiting.get(queue) ?? []) this.deliver(channel, tag, message);
        waiting.delete(queue);
        break;
      }
      case 'basic.publish':
        this.publishing.set(channel, { routingKey: fields['routingKey'] as string, header: null, bodySize: 0, parts: [], received: 0 });
        break;
      default:
        // basic.ack and the rest: read and dropped.
        break;
    }
  }

  private onHeader(channel: number, payload: Uint8Array): void {
    const publish = this.publishing.get(channel);
    if (publish === undefined) return;
    publish.header = payload;
    // Body size: the long long after class id (2) and weight (2).
    publish.bodySize = Number(new DataView(payload.buffer, payload.byteOffset).getBigUint64(4));
    if (publish.bodySize === 0) this.published(channel);
  }

  private onBody(channel: number, payload: Uint8Array): void {
    const publish = this.publishing.get(channel);
    if (publish === undefined) return;
    publish.parts.push(payload);
    publish.received += payload.byteLength;
    if (publish.received >= publish.bodySize) this.published(channel);
  }

  private published(channel: number): void {
    const publish = this.publishing.get(channel)!;
    this.publishing.delete(channel);
    const body = publish.parts.length === 1 ? publish.parts[0]! : Buffer.concat(publish.parts);
    const message: Message = { routingKey: publish.routingKey, header: publish.header!, body };
    const consumer = consumers.get(publish.routingKey);
    if (consumer !== undefined) {
      consumer.connection.deliver(consumer.channel, consumer.tag, message);
      dirty.add(consumer.connection);
    } else {
      const queue = waiting.get(publish.routingKey) ?? [];
      queue.push(message);
      waiting.set(publish.routingKey, queue);
    }
    const sequence = this.confirmSequence.get(channel);
    if (sequence !== undefined) {
      this.confirmSequence.set(channel, sequence + 1);
      this.method(channel, 'basic.ack', { deliveryTag: sequence + 1, multiple: false });
    }
  }
}

const server = net.createServer((socket) => new Connection(socket));
server.listen(0, '127.0.0.1', () => {
  const address = server.address() as net.AddressInfo;
  process.stdout.write(`${address.port}\n`);
});
