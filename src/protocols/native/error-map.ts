import { isFerryError } from '../../lib/ferry-error.js';
import { NativeProtocolError, type ProtocolErrorCode } from './codec/index.js';

/**
 * What the connection does about a failure:
 * - `answer`: an error answer to the request (or `channelClosed` for one sent
 *   without a correlation); the connection goes on;
 * - `answer-then-close`: the error answer, then `close` with the same code;
 * - `close`: `close` with the code, then the socket ends.
 */
export type FailureAction = 'answer' | 'answer-then-close' | 'close';

/** A failure as it goes on the wire. */
export interface WireFailure {
  readonly action: FailureAction;
  readonly code: string;
  readonly message: string;
  /** True for an unexpected exception: the server logs it. */
  readonly internal: boolean;
}

/** The code sent for an exception that is not a FerryError (a bug); the cause goes to the server log. */
export const INTERNAL_ERROR_CODE = 'INTERNAL_ERROR';

/**
 * The one table of protocol codes (docs/protocol.md, "Errors"): which end the
 * connection. Exhaustive: a new code does not compile until it is placed here.
 */
export function actionFor(code: ProtocolErrorCode): FailureAction {
  switch (code) {
    case 'NATIVE_MALFORMED_FRAME':
    case 'NATIVE_UNKNOWN_FRAME_TYPE':
    case 'NATIVE_FRAME_TOO_LARGE':
    case 'NATIVE_PREAMBLE_MISMATCH':
    case 'NATIVE_UNSUPPORTED_VERSION':
    case 'NATIVE_UNEXPECTED_FRAME':
    case 'NATIVE_HEARTBEAT_TIMEOUT':
    case 'NATIVE_CONNECTION_FORCED':
      return 'close';
    case 'NATIVE_AUTHENTICATION_FAILED':
      return 'answer-then-close';
    case 'NATIVE_CHANNEL_NOT_OPEN':
    case 'NATIVE_UNKNOWN_DELIVERY_TAG':
    case 'NATIVE_LIMIT_REACHED':
      return 'answer';
  }
}

/**
 * Maps any failure of a request onto the wire: protocol errors per
 * {@link actionFor}; the core's FerryError codes (docs/errors.md) pass through
 * unchanged as error answers; anything else is an `INTERNAL_ERROR` answer
 * whose cause the server logs, never a crash.
 */
export function wireFailureOf(error: unknown): WireFailure {
  if (error instanceof NativeProtocolError) return { action: actionFor(error.code), code: error.code, message: detailOf(error), internal: false };
  if (isFerryError(error)) return { action: 'answer', code: error.code, message: detailOf(error), internal: false };
  return { action: 'answer', code: INTERNAL_ERROR_CODE, message: 'the server failed while handling the request; its log has the cause', internal: true };
}

/** A FerryError's message without the `CODE: ` prefix (the code travels in its own field). */
function detailOf(error: Error & { code: string }): string {
  const prefix = `${error.code}: `;
  return error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
}
