import { decodeResponse, PublishStatus, type FrameName, type RawFrame, type WireMessage } from '../protocols/native/codec/index.js';
import type { AnswerHandler, ClientConnection } from './client-connection.js';
import { RecoveryOrder, type ChannelOwner, type ClientContext, type ClientResource } from './client-context.js';
import { FerryClientError, toClientError } from './ferry-client-error.js';
import type { ReceivedMessage } from './incoming-message.js';
import { decodeDeliver } from './message-batch-decoder.js';
import { encodeMessageInput, type MessageInput, type MessageLike } from './message-input.js';

/** Where a request goes: a queue by name (through the default exchange), or an exchange and routing key. */
export type RequestTarget = string | { readonly exchange: string; readonly routingKey?: string };

/** Options of {@link FerryClient.request}. */
export interface RequestOptions {
  /** Reject with TIMEOUT when no reply came within this time (default 30,000 ms); the request also expires in its queue then. */
  readonly timeoutMs?: number;
}

/** One request waiting for its reply; also the handler of its publish answer. */
class PendingRequest implements AnswerHandler {
  timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly requester: Requester,
    readonly correlationId: string,
    readonly resolve: (reply: ReceivedMessage) => void,
    readonly reject: (error: FerryClientError) => void,
  ) {}

  answered(payload: Uint8Array): void {
    const { statuses } = decodeResponse('publish', payload);
    if (statuses[0] === PublishStatus.ROUTED) return;
    this.requester.settle(this.correlationId)?.reject(
      new FerryClientError('REQUEST_UNROUTABLE', statuses[0] === PublishStatus.REJECTED ? 'the request was refused by a full queue' : 'the request reached no queue'),
    );
  }

  failed(error: FerryClientError): void {
    this.requester.settle(this.correlationId)?.reject(error);
  }
}

/**
 * Request/reply over one exclusive, server-named reply queue per client:
 * each request carries `replyTo` (that queue) and a fresh `correlationId`,
 * and the reply with the same correlation id resolves it. The reply queue is
 * consumed with auto-ack on a channel of its own. Requests are transient
 * unless they say otherwise. Requests in flight when the connection is lost
 * reject with CONNECTION_LOST (their replies would go to a queue that died
 * with the connection); after the reconnect a new reply queue is used.
 */
export class Requester implements ClientResource, ChannelOwner {
  readonly recoveryOrder = RecoveryOrder.REPLY_QUEUE;
  private readonly pending = new Map<string, PendingRequest>();
  private connection: ClientConnection | null = null;
  private channel = 0;
  private replyQueue = '';
  private starting: Promise<void> | null = null;
  private correlationSequence = 0;
  private readonly prefix = `${process.pid.toString(36)}.${Date.now().toString(36)}.`;

  constructor(private readonly context: ClientContext) {}

  /** Sends `message` to `target` and resolves with the reply; see the class for failures. */
  request(target: RequestTarget, message: MessageLike, options: RequestOptions): Promise<ReceivedMessage> {
    const timeoutMs = options.timeoutMs ?? 30_000;
    if (!(timeoutMs > 0)) return Promise.reject(new FerryClientError('INVALID_ARGUMENT', `timeoutMs must be positive, got ${timeoutMs}`));
    const connection = this.connection;
    // Not an async function: the request leaves in this turn, and the reply resolves the returned promise directly.
    if (connection === null || !connection.isOpen || this.context.connection !== connection) {
      return this.start().then(() => this.send(this.connection!, target, message, timeoutMs));
    }
    return this.send(connection, target, message, timeoutMs);
  }

  private send(connection: ClientConnection, target: RequestTarget, message: MessageLike, timeoutMs: number): Promise<ReceivedMessage> {
    const correlationId = this.prefix + (++this.correlationSequence).toString(36);
    let wire: WireMessage;
    let exchange: string;
    try {
      const input: MessageInput = typeof message === 'string' || message instanceof Uint8Array ? { body: message } : message;
      exchange = typeof target === 'string' ? '' : target.exchange;
      const routingKey = typeof target === 'string' ? target : (target.routingKey ?? '');
      wire = encodeMessageInput(
        {
          ...input,
          persistent: input.persistent ?? false,
          properties: { expirationMs: timeoutMs, ...input.properties, replyTo: this.replyQueue, correlationId },
        },
        exchange,
        routingKey,
      );
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<ReceivedMessage>((resolve, reject) => {
      const pending = new PendingRequest(this, correlationId, resolve, reject);
      pending.timer = setTimeout(() => {
        this.settle(correlationId)?.reject(new FerryClientError('TIMEOUT', `no reply to request ${correlationId} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(correlationId, pending);
      connection.send('publish', this.channel, { exchange, mandatory: true, messages: [wire] }, pending);
    });
  }

  /** @internal Removes and returns a pending request (undefined once settled). */
  settle(correlationId: string): PendingRequest | undefined {
    const pending = this.pending.get(correlationId);
    if (pending === undefined) return undefined;
    this.pending.delete(correlationId);
    clearTimeout(pending.timer);
    return pending;
  }

  /** Declares the reply queue and consumes it (once per connection). */
  private start(): Promise<void> {
    this.starting ??= (async () => {
      try {
        await this.setUp(await this.context.whenOpen());
      } finally {
        this.starting = null;
      }
    })();
    return this.starting;
  }

  private async setUp(connection: ClientConnection): Promise<void> {
    const { channel, opened } = connection.openChannel();
    this.context.setChannelOwner(connection, channel, this);
    const declared = connection.call('queueDeclare', channel, { name: '', options: { exclusive: true, autoDelete: true, durable: false } });
    declared.catch(() => undefined);
    try {
      await opened;
      const { name } = await declared;
      await connection.call('subscribe', channel, { source: name, group: '', tag: `reply-${name}`, prefetch: 0, autoAck: true, exclusive: true, priority: 0 });
      this.replyQueue = name;
      this.channel = channel;
      this.connection = connection;
    } catch (error) {
      this.context.setChannelOwner(connection, channel, null);
      void connection.closeChannel(channel).catch(() => undefined);
      throw toClientError(error);
    }
  }

  /** @internal */
  pushed(name: FrameName, frame: RawFrame): void {
    if (name !== 'deliver') return;
    for (const reply of decodeDeliver(frame.payload, null).messages) {
      const correlationId = reply.properties.correlationId;
      // A reply to a request that timed out (or to nothing we sent) is dropped.
      if (correlationId !== undefined) this.settle(correlationId)?.resolve(reply);
    }
  }

  /** @internal */
  channelClosed(error: FerryClientError): void {
    this.connection = null;
    this.failAll(error);
  }

  /** @internal The reply queue is set up again lazily, by the next request. */
  async recover(): Promise<void> {}

  /** @internal */
  connectionLost(error: FerryClientError): void {
    this.connection = null;
    this.failAll(new FerryClientError('CONNECTION_LOST', 'the connection was lost before the reply came', { cause: error }));
  }

  /** @internal */
  clientClosed(error: FerryClientError | null): void {
    this.connection = null;
    this.failAll(error ?? new FerryClientError('CONNECTION_CLOSED', 'the client closed before the reply came'));
  }

  private failAll(error: FerryClientError): void {
    for (const correlationId of [...this.pending.keys()]) this.settle(correlationId)?.reject(error);
  }
}
