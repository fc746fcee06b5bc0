import { FRAME_BYTES_MIN, FRAME_HEADER_BYTES, FRAME_NAMES } from './native-spec.js';
import { NativeProtocolError, malformed } from './native-protocol-error.js';
import type { RawFrame } from './wire-types.js';

/**
 * Cuts a byte stream into frames, whatever the chunk boundaries. A frame
 * that lies wholly inside one chunk is handed out as a view (no copy); only
 * frames split across chunks are assembled. A frame larger than
 * `frameBytesMax` is refused from its size field alone (NATIVE_FRAME_TOO_LARGE),
 * before any of it is buffered; an unknown type gives NATIVE_UNKNOWN_FRAME_TYPE.
 * After an error the decoder stays failed: the connection must close.
 */
export class FrameDecoder {
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private failed: NativeProtocolError | null = null;

  constructor(private frameBytesMax: number) {}

  /** Changes the limit (after negotiation); never below FRAME_BYTES_MIN. */
  setFrameBytesMax(frameBytesMax: number): void {
    this.frameBytesMax = Math.max(FRAME_BYTES_MIN, frameBytesMax);
  }

  /** Bytes received and not yet part of a whole frame. */
  bufferedBytes(): number {
    return this.pendingBytes;
  }

  /** Feeds a chunk; returns the frames it completes, in order. Throws NativeProtocolError. */
  push(chunk: Uint8Array): RawFrame[] {
    if (this.failed) throw this.failed;
    try {
      return this.cut(chunk);
    } catch (error) {
      if (error instanceof NativeProtocolError) this.failed = error;
      throw error;
    }
  }

  private cut(chunk: Uint8Array): RawFrame[] {
    let bytes = chunk;
    if (this.pendingBytes > 0) {
      this.pending.push(chunk);
      this.pendingBytes += chunk.byteLength;
      // Only assemble once the pending frame is complete (or its header is, to learn its size).
      const needed = this.pendingBytes >= 4 ? this.sizeOfPending() : 4;
      if (this.pendingBytes < needed) return [];
      bytes = concatenate(this.pending, this.pendingBytes);
      this.pending = [];
      this.pendingBytes = 0;
    }
    const frames: RawFrame[] = [];
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let at = 0;
    while (bytes.byteLength - at >= 4) {
      const size = view.getUint32(at, true);
      this.checkSize(size);
      if (bytes.byteLength - at < 4 + size) break;
      const type = bytes[at + 4]!;
      if (!FRAME_NAMES.has(type)) throw new NativeProtocolError('NATIVE_UNKNOWN_FRAME_TYPE', `unknown frame type 0x${type.toString(16).padStart(2, '0')}`);
      frames.push({
        type,
        flags: bytes[at + 5]!,
        channel: view.getUint16(at + 6, true),
        correlation: view.getUint32(at + 8, true),
        payload: bytes.subarray(at + FRAME_HEADER_BYTES, at + 4 + size),
      });
      at += 4 + size;
    }
    if (at < bytes.byteLength) {
      this.pending = [bytes.subarray(at)];
      this.pendingBytes = bytes.byteLength - at;
    }
    return frames;
  }

  /** The whole size (with the size field) of the frame that starts the pending bytes. */
  private sizeOfPending(): number {
    const head = new Uint8Array(4);
    let filled = 0;
    for (const part of this.pending) {
      const take = Math.min(4 - filled, part.byteLength);
      head.set(part.subarray(0, take), filled);
      filled += take;
      if (filled === 4) break;
    }
    const size = new DataView(head.buffer).getUint32(0, true);
    this.checkSize(size);
    return 4 + size;
  }

  private checkSize(size: number): void {
    if (size < FRAME_HEADER_BYTES - 4) throw malformed(`frame size ${size} is smaller than a frame header`);
    if (size + 4 > this.frameBytesMax) {
      throw new NativeProtocolError('NATIVE_FRAME_TOO_LARGE', `frame of ${size + 4} bytes is larger than the limit of ${this.frameBytesMax}`);
    }
  }
}

/** The parts as one buffer of exactly `total` bytes (not pooled: a frame may outlive its handler), not zero-filled first: every byte is written, and a large frame spans many chunks. */
function concatenate(parts: readonly Uint8Array[], total: number): Uint8Array {
  // A plain Uint8Array over the unpooled buffer's own memory: frames and their fields stay Uint8Arrays, not Buffers.
  const memory = Buffer.allocUnsafeSlow(total);
  const out = new Uint8Array(memory.buffer, memory.byteOffset, total);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}
