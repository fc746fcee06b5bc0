/**
 * The one table from Ferry's error codes to the status a WebSocket
 * subscription closes with (RFC 6455 §7.4). Errors before the upgrade are
 * plain HTTP answers; these are for subscriptions that end later. The error
 * itself travels first, as the last frame: `{ "type": "error", "error": { "code", "message" } }`.
 * Codes 4000–4999 are private use: 4000 + the HTTP status the code has elsewhere.
 */
export function webSocketCloseCodeOf(code: string): number {
  switch (code) {
    case 'SUBSCRIPTION_CLOSED':
      return 1001; // Going away: the broker stops, or an operator closed the subscription.
    case 'INVALID_REQUEST':
      return 1008; // Policy violation: the client sent a frame the API does not take.
    case 'RESOURCE_ALARM':
    case 'SUBSCRIPTION_LIMIT_REACHED':
      return 1013; // Try again later.
    case 'ACCESS_REFUSED':
      return 4403;
    case 'VHOST_NOT_FOUND':
    case 'QUEUE_NOT_FOUND':
    case 'STREAM_NOT_FOUND':
    case 'PARTITION_NOT_FOUND':
      return 4404;
    case 'RESOURCE_LOCKED':
    case 'CONSUMER_EXCLUSIVE':
    case 'CONSUMER_TAG_IN_USE':
      return 4409;
    default:
      return 1011; // Internal error.
  }
}
