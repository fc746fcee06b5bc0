import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { decodeFrame, type FrameName, type RawFrame } from '../protocols/native/codec/index.js';
import type { ClientConnection } from './client-connection.js';
import { RecoveryOrder, type ChannelOwner, type ClientContext, type ClientResource } from './client-context.js';
import { FerryClientError, toClientError } from './ferry-client-error.js';
import { InboundBuffer } from './inbound-buffer.js';
import type { StreamEntry } from './incoming-message.js';
import { decodeStreamDeliver } from './message-batch-decoder.js';
import { wireOffsetSpec, type OffsetSpec } from './offset-spec.js';

/** Options of {@link FerryClient.consumerGroup}. */
export interface ConsumerGroupOptions {
  /** This member's id in the group (default a random one). Unique within the group. */
  readonly member?: string;
  /** Without a heartbeat for this long the server removes the member (default: the server's, 45 s). */
  readonly sessionTimeoutMs?: number;
  /** How often the member heartbeats (default a third of the session timeout, at most 3 s). */
  readonly heartbeatIntervalMs?: number;
  /** Commit processed offsets every `autoCommitIntervalMs` and when partitions are revoked or the member closes (default true). */
  readonly autoCommit?: boolean;
  /** Default 1,000 ms. */
  readonly autoCommitIntervalMs?: number;
  /** Where a partition with no committed offset starts (default 'first'). */
  readonly from?: OffsetSpec;
  /** Entries the server may send ahead per partition (default 500). */
  readonly credit?: number;
}

/** Events of a {@link GroupConsumer}. */
export interface GroupConsumerEvents {
  /** The member now owns these partitions and reads them from their committed offsets. */
  assigned: [partitions: readonly number[]];
  /** These partitions were taken away: the member stopped reading them, committed (with auto-commit) and confirmed. */
  revoked: [partitions: readonly number[]];
  /** The server removed the member from these partitions without a revocation (session expired, connection lost). */
  lost: [partitions: readonly number[]];
  /** A failure nobody awaits (a commit or heartbeat that failed). */
  error: [error: FerryClientError];
}

interface OwnedPartition {
  readonly partition: number;
  subscriptionId: number | undefined;
  /** Offset of the next entry to hand out. */
  nextOffset: number | undefined;
  /** Offset after the last entry the application finished (moved past). */
  doneOffset: number | undefined;
  /** The offset last committed (or loaded as committed). */
  committedOffset: number | undefined;
  takenSinceGrant: number;
  active: boolean;
}

/**
 * A member of a consumer group of a stream: the server assigns it
 * partitions (cooperatively: a partition moves only after its previous
 * owner stopped), and `for await (const entry of member)` yields the entries
 * of every partition it owns, each partition from its committed offset.
 *
 * An entry counts as processed once the iterator is asked for the next one;
 * auto-commit (on by default) commits processed offsets periodically, on
 * revocation and on close, so consumption is at least once: an entry being
 * processed when the member stops is read again by the next owner (commit it
 * yourself with {@link commit} to avoid that). On revocation the member
 * stops reading the partitions, drops their buffered entries, commits, and
 * confirms to the server (`groupRevoked`). After a reconnect it joins again.
 */
export class GroupConsumer extends InboundBuffer<StreamEntry> implements ClientResource, ChannelOwner {
  readonly recoveryOrder = RecoveryOrder.CONSUMER;
  /** This member's id. */
  readonly member: string;
  private readonly events = new EventEmitter();
  private readonly sessionTimeoutMs: number;
  private readonly heartbeatIntervalMs: number;
  private readonly autoCommit: boolean;
  private readonly autoCommitIntervalMs: number;
  private readonly from: OffsetSpec;
  private readonly credit: number;
  private connection: ClientConnection | null = null;
  private channel = 0;
  private generationNumber = 0;
  private readonly owned = new Map<number, OwnedPartition>();
  private readonly subscriptions = new Map<number, OwnedPartition>();
  private lastHanded: StreamEntry | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private commitTimer: NodeJS.Timeout | undefined;
  private assignments: Promise<void> = Promise.resolve();
  private closing: Promise<void> | null = null;

  private constructor(
    private readonly context: ClientContext,
    readonly stream: string,
    readonly group: string,
    options: ConsumerGroupOptions,
  ) {
    const credit = options.credit ?? 500;
    if (!Number.isInteger(credit) || credit < 1) throw new FerryClientError('INVALID_ARGUMENT', `credit must be a positive integer, got ${credit}`);
    super(credit * 4);
    this.credit = credit;
    this.member = options.member ?? `member-${randomUUID()}`;
    this.sessionTimeoutMs = options.sessionTimeoutMs ?? 0;
    this.heartbeatIntervalMs = options.heartbeatIntervalMs ?? Math.min(3_000, this.sessionTimeoutMs > 0 ? Math.max(1, Math.floor(this.sessionTimeoutMs / 3)) : 3_000);
    this.autoCommit = options.autoCommit ?? true;
    this.autoCommitIntervalMs = options.autoCommitIntervalMs ?? 1_000;
    this.from = options.from ?? 'first';
    wireOffsetSpec(this.from);
  }

  /** @internal Joins the group; resolves once joined and the first partitions are subscribed. */
  static async start(context: ClientContext, stream: string, group: string, options: ConsumerGroupOptions): Promise<GroupConsumer> {
    const consumer = new GroupConsumer(context, stream, group, options);
    await consumer.join(await context.whenOpen());
    context.register(consumer);
    return consumer;
  }

  /** The group generation of the last assignment. */
  get generation(): number {
    return this.generationNumber;
  }

  /** Partitions this member owns now, ascending. */
  get partitions(): readonly number[] {
    return [...this.owned.keys()].sort((left, right) => left - right);
  }

  /** Listens to an event (`assigned`, `revoked`, `lost`, `error`). */
  on<E extends keyof GroupConsumerEvents>(event: E, listener: (...args: GroupConsumerEvents[E]) => void): this {
    this.events.on(event, listener as (...args: unknown[]) => void);
    return this;
  }

  /** Stops listening. */
  off<E extends keyof GroupConsumerEvents>(event: E, listener: (...args: GroupConsumerEvents[E]) => void): this {
    this.events.off(event, listener as (...args: unknown[]) => void);
    return this;
  }

  /**
   * Commits `offset` (the next offset to read) for `partition`, or the
   * position after `entry`. Resolves once the commit is durable. Fails with
   * NOT_PARTITION_OWNER when the member no longer owns the partition.
   */
  async commit(partitionOrEntry: number | StreamEntry, offset?: number): Promise<void> {
    const partition = typeof partitionOrEntry === 'number' ? partitionOrEntry : partitionOrEntry.partition;
    const next = typeof partitionOrEntry === 'number' ? offset : partitionOrEntry.offset + 1;
    if (next === undefined || !Number.isSafeInteger(next) || next < 0) throw new FerryClientError('INVALID_ARGUMENT', `commit needs an offset, got ${String(next)}`);
    const connection = this.connection ?? (await this.context.whenOpen());
    await connection.call('groupCommit', this.channel, { ...this.identity(), partition, offset: next, generation: -1 }).catch((error: unknown) => {
      throw toClientError(error);
    });
    const state = this.owned.get(partition);
    if (state !== undefined) state.committedOffset = Math.max(state.committedOffset ?? 0, next);
  }

  /** Commits the processed position of every owned partition that moved since its last commit. */
  async commitProcessed(): Promise<void> {
    const connection = this.connection;
    if (connection === null || !connection.isOpen) return;
    const commits: Promise<unknown>[] = [];
    for (const state of this.owned.values()) {
      const done = state.doneOffset;
      if (done === undefined || (state.committedOffset !== undefined && done <= state.committedOffset)) continue;
      commits.push(
        connection.call('groupCommit', this.channel, { ...this.identity(), partition: state.partition, offset: done, generation: -1 }).then(() => {
          state.committedOffset = Math.max(state.committedOffset ?? 0, done);
        }),
      );
    }
    await Promise.all(commits);
  }

  /** The group's committed offsets, by partition (partitions with none are absent). */
  async committed(): Promise<Map<number, number>> {
    const connection = this.connection ?? (await this.context.whenOpen());
    const { offsets } = await connection.call('groupCommitted', this.channel, { stream: this.stream, group: this.group });
    const map = new Map<number, number>();
    offsets.forEach((offset, partition) => {
      if (offset >= 0) map.set(partition, offset);
    });
    return map;
  }

  /** Leaves the group (committing first, with auto-commit) and closes the member's channel; the iterator ends. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.context.unregister(this);
      this.stopTimers();
      this.end(null);
      const connection = this.connection;
      if (connection === null || !connection.isOpen) return;
      try {
        await this.assignments;
        if (this.autoCommit) await this.commitProcessed().catch((error: unknown) => this.reportError(error));
        await connection.call('groupLeave', this.channel, { stream: this.stream, group: this.group, member: this.member });
        await connection.closeChannel(this.channel);
      } catch {
        // Gone already.
      } finally {
        this.context.setChannelOwner(connection, this.channel, null);
      }
    })();
    return this.closing;
  }

  override next(): Promise<IteratorResult<StreamEntry>> {
    this.markDone();
    return super.next();
  }

  protected stop(): Promise<void> {
    return this.close();
  }

  protected holdReading(): void {
    // Credit bounds what the server sends per partition.
  }

  protected override taken(entry: StreamEntry): void {
    this.markDone();
    this.lastHanded = entry;
    const state = this.owned.get(entry.partition);
    if (state === undefined) return;
    state.nextOffset = entry.offset + 1;
    if (++state.takenSinceGrant * 2 >= this.credit && state.subscriptionId !== undefined && this.connection?.isOpen) {
      this.connection.notify('streamCredit', this.channel, { subscriptionId: state.subscriptionId, credit: state.takenSinceGrant });
      state.takenSinceGrant = 0;
    }
  }

  /** The entry handed out last is processed: the application asked for the next one. */
  private markDone(): void {
    const entry = this.lastHanded;
    if (entry === undefined) return;
    this.lastHanded = undefined;
    const state = this.owned.get(entry.partition);
    if (state !== undefined && state.active) state.doneOffset = Math.max(state.doneOffset ?? 0, entry.offset + 1);
  }

  private identity(): { stream: string; group: string; member: string } {
    return { stream: this.stream, group: this.group, member: this.member };
  }

  private async join(connection: ClientConnection): Promise<void> {
    const { channel, opened } = connection.openChannel();
    this.connection = connection;
    this.channel = channel;
    this.context.setChannelOwner(connection, channel, this);
    const joined = connection.call('groupJoin', channel, { ...this.identity(), sessionTimeoutMs: this.sessionTimeoutMs });
    joined.catch(() => undefined);
    try {
      await opened;
      const { generation, partitions } = await joined;
      this.generationNumber = generation;
      await this.enqueueAssignment(() => this.assign(connection, partitions));
    } catch (error) {
      this.context.setChannelOwner(connection, channel, null);
      void connection.closeChannel(channel).catch(() => undefined);
      throw toClientError(error);
    }
    this.startTimers(connection);
  }

  /** Assignment changes are handled one after another, in the order they came. */
  private enqueueAssignment(work: () => Promise<void>): Promise<void> {
    const next = this.assignments.then(work);
    this.assignments = next.catch((error: unknown) => this.reportError(error));
    return next;
  }

  private async assign(connection: ClientConnection, partitions: readonly number[]): Promise<void> {
    const added = partitions.filter((partition) => !this.owned.has(partition));
    if (added.length === 0 || this.closing !== null) return;
    const states = added.map((partition): OwnedPartition => ({
      partition,
      subscriptionId: undefined,
      nextOffset: undefined,
      doneOffset: undefined,
      committedOffset: undefined,
      takenSinceGrant: 0,
      active: true,
    }));
    for (const state of states) this.owned.set(state.partition, state);
    const { offsets } = await connection.call('groupCommitted', this.channel, { stream: this.stream, group: this.group });
    await Promise.all(
      states.map(async (state) => {
        const committed = offsets[state.partition];
        const from = committed !== undefined && committed >= 0 ? { offset: committed } : this.from;
        if (committed !== undefined && committed >= 0) state.committedOffset = committed;
        const answer = await connection.call('streamSubscribe', this.channel, { stream: this.stream, partition: state.partition, from: wireOffsetSpec(from), credit: this.credit });
        state.subscriptionId = answer.subscriptionId;
        state.nextOffset ??= answer.offset;
        state.doneOffset ??= answer.offset;
        this.subscriptions.set(answer.subscriptionId, state);
        if (!state.active) connection.notify('streamUnsubscribe', this.channel, { subscriptionId: answer.subscriptionId });
      }),
    );
    this.events.emit('assigned', added);
  }

  private async revoke(connection: ClientConnection, partitions: readonly number[]): Promise<void> {
    const states = partitions.map((partition) => this.owned.get(partition)).filter((state): state is OwnedPartition => state !== undefined);
    for (const state of states) this.stopPartition(connection, state);
    if (this.autoCommit) {
      await Promise.all(
        states
          .filter((state) => state.doneOffset !== undefined && (state.committedOffset === undefined || state.doneOffset > state.committedOffset))
          .map((state) =>
            connection
              .call('groupCommit', this.channel, { ...this.identity(), partition: state.partition, offset: state.doneOffset!, generation: -1 })
              .catch((error: unknown) => this.reportError(error)),
          ),
      );
    }
    for (const state of states) this.owned.delete(state.partition);
    await connection.call('groupRevoked', this.channel, { ...this.identity(), partitions });
    this.events.emit('revoked', partitions);
  }

  private lose(connection: ClientConnection | null, partitions: readonly number[]): void {
    const lost: number[] = [];
    for (const partition of partitions) {
      const state = this.owned.get(partition);
      if (state === undefined) continue;
      this.stopPartition(connection, state);
      this.owned.delete(partition);
      lost.push(partition);
    }
    if (lost.length > 0) this.events.emit('lost', lost);
  }

  /** Stops reading a partition and drops its buffered entries. */
  private stopPartition(connection: ClientConnection | null, state: OwnedPartition): void {
    state.active = false;
    if (state.subscriptionId !== undefined) {
      this.subscriptions.delete(state.subscriptionId);
      if (connection !== null && connection.isOpen) connection.notify('streamUnsubscribe', this.channel, { subscriptionId: state.subscriptionId });
    }
    this.clearBuffer((entry) => entry.partition === state.partition);
    if (this.lastHanded?.partition === state.partition) this.lastHanded = undefined;
  }

  private startTimers(connection: ClientConnection): void {
    this.stopTimers();
    this.heartbeatTimer = setInterval(() => {
      if (!connection.isOpen) return;
      connection.call('groupHeartbeat', this.channel, this.identity()).catch((error: unknown) => {
        const failure = toClientError(error);
        if (failure.code === 'UNKNOWN_MEMBER') void this.rejoin(connection);
        else if (failure.code !== 'CONNECTION_LOST') this.reportError(failure);
      });
    }, this.heartbeatIntervalMs);
    this.heartbeatTimer.unref();
    if (this.autoCommit) {
      this.commitTimer = setInterval(() => {
        this.commitProcessed().catch((error: unknown) => this.reportError(error));
      }, this.autoCommitIntervalMs);
      this.commitTimer.unref();
    }
  }

  private stopTimers(): void {
    clearInterval(this.heartbeatTimer);
    clearInterval(this.commitTimer);
  }

  /** The server removed the member: forget its partitions and join again on the same channel. */
  private rejoin(connection: ClientConnection): Promise<void> {
    return this.enqueueAssignment(async () => {
      if (this.closing !== null || !connection.isOpen) return;
      this.lose(connection, [...this.owned.keys()]);
      const { generation, partitions } = await connection.call('groupJoin', this.channel, { ...this.identity(), sessionTimeoutMs: this.sessionTimeoutMs });
      this.generationNumber = generation;
      await this.assign(connection, partitions);
    });
  }

  private reportError(error: unknown): void {
    const failure = toClientError(error);
    if (failure.code === 'CONNECTION_LOST' || failure.code === 'CONNECTION_CLOSED') return;
    if (this.events.listenerCount('error') > 0) this.events.emit('error', failure);
    else this.context.reportError(failure);
  }

  /** @internal */
  pushed(name: FrameName, frame: RawFrame): void {
    const connection = this.connection;
    if (connection === null) return;
    if (name === 'streamDeliver') {
      // Routed by the entries' partition: the first entries may come before the subscribe answer names the subscription.
      for (const entry of decodeStreamDeliver(frame.payload).entries) if (this.owned.get(entry.partition)?.active === true) this.push(entry);
      return;
    }
    if (name !== 'groupAssignment') return;
    const push = decodeFrame('groupAssignment', frame.payload);
    if (push.stream !== this.stream || push.group !== this.group || push.member !== this.member) return;
    this.generationNumber = Math.max(this.generationNumber, push.generation);
    const removed = push.assigned.length === 0 && push.revoked.length === 0;
    void this.enqueueAssignment(async () => {
      if (push.lost.length > 0) this.lose(connection, push.lost);
      if (push.revoked.length > 0) await this.revoke(connection, push.revoked);
      if (push.assigned.length > 0) await this.assign(connection, push.assigned);
    });
    // A push with only lost partitions (or none at all) means the server removed the member.
    if (removed) void this.rejoin(connection);
  }

  /** @internal */
  channelClosed(error: FerryClientError): void {
    this.context.unregister(this);
    this.stopTimers();
    if (this.connection !== null) this.context.setChannelOwner(this.connection, this.channel, null);
    this.end(error);
  }

  /** @internal */
  async recover(connection: ClientConnection): Promise<void> {
    if (this.closing !== null) return;
    // The server may still hold the old member for a moment: retry a join refused with MEMBER_EXISTS.
    for (let attempt = 0; ; attempt++) {
      try {
        await this.join(connection);
        return;
      } catch (error) {
        if (!(error instanceof FerryClientError) || error.code !== 'MEMBER_EXISTS' || attempt >= 20) throw error;
        await new Promise((resolve) => setTimeout(resolve, Math.min(1_000, 50 * 2 ** attempt)));
      }
    }
  }

  /** @internal Commits what was processed (with auto-commit) before the client closes. */
  async drain(): Promise<void> {
    if (this.autoCommit) await this.commitProcessed().catch(() => undefined);
  }

  /** @internal */
  connectionLost(): void {
    this.stopTimers();
    this.assignments = Promise.resolve();
    this.lose(null, [...this.owned.keys()]);
    this.subscriptions.clear();
    this.clearBuffer();
    this.lastHanded = undefined;
    this.connection = null;
  }

  /** @internal */
  clientClosed(error: FerryClientError | null): void {
    this.stopTimers();
    this.end(error);
  }
}
