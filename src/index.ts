/**
 * Ferry's embedded API: `import { Broker } from 'ferry'`.
 * See README.md for a tour; error codes are in docs/errors.md.
 */
export { Broker } from './server/broker.js';
export type { BrokerStartOptions, PublishInput, PublishResult, ConsumeOptions, ConsumerHandle } from './server/broker.js';
export type { Delivery } from './core/queue/delivery.js';
export type { QueueConfig, OverflowPolicy } from './core/queue/queue-config.js';
export type { Message, MessageProperties, StoredMessage } from './core/message/message.js';
export type { HeaderTable, HeaderValue } from './core/routing/header-value.js';
export { FerryError, isFerryError } from './lib/ferry-error.js';
