/**
 * The HTTP status of every error code the HTTP listener can answer with (the
 * management API and the messaging API of src/protocols/http it hosts): the
 * one table mapping core, storage and HTTP codes onto statuses. Codes not
 * listed (a bug, or an I/O failure without a better status) are 500.
 */
export function httpStatusOf(code: string): number {
  switch (code) {
    case 'INVALID_REQUEST':
    case 'INVALID_ARGUMENT':
    case 'INVALID_DEFINITIONS':
    case 'UNKNOWN_EXCHANGE_TYPE':
    case 'INVALID_TOPIC_PATTERN':
    case 'INVALID_BINDING_ARGUMENTS':
    case 'INVALID_PERMISSION_PATTERN':
    case 'INVALID_RECEIPT':
      return 400;
    case 'UNAUTHORIZED':
      return 401;
    case 'ACCESS_REFUSED':
    case 'DEFAULT_EXCHANGE_RESERVED':
    case 'EXCHANGE_INTERNAL':
      return 403;
    case 'NOT_FOUND':
    case 'VHOST_NOT_FOUND':
    case 'EXCHANGE_NOT_FOUND':
    case 'QUEUE_NOT_FOUND':
    case 'DESTINATION_NOT_FOUND':
    case 'BINDING_NOT_FOUND':
    case 'USER_NOT_FOUND':
    case 'PERMISSION_NOT_FOUND':
    case 'CONNECTION_NOT_FOUND':
    case 'STREAM_NOT_FOUND':
    case 'PARTITION_NOT_FOUND':
      return 404;
    case 'PRECONDITION_FAILED':
    case 'EXCHANGE_DECLARATION_MISMATCH':
    case 'EXCHANGE_IN_USE':
    case 'RESOURCE_LOCKED':
    case 'CONSUMER_EXCLUSIVE':
    case 'QUEUE_LIMIT_REACHED':
    case 'VHOST_LIMIT_REACHED':
    case 'EXCHANGE_LIMIT_REACHED':
    case 'BINDING_LIMIT_REACHED':
    case 'UNKNOWN_DELIVERY':
    case 'CONSUMER_TAG_IN_USE':
    case 'SEQUENCE_GAP':
    case 'SEQUENCE_OUT_OF_ORDER':
    case 'PRODUCER_FENCED':
      return 409;
    case 'MESSAGE_TOO_LARGE':
    case 'REQUEST_TOO_LARGE':
      return 413;
    case 'UNSUPPORTED_MEDIA_TYPE':
      return 415;
    case 'BROKER_CLOSED':
    case 'STORAGE_CLOSED':
    case 'RESOURCE_ALARM':
    case 'SUBSCRIPTION_LIMIT_REACHED':
      return 503;
    case 'DISK_FULL':
      return 507;
    default:
      return 500;
  }
}
