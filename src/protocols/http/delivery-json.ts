import { MESSAGE_JSON_SCHEMA, messageToJson } from '../../core/message/message-json.js';
import type { Delivery } from '../../core/queue/delivery.js';
import type { Queue } from '../../core/queue/queue.js';
import type { DeliveryReceipts } from './delivery-receipts.js';

/** A queue delivery as the messaging API writes it (pulls, subscriptions): the message, its receipt, whether it came before. */
export function deliveryToJson(receipts: DeliveryReceipts, vhost: string, queue: Queue, delivery: Delivery, encoding: 'auto' | 'base64', autoAck = false): Record<string, unknown> {
  return {
    // An auto-acked delivery is settled already: nothing to hand back.
    receipt: autoAck ? null : receipts.issue(vhost, queue, delivery.id),
    redelivered: delivery.redelivered,
    delivery_count: delivery.deliveryCount,
    ...messageToJson(delivery.message, { encoding }),
  };
}

/** JSON schema of {@link deliveryToJson}. */
export const DELIVERY_JSON_SCHEMA = {
  ...MESSAGE_JSON_SCHEMA,
  required: [...MESSAGE_JSON_SCHEMA.required, 'receipt', 'redelivered', 'delivery_count'],
  properties: {
    receipt: { type: ['string', 'null'], description: 'hand it back to ack, nack or extend the delivery; null when auto-acked' },
    redelivered: { type: 'boolean' },
    delivery_count: { type: 'integer', description: 'deliveries of the message so far, this one included' },
    ...MESSAGE_JSON_SCHEMA.properties,
  },
} as const;
