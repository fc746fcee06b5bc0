import { isFerryError } from '../../lib/ferry-error.js';
import { AmqpProtocolError } from './codec/amqp-protocol-error.js';
import type { ErrorReplyCode } from './codec/spec.js';

/**
 * The one table from Ferry's error codes to AMQP 0-9-1 reply codes, as
 * RabbitMQ gives them. Whether the error closes the channel or the whole
 * connection follows from the reply code (spec §1.4.2 / RabbitMQ errata).
 */
export function replyCodeFor(code: string): ErrorReplyCode {
  switch (code) {
    case 'QUEUE_NOT_FOUND':
    case 'EXCHANGE_NOT_FOUND':
    case 'DESTINATION_NOT_FOUND':
    case 'STREAM_NOT_FOUND':
      return 404;
    case 'ACCESS_REFUSED':
    case 'CONSUMER_EXCLUSIVE':
    case 'DEFAULT_EXCHANGE_RESERVED':
    case 'EXCHANGE_INTERNAL':
      return 403;
    case 'RESOURCE_LOCKED':
      return 405;
    case 'PRECONDITION_FAILED':
    case 'EXCHANGE_DECLARATION_MISMATCH':
    case 'EXCHANGE_IN_USE':
    case 'UNKNOWN_DELIVERY':
    case 'INVALID_ARGUMENT':
    case 'INVALID_BINDING_ARGUMENTS':
    case 'INVALID_TOPIC_PATTERN':
    case 'MESSAGE_TOO_LARGE':
    case 'QUEUE_LIMIT_REACHED':
    case 'EXCHANGE_LIMIT_REACHED':
    case 'BINDING_LIMIT_REACHED':
      return 406;
    case 'CONSUMER_TAG_IN_USE':
    case 'VHOST_NOT_FOUND':
      return 530;
    case 'UNKNOWN_EXCHANGE_TYPE':
      return 503;
    default:
      return 541;
  }
}

/** Turns any failure of a handler into the AMQP error to send, keeping the failing method's ids. */
export function toAmqpError(error: unknown, classId: number, methodId: number): AmqpProtocolError {
  if (error instanceof AmqpProtocolError) return error;
  if (isFerryError(error)) {
    const detail = error.message.replace(/^[A-Z_]+: /, '');
    return new AmqpProtocolError(replyCodeFor(error.code), detail, { classId, methodId, cause: error });
  }
  return new AmqpProtocolError(541, 'internal error', { classId, methodId, cause: error });
}
