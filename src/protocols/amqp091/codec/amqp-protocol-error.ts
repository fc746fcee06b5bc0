import { FerryError } from '../../../lib/ferry-error.js';
import { type ErrorReplyCode, replyCodeInfo } from './spec.js';

// Names a code literally, so the catalogue test (src/lib/error-catalogue.test.ts) finds it.
function errorCode<Code extends string>(code: Code): Code {
  return code;
}

/**
 * The stable FerryError code of each AMQP reply code: `AMQP_` and the spec's
 * name. Every code here is documented in docs/errors.md.
 */
const ERROR_CODES = {
  311: errorCode('AMQP_CONTENT_TOO_LARGE'),
  312: errorCode('AMQP_NO_ROUTE'),
  313: errorCode('AMQP_NO_CONSUMERS'),
  320: errorCode('AMQP_CONNECTION_FORCED'),
  402: errorCode('AMQP_INVALID_PATH'),
  403: errorCode('AMQP_ACCESS_REFUSED'),
  404: errorCode('AMQP_NOT_FOUND'),
  405: errorCode('AMQP_RESOURCE_LOCKED'),
  406: errorCode('AMQP_PRECONDITION_FAILED'),
  501: errorCode('AMQP_FRAME_ERROR'),
  502: errorCode('AMQP_SYNTAX_ERROR'),
  503: errorCode('AMQP_COMMAND_INVALID'),
  504: errorCode('AMQP_CHANNEL_ERROR'),
  505: errorCode('AMQP_UNEXPECTED_FRAME'),
  506: errorCode('AMQP_RESOURCE_ERROR'),
  530: errorCode('AMQP_NOT_ALLOWED'),
  540: errorCode('AMQP_NOT_IMPLEMENTED'),
  541: errorCode('AMQP_INTERNAL_ERROR'),
} as const satisfies Record<ErrorReplyCode, string>;

/**
 * The code of a client whose protocol header is not AMQP 0-9-1. It is not
 * answered with connection.close: the server writes its own protocol header and
 * closes the socket (§4.2.2), see `protocolHeaderReply()`.
 */
export const PROTOCOL_HEADER_MISMATCH = errorCode('AMQP_PROTOCOL_HEADER_MISMATCH');

/** The FerryError codes an AmqpProtocolError can carry. */
export type AmqpErrorCode = (typeof ERROR_CODES)[ErrorReplyCode] | typeof PROTOCOL_HEADER_MISMATCH;

/** Where an error arose, for connection.close / channel.close's class-id and method-id. */
export interface AmqpErrorContext {
  /** The class of the method being decoded or handled; 0 when no method was involved (a frame error). */
  readonly classId?: number;
  readonly methodId?: number;
  /** Overrides the code derived from the reply code (only PROTOCOL_HEADER_MISMATCH does). */
  readonly code?: AmqpErrorCode;
  readonly cause?: unknown;
}

const REPLY_TEXT_BYTES_MAX = 255;
const encoder = new TextEncoder();

/**
 * An AMQP protocol failure: the peer sent bytes the codec cannot accept, or a
 * handler refuses a method. It carries what connection.close or channel.close
 * needs: the reply code, a reply text, and the class and method at fault.
 *
 * The codec raises 501 FRAME_ERROR (bad framing, a truncated or overlong
 * payload), 502 SYNTAX_ERROR (a well-framed value that is illegal: invalid
 * UTF-8, an unknown field-table type, unknown property flags), 503
 * COMMAND_INVALID (a class or method id the protocol does not define) and 505
 * UNEXPECTED_FRAME (a content header for a class that carries no content). All
 * of these are connection errors.
 */
export class AmqpProtocolError extends FerryError<AmqpErrorCode> {
  readonly replyCode: ErrorReplyCode;
  /** The failing method's class, or 0. */
  readonly classId: number;
  /** The failing method's id, or 0. */
  readonly methodId: number;
  /** True when the connection must close (a hard error), false when only the channel does. */
  readonly isConnectionError: boolean;
  /** What went wrong, without the code prefix. */
  readonly detail: string;

  constructor(replyCode: ErrorReplyCode, detail: string, context: AmqpErrorContext = {}) {
    const code = context.code ?? ERROR_CODES[replyCode];
    super(code, detail, context.cause === undefined ? undefined : { cause: context.cause });
    this.name = 'AmqpProtocolError';
    this.replyCode = replyCode;
    this.classId = context.classId ?? 0;
    this.methodId = context.methodId ?? 0;
    this.isConnectionError = replyCodeInfo(replyCode)?.kind === 'connection';
    this.detail = detail;
  }

  /**
   * The reply-text for connection.close / channel.close, RabbitMQ style
   * (`FRAME_ERROR - frame end octet is 0x00`), cut to the 255 bytes a shortstr holds.
   */
  get replyText(): string {
    const text = `${replyCodeInfo(this.replyCode)?.name ?? 'ERROR'} - ${this.detail}`;
    if (encoder.encode(text).byteLength <= REPLY_TEXT_BYTES_MAX) return text;
    // Cut by code points, so no multi-byte character is split.
    let kept = '';
    let keptBytes = 0;
    for (const character of text) {
      const characterBytes = encoder.encode(character).byteLength;
      if (keptBytes + characterBytes > REPLY_TEXT_BYTES_MAX) break;
      kept += character;
      keptBytes += characterBytes;
    }
    return kept;
  }
}

/** True when `error` is an AmqpProtocolError (optionally with this reply code). */
export function isAmqpProtocolError(error: unknown, replyCode?: ErrorReplyCode): error is AmqpProtocolError {
  return error instanceof AmqpProtocolError && (replyCode === undefined || error.replyCode === replyCode);
}
