import { FerryError } from '../../../lib/ferry-error.js';
import type { ProtocolErrorCode } from './native-spec.js';

/**
 * A violation of the native protocol by the peer (a malformed or oversized
 * frame, an unknown type, a frame out of order). The receiver answers with
 * CLOSE carrying `code` and closes the connection.
 */
export class NativeProtocolError extends FerryError<ProtocolErrorCode> {
  constructor(code: ProtocolErrorCode, message: string) {
    super(code, message);
    this.name = 'NativeProtocolError';
  }
}

/** Shorthand for the most common protocol error. */
export function malformed(message: string): NativeProtocolError {
  return new NativeProtocolError('NATIVE_MALFORMED_FRAME', message);
}
