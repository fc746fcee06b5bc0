import type { FrameName, RawFrame, RequestName, RequestOf, ResponseOf } from '../protocols/native/codec/index.js';
import type { ClientConnection } from './client-connection.js';
import type { FerryClientError } from './ferry-client-error.js';

/**
 * Something the client re-establishes after a reconnect: a publisher, a
 * consumer, a stream reader, a group member, the request/reply queue.
 * Resources are recovered in ascending `recoveryOrder`, after the topology.
 */
export interface ClientResource {
  readonly recoveryOrder: number;
  /** Re-establishes the resource on a fresh connection (the client waits for it). */
  recover(connection: ClientConnection): Promise<void>;
  /** The connection was lost: drop what belonged to it. Called before any recovery. */
  connectionLost(error: FerryClientError): void;
  /** The client closed for good: by `close()` (`error` null) or after giving up reconnecting (`error` says why). */
  clientClosed(error: FerryClientError | null): void;
  /** Before a `close()`: finish what is under way (confirms, acks, commits); failures are ignored. */
  drain?(): Promise<void>;
}

/** Receives the pushes of one channel. */
export interface ChannelOwner {
  pushed(name: FrameName, frame: RawFrame): void;
  /** The server closed the channel (`channelClosed`). */
  channelClosed(error: FerryClientError): void;
}

/** Recovery order: the reply queue first, consumers and readers next, publishers last (so re-sent messages find their consumers). */
export const RecoveryOrder = { REPLY_QUEUE: 0, CONSUMER: 1, PUBLISHER: 2 } as const;

/**
 * What the client's parts (publishers, consumers, readers, groups,
 * transactions) need from the client. {@link FerryClient} implements it;
 * the parts depend on this interface, not on the client class.
 */
export interface ClientContext {
  /** The open connection, or null while reconnecting or closed. */
  readonly connection: ClientConnection | null;
  /** True once the client closed (by `close()` or after giving up reconnecting). */
  readonly isClosed: boolean;
  /** The largest frame the server accepts (of the current connection, or the last one while reconnecting). */
  readonly frameBytesMax: number;
  /** True when a lost connection will be replaced (reconnect on and the client not closing). */
  readonly willReconnect: boolean;
  /** The open connection, waiting for a reconnect; rejects with CONNECTION_CLOSED once the client closed. */
  whenOpen(): Promise<ClientConnection>;
  /**
   * A request on the shared channel. With `retry`, a request cut by a lost
   * connection is sent again once reconnected (for requests that are safe
   * to repeat); otherwise it rejects with CONNECTION_LOST.
   */
  call<N extends RequestName>(name: N, values: RequestOf<N>, retry: boolean): Promise<ResponseOf<N>>;
  /** The shared channel of `connection`. */
  sharedChannel(connection: ClientConnection): number;
  register(resource: ClientResource): void;
  unregister(resource: ClientResource): void;
  /** Routes the pushes of `channel` on `connection` to `owner` (null: stop). */
  setChannelOwner(connection: ClientConnection, channel: number, owner: ChannelOwner | null): void;
  /** Reports a failure nobody awaits (the client's `error` event). */
  reportError(error: FerryClientError): void;
}
