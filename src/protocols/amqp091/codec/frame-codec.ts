import { FerryError } from '../../../lib/ferry-error.js';
import { AmqpProtocolError, PROTOCOL_HEADER_MISMATCH } from './amqp-protocol-error.js';
import {
  type AnyMethodFieldsInput,
  type BasicPropertiesInput,
  type MethodFieldsInput,
  writeContentHeader,
  writeMethod,
} from './method-codec.js';
import {
  FRAME_BODY,
  FRAME_END,
  FRAME_HEADER,
  FRAME_HEADER_SIZE,
  FRAME_HEARTBEAT,
  FRAME_METHOD,
  FRAME_MIN_SIZE,
  FRAME_OVERHEAD,
  type MethodName,
  type MethodSpec,
  PROTOCOL_HEADER,
  methodSpecById,
  methodSpecByName,
} from './spec.js';
import { WireWriter, sharedWriter } from './wire-writer.js';

/*
 * A frame (AMQP 0-9-1 §4.2.3):
 *
 *   0      1         3             7                  size+7     size+8
 *   +------+---------+-------------+  +-------------+  +-----------+
 *   | type | channel |    size     |  |   payload   |  | frame-end |
 *   +------+---------+-------------+  +-------------+  +-----------+
 *    octet   short       long          size octets       0xCE
 *
 * Types: 1 method, 2 content header, 3 content body, 8 heartbeat (channel 0,
 * empty payload). frame-max bounds the whole frame, header and frame-end
 * included, so a payload holds at most frame-max - 8 bytes. Before the client
 * opens with frames it sends the 8-byte protocol header "AMQP" 0 0 9 1.
 */

/** A frame type octet. */
export type FrameType = typeof FRAME_METHOD | typeof FRAME_HEADER | typeof FRAME_BODY | typeof FRAME_HEARTBEAT;

/**
 * One decoded frame; the payload is not decoded yet (use `decodeMethod` /
 * `decodeContentHeader`). A payload may be a view into a chunk given to
 * `FrameDecoder.push`: copy it before keeping it beyond the chunk's life.
 */
export interface AmqpFrame {
  readonly type: FrameType;
  readonly channel: number;
  readonly payload: Uint8Array;
}

/**
 * Receives the frames `FrameDecoder.pushEach` completes, in order: the payload
 * is `bytes[start, end)`, a range of the chunk pushed (or of a buffer the
 * decoder gathered a split frame in). Nothing is allocated per frame; make a
 * view or a copy of the range to keep it beyond the call.
 */
export interface FrameVisitor {
  frame(type: FrameType, channel: number, bytes: Uint8Array, start: number, end: number): void;
}

/** Gathers frames as AmqpFrame objects, for `push`. */
class FrameCollector implements FrameVisitor {
  frames: AmqpFrame[] = [];

  frame(type: FrameType, channel: number, bytes: Uint8Array, start: number, end: number): void {
    this.frames.push({ type, channel, payload: bytes.subarray(start, end) });
  }
}

/** Whether 8 received bytes open an AMQP 0-9-1 connection. */
export type ProtocolHeaderCheck = 'accepted' | 'incomplete' | 'rejected';

/** The largest frame-max the decoder accepts: the size field is a long. */
export const FRAME_MAX_LIMIT = 0xffff_ffff;

const EMPTY_PAYLOAD = new Uint8Array(0);
const HEARTBEAT_FRAME = new Uint8Array([FRAME_HEARTBEAT, 0, 0, 0, 0, 0, 0, FRAME_END]);

function checkFrameMax(frameMax: number): void {
  if (!Number.isInteger(frameMax) || frameMax < FRAME_MIN_SIZE || frameMax > FRAME_MAX_LIMIT) {
    throw new FerryError('INVALID_ARGUMENT', `frame-max must be an integer from ${FRAME_MIN_SIZE} to ${FRAME_MAX_LIMIT}, got ${frameMax}`);
  }
}

// ---------------------------------------------------------------- protocol header

/**
 * Checks the first bytes a client sent against the AMQP 0-9-1 protocol header:
 * `incomplete` while they are a proper prefix of it, `accepted` once 8 match,
 * `rejected` as soon as one differs. A rejected client gets
 * `protocolHeaderReply()` and the socket is closed (§4.2.2).
 */
export function checkProtocolHeader(bytes: Uint8Array): ProtocolHeaderCheck {
  const count = Math.min(bytes.byteLength, PROTOCOL_HEADER.byteLength);
  for (let index = 0; index < count; index++) {
    if (bytes[index] !== PROTOCOL_HEADER[index]) return 'rejected';
  }
  return count === PROTOCOL_HEADER.byteLength ? 'accepted' : 'incomplete';
}

/**
 * What a server writes before closing the socket when the client's protocol
 * header is not one it speaks: its own protocol header, "AMQP" 0 0 9 1 (§4.2.2).
 */
export function protocolHeaderReply(): Uint8Array {
  return PROTOCOL_HEADER.slice();
}

// ---------------------------------------------------------------- decoding

/** Options of a FrameDecoder. */
export interface FrameDecoderOptions {
  /**
   * The largest frame accepted, header and frame-end included. Defaults to
   * FRAME_MIN_SIZE (4096), what peers must accept before tune-ok; raise it with
   * `setFrameMax` once frame-max is negotiated (resolve a negotiated 0, "no
   * limit", to the server's own limit first).
   */
  readonly frameMax?: number;
  /** True on the server side: the stream opens with the 8-byte protocol header, checked before any frame. */
  readonly expectProtocolHeader?: boolean;
}

const enum DecoderState {
  ProtocolHeader,
  FrameHeader,
  FramePayload,
}

/**
 * Splits a byte stream into frames. Feed it socket chunks of any size with
 * `push`: a frame may be split anywhere across chunks, and one chunk may hold
 * many frames. Memory held between pushes is bounded by frame-max.
 *
 * Throws AmqpProtocolError, always a connection error, for:
 * - a frame larger than frame-max: 501 FRAME_ERROR (§4.2.3; detected from the
 *   7-byte frame header, before its payload is buffered)
 * - a frame-end octet other than 0xCE, an unknown frame type, or a heartbeat on
 *   a channel other than 0 or with a payload: 501 FRAME_ERROR
 * - a protocol header other than AMQP 0-9-1: code AMQP_PROTOCOL_HEADER_MISMATCH
 *   (reply with `protocolHeaderReply()` and close the socket, no connection.close)
 * After an error the decoder is spent: every later push throws the same error.
 */
export class FrameDecoder {
  private frameMaxBytes: number;
  private state: DecoderState;
  private failure: AmqpProtocolError | undefined;
  // Bytes of a protocol header or frame header that arrived split.
  private readonly headerBytes = new Uint8Array(PROTOCOL_HEADER.byteLength);
  private headerFill = 0;
  // The frame whose payload is being gathered across chunks: payload then frame-end.
  private pendingType: FrameType = FRAME_METHOD;
  private pendingChannel = 0;
  private pendingBody: Uint8Array = EMPTY_PAYLOAD;
  private pendingFill = 0;

  constructor(options: FrameDecoderOptions = {}) {
    const frameMax = options.frameMax ?? FRAME_MIN_SIZE;
    checkFrameMax(frameMax);
    this.frameMaxBytes = frameMax;
    this.state = options.expectProtocolHeader === true ? DecoderState.ProtocolHeader : DecoderState.FrameHeader;
  }

  /** The largest frame accepted, header and frame-end included. */
  get frameMax(): number {
    return this.frameMaxBytes;
  }

  /**
   * Sets the negotiated frame-max (at least FRAME_MIN_SIZE). A frame already
   * partly received keeps the limit it was checked against.
   */
  setFrameMax(frameMax: number): void {
    checkFrameMax(frameMax);
    this.frameMaxBytes = frameMax;
  }

  /** False until the 8-byte protocol header has arrived and matched (always true without `expectProtocolHeader`). */
  get protocolHeaderReceived(): boolean {
    return this.state !== DecoderState.ProtocolHeader;
  }

  /** Bytes held for a frame not yet complete. */
  get bufferedBytes(): number {
    return this.state === DecoderState.FramePayload ? FRAME_HEADER_SIZE + this.pendingFill : this.headerFill;
  }

  /** Takes the next chunk of the stream and returns the frames it completes, in order (payloads are views, see AmqpFrame). */
  push(chunk: Uint8Array): AmqpFrame[] {
    const collector = new FrameCollector();
    this.pushEach(chunk, collector);
    return collector.frames;
  }

  /**
   * Takes the next chunk of the stream and hands each frame it completes to
   * `visitor` as soon as it is found: a frame before a malformed one is
   * handled before the error is thrown, and a frame-max set by the visitor
   * (after connection.tune-ok) holds for the frames behind it in the chunk.
   * The visitor must not throw.
   */
  pushEach(chunk: Uint8Array, visitor: FrameVisitor): void {
    if (this.failure !== undefined) throw this.failure;
    try {
      this.decode(chunk, visitor);
    } catch (error) {
      if (error instanceof AmqpProtocolError) this.failure = error;
      throw error;
    }
  }

  private decode(chunk: Uint8Array, visitor: FrameVisitor): void {
    const length = chunk.byteLength;
    let offset = 0;
    if (this.state === DecoderState.ProtocolHeader) {
      offset = this.takeProtocolHeader(chunk);
      if (this.state === DecoderState.ProtocolHeader) return;
    }
    while (offset < length) {
      if (this.state === DecoderState.FramePayload) {
        const take = Math.min(this.pendingBody.byteLength - this.pendingFill, length - offset);
        this.pendingBody.set(chunk.subarray(offset, offset + take), this.pendingFill);
        this.pendingFill += take;
        offset += take;
        if (this.pendingFill < this.pendingBody.byteLength) break;
        const body = this.pendingBody;
        const size = body.byteLength - 1;
        this.checkFrameEnd(body[size]!, this.pendingType, this.pendingChannel);
        this.pendingBody = EMPTY_PAYLOAD;
        this.pendingFill = 0;
        this.state = DecoderState.FrameHeader;
        visitor.frame(this.pendingType, this.pendingChannel, body, 0, size);
        continue;
      }
      let header: Uint8Array;
      let at: number;
      if (this.headerFill === 0 && length - offset >= FRAME_HEADER_SIZE) {
        // Fast path: the whole frame header is in this chunk.
        header = chunk;
        at = offset;
        offset += FRAME_HEADER_SIZE;
      } else {
        const take = Math.min(FRAME_HEADER_SIZE - this.headerFill, length - offset);
        this.headerBytes.set(chunk.subarray(offset, offset + take), this.headerFill);
        this.headerFill += take;
        offset += take;
        if (this.headerFill < FRAME_HEADER_SIZE) break;
        this.headerFill = 0;
        header = this.headerBytes;
        at = 0;
      }
      const type = header[at]!;
      const channel = (header[at + 1]! << 8) | header[at + 2]!;
      const size = header[at + 3]! * 0x100_0000 + ((header[at + 4]! << 16) | (header[at + 5]! << 8) | header[at + 6]!);
      this.checkFrameHeader(type, channel, size);
      if (length - offset > size) {
        // Fast path: payload and frame-end are in this chunk too; the payload is a view, not a copy.
        this.checkFrameEnd(chunk[offset + size]!, type as FrameType, channel);
        const start = offset;
        offset += size + 1;
        visitor.frame(type as FrameType, channel, chunk, start, start + size);
        continue;
      }
      this.pendingType = type as FrameType;
      this.pendingChannel = channel;
      this.pendingBody = new Uint8Array(size + 1);
      this.pendingFill = 0;
      this.state = DecoderState.FramePayload;
    }
  }

  private takeProtocolHeader(chunk: Uint8Array): number {
    const take = Math.min(PROTOCOL_HEADER.byteLength - this.headerFill, chunk.byteLength);
    for (let index = 0; index < take; index++) {
      const byte = chunk[index]!;
      this.headerBytes[this.headerFill++] = byte;
      if (byte !== PROTOCOL_HEADER[this.headerFill - 1]) {
        const received = [...this.headerBytes.subarray(0, this.headerFill)].map((value) => value.toString(16).padStart(2, '0')).join(' ');
        throw new AmqpProtocolError(501, `protocol header ${received} is not AMQP 0-9-1 (41 4d 51 50 00 00 09 01)`, { code: PROTOCOL_HEADER_MISMATCH });
      }
    }
    if (this.headerFill === PROTOCOL_HEADER.byteLength) {
      this.headerFill = 0;
      this.state = DecoderState.FrameHeader;
    }
    return take;
  }

  private checkFrameHeader(type: number, channel: number, size: number): void {
    switch (type) {
      case FRAME_METHOD:
      case FRAME_HEADER:
      case FRAME_BODY:
        break;
      case FRAME_HEARTBEAT:
        // §4.2.7: a heartbeat on another channel is a connection error 501.
        if (channel !== 0) throw new AmqpProtocolError(501, `heartbeat frame on channel ${channel}; heartbeats use channel 0`);
        if (size !== 0) throw new AmqpProtocolError(501, `heartbeat frame with a ${size}-byte payload; heartbeats are empty`);
        break;
      default:
        throw new AmqpProtocolError(501, `unknown frame type ${type} on channel ${channel}`);
    }
    // §4.2.3: a frame over the negotiated frame-max is a connection error 501. RabbitMQ's text
    // (payload size, then the largest payload frame-max allows), which its users search logs for.
    if (size > this.frameMaxBytes - FRAME_OVERHEAD) {
      throw new AmqpProtocolError(501, `type ${type}, all octets = <<>>: {frame_too_large,${size},${this.frameMaxBytes - FRAME_OVERHEAD}}`);
    }
  }

  private checkFrameEnd(octet: number, type: FrameType, channel: number): void {
    // §4.2.3: a bad frame-end means the stream is out of step; nothing after it can be trusted.
    if (octet !== FRAME_END) {
      throw new AmqpProtocolError(501, `frame end octet is 0x${octet.toString(16).padStart(2, '0')}, expected 0xce (type ${type}, channel ${channel})`);
    }
  }
}

// ---------------------------------------------------------------- encoding

function writeFrameStart(writer: WireWriter, type: FrameType, channel: number): number {
  writer.u8(type);
  writer.u16(channel, 'channel');
  return writer.reserveU32();
}

function writeFrameEnd(writer: WireWriter, sizeAt: number, frameMax: number | undefined): void {
  const size = writer.length - sizeAt - 4;
  if (frameMax !== undefined && size + FRAME_OVERHEAD > frameMax) {
    throw new FerryError('AMQP_FRAME_TOO_LARGE', `a frame of ${size + FRAME_OVERHEAD} bytes exceeds frame-max ${frameMax}`);
  }
  writer.patchU32(sizeAt, size, 'frame size');
  writer.u8(FRAME_END);
}

/** Encodes a frame around an already-encoded payload. */
export function encodeFrame(type: FrameType, channel: number, payload: Uint8Array): Uint8Array {
  sharedWriter.reset();
  const sizeAt = writeFrameStart(sharedWriter, type, channel);
  sharedWriter.raw(payload);
  writeFrameEnd(sharedWriter, sizeAt, undefined);
  return sharedWriter.finish();
}

/**
 * Encodes a method frame. With `frameMax`, a frame larger than it throws
 * AMQP_FRAME_TOO_LARGE. Field errors are INVALID_ARGUMENT (see `writeMethod`).
 */
export function encodeMethodFrame(channel: number, classId: number, methodId: number, fields: AnyMethodFieldsInput = {}, frameMax?: number): Uint8Array {
  const spec = methodSpecById(classId, methodId);
  if (spec === undefined) throw new FerryError('INVALID_ARGUMENT', `AMQP 0-9-1 has no method ${classId}/${methodId}`);
  sharedWriter.reset();
  writeMethodFrame(sharedWriter, channel, spec, fields, frameMax);
  return sharedWriter.finish();
}

/**
 * Appends a method frame to `writer` (see `encodeMethodFrame`), for a caller
 * that gathers many frames into one buffer. On a throw the writer holds part
 * of the frame: truncate it back to where it was.
 */
export function writeMethodFrame(writer: WireWriter, channel: number, spec: MethodSpec, fields: AnyMethodFieldsInput, frameMax?: number): void {
  const sizeAt = writeFrameStart(writer, FRAME_METHOD, channel);
  writeMethod(writer, spec, fields);
  writeFrameEnd(writer, sizeAt, frameMax);
}

/** Encodes a method frame by method name, with the fields type-checked. */
export function encodeMethodFrameByName<Name extends MethodName>(channel: number, name: Name, fields: MethodFieldsInput<Name>, frameMax?: number): Uint8Array {
  const spec = methodSpecByName(name);
  if (spec === undefined) throw new FerryError('INVALID_ARGUMENT', `AMQP 0-9-1 has no method ${name}`);
  return encodeMethodFrame(channel, spec.classId, spec.methodId, fields as AnyMethodFieldsInput, frameMax);
}

/** Encodes a content header frame. With `frameMax`, a frame larger than it throws AMQP_FRAME_TOO_LARGE. */
export function encodeHeaderFrame(channel: number, classId: number, bodySize: number | bigint, properties: BasicPropertiesInput = {}, frameMax?: number): Uint8Array {
  sharedWriter.reset();
  const sizeAt = writeFrameStart(sharedWriter, FRAME_HEADER, channel);
  writeContentHeader(sharedWriter, classId, bodySize, properties);
  writeFrameEnd(sharedWriter, sizeAt, frameMax);
  return sharedWriter.finish();
}

/** Encodes one body frame; use `splitBody` first for bodies larger than frame-max - 8. */
export function encodeBodyFrame(channel: number, body: Uint8Array, frameMax?: number): Uint8Array {
  sharedWriter.reset();
  const sizeAt = writeFrameStart(sharedWriter, FRAME_BODY, channel);
  sharedWriter.raw(body);
  writeFrameEnd(sharedWriter, sizeAt, frameMax);
  return sharedWriter.finish();
}

/** The heartbeat frame: type 8, channel 0, no payload. A fresh copy each call. */
export function encodeHeartbeatFrame(): Uint8Array {
  return HEARTBEAT_FRAME.slice();
}

/**
 * Splits a message body into body-frame payloads of at most frame-max - 8
 * bytes (views into `body`, not copies). An empty body has no body frames (§4.2.6.2).
 */
export function splitBody(body: Uint8Array, frameMax: number): Uint8Array[] {
  checkFrameMax(frameMax);
  const chunkBytesMax = frameMax - FRAME_OVERHEAD;
  const chunks: Uint8Array[] = [];
  for (let offset = 0; offset < body.byteLength; offset += chunkBytesMax) {
    chunks.push(body.subarray(offset, Math.min(offset + chunkBytesMax, body.byteLength)));
  }
  return chunks;
}

/**
 * Encodes a whole content-carrying method in one buffer, ready for one socket
 * write: the method frame, the content header frame (body size = body length)
 * and the body frames, each at most `frameMax` bytes. Throws
 * AMQP_FRAME_TOO_LARGE when the method or header frame alone exceeds frameMax
 * (a headers table too large for the peer), INVALID_ARGUMENT for bad fields or
 * for a method that carries no content.
 */
export function encodeContentFrames(
  channel: number,
  classId: number,
  methodId: number,
  fields: AnyMethodFieldsInput,
  properties: BasicPropertiesInput,
  body: Uint8Array,
  frameMax: number,
): Uint8Array {
  const spec = methodSpecById(classId, methodId);
  if (spec === undefined) throw new FerryError('INVALID_ARGUMENT', `AMQP 0-9-1 has no method ${classId}/${methodId}`);
  sharedWriter.reset();
  writeContentFrames(sharedWriter, channel, spec, fields, properties, body, frameMax);
  return sharedWriter.finish();
}

/**
 * Appends a content-carrying method's frames to `writer` (see
 * `encodeContentFrames`), for a caller that gathers many frames into one
 * buffer. On a throw the writer holds part of them: truncate it back to where it was.
 */
export function writeContentFrames(
  writer: WireWriter,
  channel: number,
  spec: MethodSpec,
  fields: AnyMethodFieldsInput,
  properties: BasicPropertiesInput,
  body: Uint8Array,
  frameMax: number,
): void {
  checkFrameMax(frameMax);
  if (!spec.hasContent) throw new FerryError('INVALID_ARGUMENT', `${spec.name} carries no content`);
  const sizeAt = writeFrameStart(writer, FRAME_METHOD, channel);
  writeMethod(writer, spec, fields);
  writeFrameEnd(writer, sizeAt, frameMax);
  writeContent(writer, channel, spec.classId, properties, body, frameMax);
}

/** Sends one basic.deliver with its content: writeDeliverFrames' arguments after the writer and frame-max. */
export type DeliverSender = typeof writeDeliverFrames extends (writer: WireWriter, frameMax: number, ...rest: infer Rest) => void ? (...args: Rest) => void : never;

const BASIC_DELIVER = methodSpecByName('basic.deliver')!;
const [DELIVER_CONSUMER_TAG, DELIVER_DELIVERY_TAG, , DELIVER_EXCHANGE, DELIVER_ROUTING_KEY] = BASIC_DELIVER.fields.map((field) => field.label);

/**
 * Appends basic.deliver with its content, the frames of one delivery: what
 * `writeContentFrames` writes for it, in straight-line code (a consumer gets
 * one per message). On a throw the writer holds part of the frames: truncate
 * it back to where it was.
 */
export function writeDeliverFrames(
  writer: WireWriter,
  frameMax: number,
  channel: number,
  consumerTag: string,
  deliveryTag: number,
  redelivered: boolean,
  exchange: string,
  routingKey: string,
  properties: BasicPropertiesInput,
  body: Uint8Array,
): void {
  checkFrameMax(frameMax);
  const sizeAt = writeFrameStart(writer, FRAME_METHOD, channel);
  writer.u16(BASIC_DELIVER.classId);
  writer.u16(BASIC_DELIVER.methodId);
  writer.shortstr(consumerTag, DELIVER_CONSUMER_TAG);
  writer.u64(deliveryTag, DELIVER_DELIVERY_TAG);
  writer.u8(redelivered ? 1 : 0);
  writer.shortstr(exchange, DELIVER_EXCHANGE);
  writer.shortstr(routingKey, DELIVER_ROUTING_KEY);
  writeFrameEnd(writer, sizeAt, frameMax);
  writeContent(writer, channel, BASIC_DELIVER.classId, properties, body, frameMax);
}

/** The content header frame and the body frames that follow a content-carrying method. */
function writeContent(writer: WireWriter, channel: number, classId: number, properties: BasicPropertiesInput, body: Uint8Array, frameMax: number): void {
  let sizeAt = writeFrameStart(writer, FRAME_HEADER, channel);
  writeContentHeader(writer, classId, body.byteLength, properties);
  writeFrameEnd(writer, sizeAt, frameMax);
  // Body frames of at most frame-max - 8 bytes each (§4.2.6.2); an empty body has none.
  const chunkBytesMax = frameMax - FRAME_OVERHEAD;
  for (let offset = 0; offset < body.byteLength; offset += chunkBytesMax) {
    sizeAt = writeFrameStart(writer, FRAME_BODY, channel);
    writer.raw(offset === 0 && body.byteLength <= chunkBytesMax ? body : body.subarray(offset, Math.min(offset + chunkBytesMax, body.byteLength)));
    writeFrameEnd(writer, sizeAt, undefined);
  }
}
