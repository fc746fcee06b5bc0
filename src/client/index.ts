/**
 * Ferry's TypeScript client: `import { connect } from 'ferry/client'`.
 * Speaks the native protocol (docs/protocol.md) over TCP (`ferry://`) or
 * in-process (`ferry+mem://`), with the same API for both.
 */
export { connect } from './connect.js';
export { FerryClient, type FerryClientEvents, type GetOptions, type ReadOptions, type ReadResult, type RequestHandler } from './ferry-client.js';
export { NATIVE_PORT_DEFAULT, type ConnectOptions, type ReconnectOptions } from './connect-options.js';
export { CLIENT_ERROR_CODES, FerryClientError, type ClientErrorCode } from './ferry-client-error.js';
export type { HeaderTable, HeaderValue, MessageInput, MessageLike, MessageProperties } from './message-input.js';
export { IncomingMessage, ReceivedMessage, StreamEntry, type ReceivedProperties } from './incoming-message.js';
export { Publisher, type PublisherOptions, type SendResult } from './publisher.js';
export { QueueConsumer, type ConsumeOptions, type MessageHandler } from './queue-consumer.js';
export { StreamReader, type StreamReaderOptions } from './stream-reader.js';
export { GroupConsumer, type ConsumerGroupOptions, type GroupConsumerEvents } from './group-consumer.js';
export { Transaction, type GroupPosition, type TransactionOptions, type TransactionOutcome } from './transaction.js';
export type { RequestOptions, RequestTarget } from './requester.js';
export type { OffsetSpec } from './offset-spec.js';
export type {
  BindOptions,
  ExchangeKind,
  ExchangeOptions,
  OverflowPolicy,
  QueueDeclareResult,
  QueueOptions,
  StreamInfo,
  StreamOptions,
} from './topology-options.js';
