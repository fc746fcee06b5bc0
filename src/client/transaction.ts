import { ChannelAcks } from './channel-acks.js';
import type { ClientConnection } from './client-connection.js';
import type { ClientContext } from './client-context.js';
import { FerryClientError, toClientError } from './ferry-client-error.js';
import type { ReceivedMessage } from './incoming-message.js';
import { decodePullAnswer } from './message-batch-decoder.js';
import { encodeMessageInput, type MessageLike } from './message-input.js';

/** Options of {@link FerryClient.transaction}. */
export interface TransactionOptions {
  /** The server aborts the transaction if it is not committed within this time (default 60,000 ms). */
  readonly timeoutMs?: number;
}

/** The outcome of a committed transaction. */
export interface TransactionOutcome {
  /** Published messages that reached no queue or stream. */
  readonly unroutable: number;
  /** Queues that refused a message (overflow `reject-publish`). */
  readonly rejectedBy: readonly string[];
}

/** The consumer-group position a transaction commits: a {@link GroupConsumer} fits. */
export interface GroupPosition {
  readonly stream: string;
  readonly group: string;
  readonly member: string;
}

/**
 * A transaction on a channel of its own: publishes, appends, acks and
 * consumer-group commits staged here take effect together at
 * {@link commit}, durably, or not at all ({@link abort}, the timeout, or a
 * lost connection). For consume-transform-produce, receive with
 * {@link get} (delivery tags belong to a channel, so a transaction can ack
 * only what was delivered on its own channel), then `ack`, `publish` and
 * `commit`. A transaction is not carried over a reconnect: its calls reject
 * with CONNECTION_LOST and the server has aborted it.
 */
export class Transaction {
  private readonly staged: Promise<unknown>[] = [];
  private state: 'open' | 'finishing' | 'finished' = 'open';
  private readonly acks: ChannelAcks;

  private constructor(
    private readonly connection: ClientConnection,
    private readonly channel: number,
  ) {
    this.acks = new ChannelAcks(connection, channel, (error) => this.stage(Promise.reject(error)));
  }

  /** @internal Opens a channel and begins the transaction. */
  static async begin(context: ClientContext, options: TransactionOptions): Promise<Transaction> {
    const timeoutMs = options.timeoutMs ?? 0;
    if (!Number.isInteger(timeoutMs) || timeoutMs < 0) throw new FerryClientError('INVALID_ARGUMENT', `timeoutMs must be a non-negative integer, got ${timeoutMs}`);
    const connection = await context.whenOpen();
    const { channel, opened } = connection.openChannel();
    const begun = connection.call('transactionBegin', channel, { timeoutMs });
    begun.catch(() => undefined);
    try {
      await opened;
      await begun;
    } catch (error) {
      void connection.closeChannel(channel).catch(() => undefined);
      throw toClientError(error);
    }
    return new Transaction(connection, channel);
  }

  /** Stages a publish through `exchange` ("" = the default exchange: the routing key names the queue or stream). */
  publish(exchange: string, message: MessageLike): void {
    this.checkOpen();
    const wire = encodeMessageInput(message, exchange, '');
    this.stage(this.connection.call('publish', this.channel, { exchange, mandatory: false, messages: [wire] }));
  }

  /** Stages an append to `stream` (by key or spread unless `partition` is given). */
  append(stream: string, message: MessageLike, options: { readonly partition?: number } = {}): void {
    this.checkOpen();
    const wire = encodeMessageInput(message, '', stream);
    this.stage(this.connection.call('append', this.channel, { stream, partition: options.partition ?? -1, producerId: 0, epoch: 0, sequence: 0, messages: [wire] }));
  }

  /**
   * Pulls up to `max` messages from `queue` on the transaction's channel
   * (not staged: they are delivered now), so that they can be acked in it.
   */
  async get(queue: string, options: { readonly max?: number; readonly waitMs?: number } = {}): Promise<ReceivedMessage[]> {
    this.checkOpen();
    const answer = await this.connection.callRaw('pull', this.channel, { source: queue, group: '', max: options.max ?? 1, waitMs: options.waitMs ?? 0, visibilityTimeoutMs: 0, autoAck: false });
    return decodePullAnswer(answer, this.acks);
  }

  /** Stages the ack of a message received with this transaction's {@link get}. */
  ack(message: ReceivedMessage): void {
    this.checkOpen();
    if (message.channelAcks !== this.acks) {
      throw new FerryClientError('INVALID_ARGUMENT', 'a transaction acks only messages received with its own get() (delivery tags belong to a channel)');
    }
    message.ack();
  }

  /** Stages a consumer-group commit: `offset` is the next offset to read in `partition`. */
  commitOffset(position: GroupPosition, partition: number, offset: number): void {
    this.checkOpen();
    this.stage(
      this.connection.call('groupCommit', this.channel, { stream: position.stream, group: position.group, member: position.member, partition, offset, generation: -1 }),
    );
  }

  /**
   * Makes everything staged take effect, atomically; resolves once it is
   * durable. If any staged operation was refused, the transaction is aborted
   * and that error is thrown. CONNECTION_LOST when the connection went away
   * (if the commit was sent, its outcome is unknown).
   */
  async commit(): Promise<TransactionOutcome> {
    this.checkOpen();
    this.state = 'finishing';
    try {
      this.acks.flush();
      const results = await Promise.allSettled([...this.staged, this.acks.settled()]);
      const refused = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
      if (refused !== undefined) {
        await this.connection.call('transactionAbort', this.channel, {}).catch(() => undefined);
        throw toClientError(refused.reason);
      }
      const { unroutable, rejectedBy } = await this.connection.call('transactionCommit', this.channel, {});
      return { unroutable, rejectedBy };
    } catch (error) {
      throw toClientError(error);
    } finally {
      await this.finish();
    }
  }

  /** Discards everything staged; acked messages stay unacked (they return to their queue when the channel closes). */
  async abort(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'finishing';
    // Acks staged in this turn are not sent at all: the abort discards them anyway.
    this.acks.markStale();
    try {
      await this.connection.call('transactionAbort', this.channel, {}).catch(() => undefined);
    } finally {
      await this.finish();
    }
  }

  private async finish(): Promise<void> {
    this.state = 'finished';
    this.acks.markStale();
    await this.connection.closeChannel(this.channel).catch(() => undefined);
  }

  private stage(request: Promise<unknown>): void {
    request.catch(() => undefined);
    this.staged.push(request);
  }

  private checkOpen(): void {
    if (this.state !== 'open') throw new FerryClientError('TRANSACTION_CLOSED', 'the transaction was committed or aborted already');
    if (!this.connection.isOpen) throw new FerryClientError('CONNECTION_LOST', 'the connection of the transaction was lost; the server aborted it');
  }
}
