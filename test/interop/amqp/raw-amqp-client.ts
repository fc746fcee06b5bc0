/**
 * A deliberately dumb AMQP 0-9-1 client over node:net for tests that must
 * send what no real client sends: methods on unopened channels, body frames
 * without a header, bad frame-end octets, oversized frames. It encodes frames
 * by hand (independently of Ferry's codec, so a codec bug cannot hide itself)
 * and reads the server's frames back.
 *
 *   frame: type u8 | channel u16 | size u32 | payload | 0xCE   (§4.2.3)
 */
import { connect, type Socket } from 'node:net';

/** One frame received from the server. */
export interface RawFrame {
  readonly type: number;
  readonly channel: number;
  readonly payload: Buffer;
}

/** What {@link RawAmqpClient.handshake} sends. */
export interface RawHandshake {
  readonly user?: string;
  readonly password?: string;
  readonly vhost?: string;
  /** Default 131072. */
  readonly frameMax?: number;
  /** Default: what the server offers. */
  readonly channelMax?: number;
  /** Default 0 (no heartbeats). */
  readonly heartbeatSeconds?: number;
  /** Default true: announce RabbitMQ's authentication_failure_close capability. */
  readonly authenticationFailureClose?: boolean;
}

/** connection.close or channel.close as received. */
export interface RawClose {
  readonly channel: number;
  readonly replyCode: number;
  readonly replyText: string;
  readonly classId: number;
  readonly methodId: number;
}

export const PROTOCOL_HEADER = Buffer.from('AMQP\x00\x00\x09\x01', 'latin1');
export const FRAME_END = 0xce;

/** A raw TCP client speaking hand-made AMQP frames. */
export class RawAmqpClient {
  private buffer = Buffer.alloc(0);
  private readonly frames: RawFrame[] = [];
  private closed = false;
  private wake: (() => void) | null = null;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.parse();
      this.notify();
    });
    socket.on('close', () => {
      this.closed = true;
      this.notify();
    });
    socket.on('error', () => undefined);
  }

  /** Opens a TCP connection to 127.0.0.1:port. */
  static open(port: number): Promise<RawAmqpClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port }, () => {
        socket.off('error', reject);
        resolve(new RawAmqpClient(socket));
      });
      socket.once('error', reject);
    });
  }

  /** Opens a connection and runs the handshake as guest on "/" with this frame-max. */
  static async openConnection(port: number, frameMax = 131_072): Promise<RawAmqpClient> {
    const client = await RawAmqpClient.open(port);
    const refused = await client.handshake({ frameMax });
    if (refused) throw new Error(`connection refused: ${refused.replyCode} ${refused.replyText}`);
    return client;
  }

  /** Every byte received and not yet parsed into frames (e.g. a protocol header reply). */
  get unparsed(): Buffer {
    return this.buffer;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  write(bytes: Uint8Array): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Stops reading the socket, like a consumer too slow to keep up: the server's writes back up. */
  pauseReading(): void {
    this.socket.pause();
  }

  /**
   * Protocol header, start-ok (PLAIN), tune-ok, open; resolves with null at
   * open-ok, or with the connection.close the server answered instead.
   */
  async handshake(options: RawHandshake = {}): Promise<RawClose | null> {
    this.write(PROTOCOL_HEADER);
    await this.expectMethod(0, 10, 10); // connection.start
    const response = Buffer.from(`\0${options.user ?? 'guest'}\0${options.password ?? 'guest'}`, 'utf8');
    const capabilities: Record<string, boolean> = options.authenticationFailureClose === false ? {} : { authentication_failure_close: true };
    this.write(RawAmqpClient.method(0, 10, 11, [booleanTable({ capabilities }), shortstr('PLAIN'), longstr(response), shortstr('en_US')]));
    const tune = await this.nextMethodOrClose(0, 10, 30);
    if ('replyCode' in tune) return tune;
    const channelMax = options.channelMax ?? tune.payload.readUInt16BE(4);
    this.write(RawAmqpClient.method(0, 10, 31, [short(channelMax), long(options.frameMax ?? 131_072), short(options.heartbeatSeconds ?? 0)]));
    this.write(RawAmqpClient.method(0, 10, 40, [shortstr(options.vhost ?? '/'), shortstr(''), octet(0)]));
    const openOk = await this.nextMethodOrClose(0, 10, 41);
    return 'replyCode' in openOk ? openOk : null;
  }

  private async nextMethodOrClose(channel: number, classId: number, methodId: number): Promise<RawFrame | RawClose> {
    const frame = await this.nextFrame();
    if (!frame) throw new Error(`socket closed while waiting for method ${classId}/${methodId}`);
    if (frame.type === 1 && frame.payload.readUInt16BE(0) === 10 && frame.payload.readUInt16BE(2) === 50) {
      this.write(RawAmqpClient.method(0, 10, 51, []));
      return decodeClose(frame.channel, frame.payload);
    }
    this.frames.unshift(frame);
    return this.expectMethod(channel, classId, methodId);
  }

  /** Sends channel.open and waits for channel.open-ok. */
  async openChannel(channel: number): Promise<void> {
    this.write(RawAmqpClient.method(channel, 20, 10, [shortstr('')]));
    await this.expectMethod(channel, 20, 11);
  }

  /** The next frame, skipping heartbeats; null once the socket closed with nothing left. */
  async nextFrame(timeoutMs = 5_000): Promise<RawFrame | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const frame = this.frames.shift();
      if (frame) {
        if (frame.type === 8) continue;
        return frame;
      }
      if (this.closed) return null;
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`no frame within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** Waits for a method frame with these ids on this channel (fails on anything else). */
  async expectMethod(channel: number, classId: number, methodId: number, timeoutMs = 5_000): Promise<RawFrame> {
    const frame = await this.nextFrame(timeoutMs);
    if (!frame) throw new Error(`socket closed while waiting for method ${classId}/${methodId}`);
    const got = frame.type === 1 ? `${frame.payload.readUInt16BE(0)}/${frame.payload.readUInt16BE(2)}` : `frame type ${frame.type}`;
    if (frame.type !== 1 || frame.channel !== channel || got !== `${classId}/${methodId}`) {
      throw new Error(`expected method ${classId}/${methodId} on channel ${channel}, got ${got} on channel ${frame.channel}`);
    }
    return frame;
  }

  /**
   * Waits for connection.close (channel 0) or channel.close, skipping other
   * frames; answers connection.close with close-ok like a polite client.
   */
  async nextClose(timeoutMs = 5_000): Promise<RawClose | null> {
    for (;;) {
      const frame = await this.nextFrame(timeoutMs);
      if (!frame) return null;
      if (frame.type !== 1) continue;
      const classId = frame.payload.readUInt16BE(0);
      const methodId = frame.payload.readUInt16BE(2);
      const isClose = (classId === 10 && methodId === 50) || (classId === 20 && methodId === 40);
      if (!isClose) continue;
      const close = decodeClose(frame.channel, frame.payload);
      if (classId === 10) this.write(RawAmqpClient.method(0, 10, 51, []));
      return close;
    }
  }

  /** Resolves once the server closed the socket; rejects after `timeoutMs`. */
  async waitForSocketClose(timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error(`socket still open after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  private parse(): void {
    for (;;) {
      if (this.buffer.byteLength < 7) return;
      if (this.buffer.subarray(0, 4).toString('latin1') === 'AMQP') return; // A protocol header reply, left in `unparsed`.
      const size = this.buffer.readUInt32BE(3);
      if (this.buffer.byteLength < size + 8) return;
      this.frames.push({ type: this.buffer[0]!, channel: this.buffer.readUInt16BE(1), payload: Buffer.from(this.buffer.subarray(7, 7 + size)) });
      this.buffer = this.buffer.subarray(size + 8);
    }
  }

  // ------------------------------------------------------------ encoding

  /** A whole frame with this type, channel and payload (and the given end octet). */
  static frame(type: number, channel: number, payload: Uint8Array, end = FRAME_END): Buffer {
    const out = Buffer.alloc(payload.byteLength + 8);
    out[0] = type;
    out.writeUInt16BE(channel, 1);
    out.writeUInt32BE(payload.byteLength, 3);
    out.set(payload, 7);
    out[out.byteLength - 1] = end;
    return out;
  }

  /** A method frame: class-id, method-id, then the encoded arguments. */
  static method(channel: number, classId: number, methodId: number, args: readonly Uint8Array[]): Buffer {
    return RawAmqpClient.frame(1, channel, Buffer.concat([short(classId), short(methodId), ...args]));
  }

  /** basic.publish (60/40) to `exchange` with `routingKey`; bits: mandatory, immediate. */
  static publish(channel: number, exchange: string, routingKey: string, options: { mandatory?: boolean; immediate?: boolean } = {}): Buffer {
    const bits = (options.mandatory ? 1 : 0) | (options.immediate ? 2 : 0);
    return RawAmqpClient.method(channel, 60, 40, [short(0), shortstr(exchange), shortstr(routingKey), octet(bits)]);
  }

  /** A content header for class 60 with this body size and no properties. */
  static contentHeader(channel: number, bodySize: number): Buffer {
    const payload = Buffer.alloc(14);
    payload.writeUInt16BE(60, 0);
    payload.writeUInt16BE(0, 2);
    payload.writeBigUInt64BE(BigInt(bodySize), 4);
    payload.writeUInt16BE(0, 12);
    return RawAmqpClient.frame(2, channel, payload);
  }

  /** A content body frame. */
  static body(channel: number, bytes: Uint8Array): Buffer {
    return RawAmqpClient.frame(3, channel, bytes);
  }

  /** A heartbeat frame. */
  static heartbeat(): Buffer {
    return RawAmqpClient.frame(8, 0, new Uint8Array(0));
  }
}

function decodeClose(channel: number, payload: Buffer): RawClose {
  const replyCode = payload.readUInt16BE(4);
  const textLength = payload[6]!;
  const replyText = payload.subarray(7, 7 + textLength).toString('utf8');
  const at = 7 + textLength;
  return { channel, replyCode, replyText, classId: payload.readUInt16BE(at), methodId: payload.readUInt16BE(at + 2) };
}

export function octet(value: number): Buffer {
  return Buffer.from([value]);
}

export function short(value: number): Buffer {
  const out = Buffer.alloc(2);
  out.writeUInt16BE(value);
  return out;
}

export function long(value: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value);
  return out;
}

export function shortstr(value: string): Buffer {
  const bytes = Buffer.from(value, 'utf8');
  return Buffer.concat([octet(bytes.byteLength), bytes]);
}

export function longstr(value: Uint8Array): Buffer {
  return Buffer.concat([long(value.byteLength), value]);
}

/** A field table of longstr values only (enough for these tests). */
export function table(entries: Record<string, string>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of Object.entries(entries)) parts.push(shortstr(name), Buffer.from('S'), longstr(Buffer.from(value, 'utf8')));
  const body = Buffer.concat(parts);
  return Buffer.concat([long(body.byteLength), body]);
}

/** A field table of booleans and nested tables of booleans (client properties' capabilities). */
function booleanTable(entries: Record<string, boolean | Record<string, boolean>>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of Object.entries(entries)) {
    if (typeof value === 'boolean') parts.push(shortstr(name), Buffer.from('t'), octet(value ? 1 : 0));
    else parts.push(shortstr(name), Buffer.from('F'), booleanTable(value));
  }
  const body = Buffer.concat(parts);
  return Buffer.concat([long(body.byteLength), body]);
}
