import { concatenate } from '../../lib/concatenate.js';
import { FerryError, isFerryError } from '../../lib/ferry-error.js';
import { SequenceMap } from '../../lib/sequence-map.js';
import type { Clock } from '../../platform/clock.js';
import type { Principal } from '../../core/access/access-control.js';
import type { ChannelDescription } from '../../core/connections/connection-registry.js';
import type { Message, MessageProperties } from '../../core/message/message.js';
import type { Delivery } from '../../core/queue/delivery.js';
import { LAZY_ACK, type Queue } from '../../core/queue/queue.js';
import type { HeaderTable } from '../../core/routing/header-value.js';
import type { Stream, StreamEntry } from '../../core/stream/stream.js';
import { lockedQueueMessage, type VirtualHost } from '../../core/vhost/virtual-host.js';
import type { AccessControl } from '../../core/access/access-control.js';
import { AmqpProtocolError } from './codec/amqp-protocol-error.js';
import { fieldTableToHeaderTable, type FieldTable } from './codec/field-table.js';
import type { DeliverSender } from './codec/frame-codec.js';
import type { AnyDecodedMethod, BasicPropertiesInput, ContentHeader } from './codec/method-codec.js';
import { BASIC_CLASS_ID } from './codec/spec.js';
import { fromBasicProperties, toBasicProperties, type MappedProperties } from './message-properties.js';
import { isStreamDeclaration, queueConfigFromArguments, RABBITMQ_TYPE_NAMES, streamConfigFromArguments } from './queue-arguments.js';
import { offsetSpecFromArgument, StreamConsumer } from './stream-consumer.js';

/** What a channel needs from its connection. */
export interface ChannelHost {
  readonly connectionId: string;
  readonly vhost: VirtualHost;
  readonly access: AccessControl;
  readonly principal: Principal;
  /** Wall time for `x-stream-offset` intervals. */
  readonly clock: Clock;
  /** Sends a method frame on this channel. */
  sendMethod(channel: number, name: string, fields: Record<string, unknown>): void;
  /** Sends a method with content (get-ok, return). */
  sendContent(channel: number, name: string, fields: Record<string, unknown>, properties: Record<string, unknown>, body: Uint8Array): void;
  /** Sends basic.deliver with its content. */
  readonly sendDeliver: DeliverSender;
  /** True while the socket's outgoing buffer is too full for more deliveries. */
  outgoingFull(): boolean;
  /** Direct reply-to: the consumer registry shared by every connection of the server. */
  readonly replyTo: DirectReplyTo;
  /** A failure outside a method's handling (a background settlement): closes the channel or connection. */
  channelFailed(channel: AmqpChannel, error: unknown): void;
}

/** Routes direct reply-to responses (`amq.rabbitmq.reply-to.<token>`) to the requesting channel. */
export class DirectReplyTo {
  static readonly QUEUE = 'amq.rabbitmq.reply-to';
  private readonly targets = new Map<string, (message: ReplyMessage) => void>();
  private sequence = 0;

  /** Registers a channel's reply consumer; returns its token. */
  register(deliver: (message: ReplyMessage) => void): string {
    const token = `g${(++this.sequence).toString(36)}.${Math.random().toString(36).slice(2, 12)}`;
    this.targets.set(token, deliver);
    return token;
  }

  unregister(token: string): void {
    this.targets.delete(token);
  }

  /**
   * True for the pseudo-queue's own name and for the reply address of a requester still
   * there: what queue.declare finds (RabbitMQ answers those with declare-ok, 0 messages, 1 consumer).
   */
  exists(queueName: string): boolean {
    return queueName === DirectReplyTo.QUEUE || (queueName.startsWith(`${DirectReplyTo.QUEUE}.`) && this.targets.has(queueName.slice(DirectReplyTo.QUEUE.length + 1)));
  }

  /** Delivers a reply; false when the requester is gone. */
  deliver(routingKey: string, message: ReplyMessage): boolean {
    const target = this.targets.get(routingKey.slice(DirectReplyTo.QUEUE.length + 1));
    if (!target) return false;
    target(message);
    return true;
  }
}

/** A reply delivered through direct reply-to. */
export interface ReplyMessage {
  readonly exchange: string;
  readonly routingKey: string;
  readonly properties: Record<string, unknown>;
  readonly body: Uint8Array;
}

/** An unacknowledged delivery: from a queue, or from a stream (settling it only returns the consumer's credit). */
type Unacked = QueueDelivery | { readonly streamConsumer: StreamConsumer };

interface QueueDelivery {
  readonly queue: Queue;
  readonly deliveryId: number;
  readonly consumerTag: string | undefined;
}

/** Consecutive publishes whose confirms wait for the same durable write. */
interface ConfirmGroup {
  readonly durable: Promise<void>;
  readonly first: number;
  last: number;
}

/**
 * The arguments (with their wire types) of the queue.declare that made each queue, for the
 * text of a refused redeclaration; forgotten with the queue, and not kept over a restart.
 */
const declaredArgumentTypes = new WeakMap<Queue, FieldTable>();

const CONFIRM_WAITING = 0;
const CONFIRM_ACK = 1;
const CONFIRM_NACK = 2;
/** Settled confirms at the head of a ConfirmOrder's array that it drops at once, not each as it is taken. */
const CONFIRM_TRIM_MIN = 1024;

/**
 * Publisher confirm states by tag, in publish order. Tags are consecutive
 * from 1, so a tag's state is found by index, not by search: the state of
 * tag `base + i` is at `states[head + i]`.
 */
class ConfirmOrder {
  private states: number[] = [];
  private head = 0;
  private base = 1;

  /** Tag `tag`, the next one, waits for its outcome. */
  waitFor(tag: number): void {
    this.slot(tag);
  }

  /** Tag `tag` (waiting, or the next one, settled at once) is settled. */
  settle(tag: number, ack: boolean): void {
    this.states[this.slot(tag)] = ack ? CONFIRM_ACK : CONFIRM_NACK;
  }

  /** The tag of the oldest confirm once settled (negated for a nack), removed; 0 when it still waits (or none is left). */
  takeSettled(): number {
    const states = this.states;
    if (this.head === states.length) return 0;
    const state = states[this.head]!;
    if (state === CONFIRM_WAITING) return 0;
    const tag = this.base++;
    this.head++;
    if (this.head === states.length) {
      states.length = 0;
      this.head = 0;
    } else if (this.head >= CONFIRM_TRIM_MIN && this.head * 2 >= states.length) {
      states.splice(0, this.head);
      this.head = 0;
    }
    return state === CONFIRM_ACK ? tag : -tag;
  }

  private slot(tag: number): number {
    const index = this.head + tag - this.base;
    while (this.states.length <= index) this.states.push(CONFIRM_WAITING);
    return index;
  }
}

/** The settlement of acked deliveries (one function for every ack, not a closure each). */
function ackDeliveries(queue: Queue, ids: number[]): Promise<void> {
  return queue.ack(ids);
}

/** The publish whose content is being assembled: one at a time per channel, so each channel reuses one. */
class PendingPublish {
  exchange = '';
  routingKey = '';
  mandatory = false;
  header: ContentHeader | null = null;
  /** The first body frame's bytes (most messages have one), then the others. */
  first: Uint8Array | null = null;
  readonly rest: Uint8Array[] = [];
  received = 0;

  start(exchange: string, routingKey: string, mandatory: boolean): this {
    this.exchange = exchange;
    this.routingKey = routingKey;
    this.mandatory = mandatory;
    // A publish given up half-way (a channel error) may have left content behind.
    this.header = null;
    this.first = null;
    this.rest.length = 0;
    this.received = 0;
    return this;
  }

  /** The whole body; forgets the content (the object is reused). */
  takeBody(): Uint8Array {
    const first = this.first;
    const body = first === null ? new Uint8Array(0) : this.rest.length === 0 ? first : concatenate([first, ...this.rest], this.received);
    this.header = null;
    this.first = null;
    this.rest.length = 0;
    return body;
  }
}

interface ChannelConsumer {
  readonly tag: string;
  readonly queue: Queue;
  readonly noAck: boolean;
}

/**
 * One AMQP channel: its consumers, unacknowledged deliveries, publisher
 * confirms, transactions and the content being assembled. Errors thrown by
 * handlers become channel.close or connection.close in the connection.
 */
/** A publish held until tx.commit. */
interface TxPublish {
  readonly exchange: string;
  readonly routingKey: string;
  readonly mandatory: boolean;
  readonly mapped: ReturnType<typeof fromBasicProperties>;
  readonly body: Uint8Array;
  readonly rawProperties: Record<string, unknown>;
}

/** An ack, nack or reject held until tx.commit. */
interface TxSettlement {
  readonly tags: number[];
  readonly action: (queue: Queue, ids: number[]) => Promise<void>;
  readonly ack: boolean;
}

export class AmqpChannel {
  private pending: PendingPublish | null = null;
  private readonly assembly = new PendingPublish();
  /** Unsettled deliveries by delivery tag (tags only grow: a window array, not a hash table). */
  private readonly unacked = new SequenceMap<Unacked>();
  private deliveryTag = 0;
  private readonly consumers = new Map<string, ChannelConsumer>();
  /** Consumers of stream queues, by tag (tags are unique across both maps). */
  private readonly streamConsumers = new Map<string, StreamConsumer>();
  private prefetchCount = 0;
  private globalPrefetch = 0;
  private confirming = false;
  private publishSequence = 0;
  private transactional = false;
  private txPublishes: TxPublish[] = [];
  private txSettlements: TxSettlement[] = [];
  private replyToken: string | null = null;
  private flowPaused = false;
  /** Confirms waiting for earlier ones (acks go out in publish order). */
  private readonly confirms = new ConfirmOrder();
  /** The latest publishes waiting for one durable write, or null. */
  private confirmGroup: ConfirmGroup | null = null;
  closing = false;

  constructor(
    readonly number: number,
    private readonly host: ChannelHost,
  ) {}

  // ---------------------------------------------------------------- content assembly

  /** The channel as operators see it (management API). */
  describe(): ChannelDescription {
    return {
      number: this.number,
      consumers: [
        ...[...this.consumers.values()].map((consumer) => ({ tag: consumer.tag, queue: consumer.queue.name })),
        ...[...this.streamConsumers.values()].map((consumer) => ({ tag: consumer.tag, queue: consumer.stream.name })),
      ].map((consumer) => ({ ...consumer, queueTag: `${this.host.connectionId}/${this.number}/${consumer.tag}` })),
      unacknowledged: this.unacked.size,
      prefetch: this.prefetchCount,
      confirm: this.confirming,
      transactional: this.transactional,
    };
  }

  /** True while a publish waits for its header or body frames. */
  expectsContent(): boolean {
    return this.pending !== null;
  }

  /** A content header frame for the publish in progress. */
  onHeader(header: ContentHeader): void {
    const pending = this.pending;
    if (!pending || pending.header) throw new AmqpProtocolError(505, `unexpected content header on channel ${this.number}`);
    if (header.classId !== BASIC_CLASS_ID) throw new AmqpProtocolError(505, `content header of class ${header.classId}`);
    pending.header = header;
    if (Number(header.bodySize) === 0) this.completePublish();
  }

  /** A body frame for the publish in progress: its payload is `bytes[start, end)`. */
  onBody(bytes: Uint8Array, start: number, end: number, messageBytesMax: number): void {
    const pending = this.pending;
    if (!pending || !pending.header) throw new AmqpProtocolError(505, `unexpected content body on channel ${this.number}`);
    const size = Number(pending.header.bodySize);
    if (size > messageBytesMax) {
      this.pending = null;
      throw new FerryError('MESSAGE_TOO_LARGE', `message size ${size} is larger than the configured maximum ${messageBytesMax}`);
    }
    // The payload is a view into the socket's chunk: copy it, into Node's buffer pool (cheaper than
    // an ArrayBuffer of its own), so a message kept in a queue does not keep the whole chunk alive.
    const copy = Buffer.allocUnsafe(end - start);
    copy.set(bytes.subarray(start, end));
    if (pending.first === null) pending.first = copy;
    else pending.rest.push(copy);
    pending.received += end - start;
    if (pending.received > size) throw new AmqpProtocolError(501, `body frames carry ${pending.received} bytes, the header said ${size}`);
    if (pending.received === size) this.completePublish();
  }

  private completePublish(): void {
    const pending = this.pending!;
    this.pending = null;
    const rawProperties = pending.header!.properties as Record<string, unknown>;
    const body = pending.takeBody();
    const mapped = fromBasicProperties(rawProperties);
    if (mapped.properties.userId !== undefined && mapped.properties.userId !== this.host.principal.user) {
      throw new FerryError('PRECONDITION_FAILED', `user_id property set to '${mapped.properties.userId}' but authenticated user was '${this.host.principal.user}'`);
    }
    if (this.transactional) this.txPublishes.push({ exchange: pending.exchange, routingKey: pending.routingKey, mandatory: pending.mandatory, mapped, body, rawProperties });
    else this.publish(pending.exchange, pending.routingKey, pending.mandatory, mapped, body, rawProperties);
  }

  private publish(
    exchange: string,
    routingKey: string,
    mandatory: boolean,
    mapped: ReturnType<typeof fromBasicProperties>,
    body: Uint8Array,
    rawProperties: Record<string, unknown>,
  ): void {
    const tag = this.confirming ? ++this.publishSequence : 0;
    let properties = mapped.properties;
    if (properties.replyTo === DirectReplyTo.QUEUE) {
      if (this.replyToken === null) throw new FerryError('PRECONDITION_FAILED', 'fast reply consumer does not exist');
      properties = { ...properties, replyTo: `${DirectReplyTo.QUEUE}.${this.replyToken}` };
    }
    if (exchange === '' && routingKey.startsWith(`${DirectReplyTo.QUEUE}.`)) {
      // Direct reply-to: straight to the requesting channel, never through a queue.
      const delivered = this.host.replyTo.deliver(routingKey, { exchange, routingKey, properties: rawProperties, body });
      if (!delivered && mandatory) this.sendReturn(312, 'NO_ROUTE', exchange, routingKey, rawProperties, body);
      if (tag) this.settleConfirms(tag, tag, true);
      return;
    }
    const outcome = this.host.vhost.publish(
      exchange,
      coreMessage(routingKey, properties, mapped, body),
      mapped.extraRoutingKeys !== undefined ? { extraRoutingKeys: mapped.extraRoutingKeys } : undefined,
    );
    if (!outcome.routed && mandatory) this.sendReturn(312, 'NO_ROUTE', exchange, routingKey, rawProperties, body);
    if (tag) this.awaitConfirm(tag, outcome.durable, outcome.rejectedBy.length > 0);
  }

  /**
   * Publish `tag` is confirmed once `durable` settles (nacked when a queue
   * rejected it). Consecutive publishes that wait for the same durable write
   * (the core's group commit) share one callback.
   */
  private awaitConfirm(tag: number, durable: Promise<void>, rejected: boolean): void {
    this.confirms.waitFor(tag);
    const group = this.confirmGroup;
    if (!rejected && group !== null && group.durable === durable && group.last === tag - 1) {
      group.last = tag;
      return;
    }
    const joined: ConfirmGroup = { durable, first: tag, last: tag };
    this.confirmGroup = rejected ? null : joined;
    const settle = (ack: boolean): void => {
      // Publishes after this point wait in a group of their own.
      if (this.confirmGroup === joined) this.confirmGroup = null;
      this.settleConfirms(joined.first, joined.last, ack);
    };
    durable.then(
      () => settle(!rejected),
      () => settle(false),
    );
  }

  /** Sends confirms in publish order, coalescing runs of acks into `multiple`. */
  private settleConfirms(first: number, last: number, ack: boolean): void {
    const confirms = this.confirms;
    for (let tag = first; tag <= last; tag++) confirms.settle(tag, ack);
    let lastAck = 0;
    for (let head = confirms.takeSettled(); head !== 0; head = confirms.takeSettled()) {
      if (head > 0) {
        lastAck = head;
        continue;
      }
      if (lastAck) this.host.sendMethod(this.number, 'basic.ack', { deliveryTag: lastAck, multiple: true });
      lastAck = 0;
      this.host.sendMethod(this.number, 'basic.nack', { deliveryTag: -head, multiple: false, requeue: false });
    }
    if (lastAck && !this.closing) this.host.sendMethod(this.number, 'basic.ack', { deliveryTag: lastAck, multiple: true });
  }

  private sendReturn(code: number, text: string, exchange: string, routingKey: string, properties: Record<string, unknown>, body: Uint8Array): void {
    this.host.sendContent(this.number, 'basic.return', { replyCode: code, replyText: text, exchange, routingKey }, properties, body);
  }

  // ---------------------------------------------------------------- methods

  /**
   * Handles one method: publishes and acknowledgements synchronously (they
   * answer nothing, so the frames behind them need not wait), the rest
   * through {@link handle}. Returns a promise only when the method must be
   * waited for.
   */
  dispatch(method: AnyDecodedMethod): Promise<void> | undefined {
    switch (method.name) {
      case 'basic.publish': {
        const { exchange, routingKey, mandatory, immediate } = method.fields;
        if (immediate) throw new AmqpProtocolError(540, 'immediate=true', { classId: 60, methodId: 40 });
        this.host.access.authorize(this.host.principal, this.host.vhost.name, 'write', exchange);
        this.host.vhost.router.requireExchange(exchange);
        this.pending = this.assembly.start(exchange, routingKey, mandatory);
        return undefined;
      }
      case 'basic.ack': {
        if (!method.fields.multiple && !this.transactional) {
          // The common case, a client acking delivery by delivery: no tag list.
          const tag = Number(method.fields.deliveryTag);
          if (!this.unacked.has(tag)) throw new FerryError('PRECONDITION_FAILED', `unknown delivery tag ${tag}`);
          this.gatherAck(tag);
          this.acksGathered();
          return undefined;
        }
        const tags = this.takeTags(method.fields.deliveryTag, method.fields.multiple);
        this.settleInBackground(tags, ackDeliveries, true);
        return undefined;
      }
      case 'basic.nack': {
        const tags = this.takeTags(method.fields.deliveryTag, method.fields.multiple);
        const requeue = method.fields.requeue;
        this.settleInBackground(tags, (queue, ids) => queue.nack(ids, requeue), false);
        return undefined;
      }
      case 'basic.reject': {
        const tags = this.takeTags(method.fields.deliveryTag, false);
        const requeue = method.fields.requeue;
        this.settleInBackground(tags, (queue, ids) => queue.nack(ids, requeue), false);
        return undefined;
      }
      default:
        return this.handle(method);
    }
  }

  /**
   * Settles without holding up the frames behind: an acknowledgement has no
   * reply, and the client may not assume it durable (a crash before it is
   * written only redelivers). A storage failure closes the channel.
   */
  private settleInBackground(tags: number[], action: (queue: Queue, ids: number[]) => Promise<void>, ack: boolean): void {
    if (ack && !this.transactional) {
      this.gatherAcks(tags);
      return;
    }
    this.flushAcks();
    this.settle(tags, action, ack).catch((error: unknown) => this.host.channelFailed(this, error));
  }

  /** Acks of this turn of the event loop, by queue: a client acking message by message costs one queue ack per turn. */
  private acksPending = new Map<Queue, number[]>();
  private acksFlushScheduled = false;
  private readonly flushAcksSoon = (): void => this.flushAcks();
  /** The map {@link acksPending} was before the last {@link flushAcks}, emptied for the next. */
  private spareAcks: Map<Queue, number[]> | null = null;

  private gatherAcks(tags: readonly number[]): void {
    for (const tag of tags) this.gatherAck(tag);
    this.acksGathered();
  }

  private gatherAck(tag: number): void {
    this.takeUnacked(tag, this.acksPending);
  }

  /**
   * Removes delivery `tag` (if still unacknowledged) and adds its id to
   * `byQueue`; acks, nacks and rejects of a stream delivery all just return
   * its consumer's credit, as in RabbitMQ.
   */
  private takeUnacked(tag: number, byQueue: Map<Queue, number[]>): void {
    const entry = this.unacked.get(tag);
    if (!entry) return;
    this.unacked.delete(tag);
    if ('streamConsumer' in entry) {
      entry.streamConsumer.settle();
      return;
    }
    const ids = byQueue.get(entry.queue);
    if (ids) ids.push(entry.deliveryId);
    else byQueue.set(entry.queue, [entry.deliveryId]);
  }

  /** After acks were gathered: the channel's flow, and the flush of this turn's acks. */
  private acksGathered(): void {
    if (this.globalPrefetch > 0) this.updateFlow();
    if (!this.acksFlushScheduled && this.acksPending.size > 0) {
      // After the current burst of work: the acks of every chunk read in this turn of the event loop settle together.
      this.acksFlushScheduled = true;
      this.host.clock.runSoon(this.flushAcksSoon);
    }
  }

  /** Applies the gathered acks now (before anything that could return those deliveries to their queues). */
  private flushAcks(): void {
    this.acksFlushScheduled = false;
    if (this.acksPending.size === 0) return;
    const pending = this.acksPending;
    // Two maps take turns (a new one only when an ack re-enters this loop).
    this.acksPending = this.spareAcks ?? new Map();
    this.spareAcks = null;
    for (const [queue, ids] of pending) {
      if (queue.isDeleted()) continue;
      // basic.ack has no reply: nobody waits for the ack to be logged.
      queue.ack(ids, LAZY_ACK).catch((error: unknown) => this.host.channelFailed(this, error));
    }
    pending.clear();
    this.spareAcks = pending;
  }

  /** Handles one method on this (open) channel. May be async (declarations wait for durability). */
  async handle(method: AnyDecodedMethod): Promise<void> {
    this.flushAcks();
    const vhost = this.host.vhost;
    const access = this.host.access;
    const principal = this.host.principal;
    const vhostName = vhost.name;
    switch (method.name) {
      case 'basic.qos': {
        const { prefetchSize, prefetchCount, global } = method.fields;
        // As RabbitMQ: a byte-based prefetch is not implemented (a connection error).
        if (prefetchSize !== 0) throw new AmqpProtocolError(540, `prefetch_size!=0 (${prefetchSize})`, { classId: 60, methodId: 10 });
        if (global) this.globalPrefetch = prefetchCount;
        else this.prefetchCount = prefetchCount;
        this.host.sendMethod(this.number, 'basic.qos-ok', {});
        this.updateFlow();
        return;
      }
      case 'basic.consume':
        return this.consume(method.fields);
      case 'basic.cancel': {
        const consumer = this.consumers.get(method.fields.consumerTag);
        if (consumer) this.cancelConsumer(consumer, false);
        this.streamConsumers.get(method.fields.consumerTag)?.stop();
        this.streamConsumers.delete(method.fields.consumerTag);
        if (!method.fields.noWait) this.host.sendMethod(this.number, 'basic.cancel-ok', { consumerTag: method.fields.consumerTag });
        return;
      }
      case 'basic.get': {
        const queueName = this.resolveQueueName(method.fields.queue);
        access.authorize(principal, vhostName, 'read', queueName);
        // RabbitMQ's stream queues refuse basic.get with 540 NOT_IMPLEMENTED (a connection error).
        if (vhost.findStream(queueName)) throw new AmqpProtocolError(540, `basic.get not supported by stream queues queue '${queueName}' in vhost '${vhost.name}'`, { classId: 60, methodId: 70 });
        const queue = vhost.queue(queueName);
        this.checkExclusive(queue);
        const [delivery] = await queue.pull({ max: 1, autoAck: method.fields.noAck, visibilityTimeoutMs: Number.POSITIVE_INFINITY });
        if (!delivery) {
          this.host.sendMethod(this.number, 'basic.get-empty', {});
          return;
        }
        const tag = ++this.deliveryTag;
        if (!method.fields.noAck) this.unacked.set(tag, { queue, deliveryId: delivery.id, consumerTag: undefined });
        const message = delivery.message;
        this.host.sendContent(
          this.number,
          'basic.get-ok',
          { deliveryTag: tag, redelivered: delivery.redelivered, exchange: message.exchange, routingKey: message.routingKey, messageCount: queue.messageCount() },
          deliveryProperties(queue, delivery, true) as Record<string, unknown>,
          message.body,
        );
        return;
      }
      case 'basic.recover':
      case 'basic.recover-async': {
        // Redelivering to the same consumer (requeue=false) is not implemented, as in RabbitMQ (a connection error).
        if (!method.fields.requeue) throw new AmqpProtocolError(540, 'requeue=false', { classId: method.classId, methodId: method.methodId });
        await this.settle([...this.unacked.keys()], (queue, ids) => queue.nack(ids, true, { returned: true }), false);
        if (method.name === 'basic.recover') this.host.sendMethod(this.number, 'basic.recover-ok', {});
        return;
      }
      case 'exchange.declare':
        return this.declareExchange(method.fields);
      case 'exchange.delete': {
        const { exchange, ifUnused, noWait: nowait } = method.fields;
        if (exchange.startsWith('amq.')) throw new FerryError('ACCESS_REFUSED', `deletion of system exchange '${exchange}' in vhost '${vhostName}' not allowed`);
        access.authorize(principal, vhostName, 'configure', exchange);
        // A missing exchange is deleted already: RabbitMQ answers delete-ok.
        if (vhost.router.getExchange(exchange)) await vhost.deleteExchange(exchange, { ifUnused });
        if (!nowait) this.host.sendMethod(this.number, 'exchange.delete-ok', {});
        return;
      }
      case 'exchange.bind':
      case 'exchange.unbind': {
        const { destination, source, routingKey, noWait: nowait } = method.fields;
        access.authorize(principal, vhostName, 'write', destination);
        access.authorize(principal, vhostName, 'read', source);
        const bindingArguments = fieldTableToHeaderTable(method.fields.arguments);
        if (method.name === 'exchange.bind') {
          vhost.router.requireExchange(destination);
          await vhost.bind(source, { kind: 'exchange', name: destination }, routingKey, bindingArguments);
          if (!nowait) this.host.sendMethod(this.number, 'exchange.bind-ok', {});
        } else {
          await vhost.unbind(source, { kind: 'exchange', name: destination }, routingKey, bindingArguments);
          if (!nowait) this.host.sendMethod(this.number, 'exchange.unbind-ok', {});
        }
        return;
      }
      case 'queue.declare':
        return this.declareQueue(method.fields);
      case 'queue.bind':
      case 'queue.unbind': {
        const queueName = this.resolveQueueName(method.fields.queue);
        const { exchange, routingKey } = method.fields;
        access.authorize(principal, vhostName, 'write', queueName);
        access.authorize(principal, vhostName, 'read', exchange);
        if (method.name === 'queue.unbind' && exchange !== '' && (!vhost.router.getExchange(exchange) || (!vhost.findQueue(queueName) && !vhost.findStream(queueName)))) {
          // As RabbitMQ: removing a binding whose queue or exchange is gone is done already.
          this.host.sendMethod(this.number, 'queue.unbind-ok', {});
          return;
        }
        // A missing exchange is named first, as RabbitMQ does when both are missing.
        vhost.router.requireExchange(exchange);
        // A stream queue is bound like any queue (streams share the queue namespace).
        const destination = { kind: vhost.findStream(queueName) ? ('stream' as const) : ('queue' as const), name: queueName };
        if (destination.kind === 'queue') this.checkExclusive(vhost.queue(queueName));
        const bindingArguments = fieldTableToHeaderTable(method.fields.arguments);
        if (exchange === '') throw new FerryError('ACCESS_REFUSED', `operation not permitted on the default exchange`);
        if (method.name === 'queue.bind') {
          await vhost.bind(exchange, destination, routingKey, bindingArguments);
          if (!method.fields.noWait) this.host.sendMethod(this.number, 'queue.bind-ok', {});
        } else {
          await vhost.unbind(exchange, destination, routingKey, bindingArguments);
          this.host.sendMethod(this.number, 'queue.unbind-ok', {});
        }
        return;
      }
      case 'queue.purge': {
        const queueName = this.resolveQueueName(method.fields.queue);
        access.authorize(principal, vhostName, 'read', queueName);
        // Streams are append-only: RabbitMQ refuses queue.purge with 540 NOT_IMPLEMENTED (a connection error).
        if (vhost.findStream(queueName)) throw new AmqpProtocolError(540, `queue.purge not supported by stream queues queue '${queueName}' in vhost '${vhost.name}'`, { classId: 50, methodId: 30 });
        const queue = vhost.queue(queueName);
        this.checkExclusive(queue);
        const messageCount = await queue.purge();
        if (!method.fields.noWait) this.host.sendMethod(this.number, 'queue.purge-ok', { messageCount });
        return;
      }
      case 'queue.delete': {
        const queueName = this.resolveQueueName(method.fields.queue);
        access.authorize(principal, vhostName, 'configure', queueName);
        if (vhost.findStream(queueName)) {
          // As RabbitMQ's stream queues do, if-unused and if-empty do not apply; consumers get basic.cancel.
          const messageCount = await vhost.deleteStream(queueName);
          if (!method.fields.noWait) this.host.sendMethod(this.number, 'queue.delete-ok', { messageCount });
          return;
        }
        const queue = vhost.findQueue(queueName);
        if (!queue) {
          // RabbitMQ answers a delete of a missing queue with delete-ok (0 messages).
          if (!method.fields.noWait) this.host.sendMethod(this.number, 'queue.delete-ok', { messageCount: 0 });
          return;
        }
        this.checkExclusive(queue);
        const messageCount = await vhost.deleteQueue(queueName, { ifUnused: method.fields.ifUnused, ifEmpty: method.fields.ifEmpty });
        if (!method.fields.noWait) this.host.sendMethod(this.number, 'queue.delete-ok', { messageCount });
        return;
      }
      case 'tx.select':
        if (this.confirming) throw new FerryError('PRECONDITION_FAILED', 'cannot switch from confirm to tx mode');
        this.transactional = true;
        this.host.sendMethod(this.number, 'tx.select-ok', {});
        return;
      case 'tx.commit': {
        if (!this.transactional) throw new FerryError('PRECONDITION_FAILED', 'channel is not transactional');
        const publishes = this.txPublishes;
        const settlements = this.txSettlements;
        this.txPublishes = [];
        this.txSettlements = [];
        await this.commitTransaction(publishes, settlements);
        this.host.sendMethod(this.number, 'tx.commit-ok', {});
        return;
      }
      case 'tx.rollback':
        if (!this.transactional) throw new FerryError('PRECONDITION_FAILED', 'channel is not transactional');
        this.txPublishes = [];
        this.txSettlements = [];
        this.host.sendMethod(this.number, 'tx.rollback-ok', {});
        return;
      case 'confirm.select':
        if (this.transactional) throw new FerryError('PRECONDITION_FAILED', 'cannot switch from tx to confirm mode');
        this.confirming = true;
        if (!method.fields.noWait) this.host.sendMethod(this.number, 'confirm.select-ok', {});
        return;
      case 'channel.flow':
        // Flow control from the client stops deliveries to it.
        this.flowPaused = !method.fields.active;
        this.updateFlow();
        this.host.sendMethod(this.number, 'channel.flow-ok', { active: method.fields.active });
        return;
      default:
        throw new AmqpProtocolError(540, `${method.name} is not implemented`, { classId: method.classId, methodId: method.methodId });
    }
  }

  private async declareExchange(fields: Extract<AnyDecodedMethod, { name: 'exchange.declare' }>['fields']): Promise<void> {
    const { exchange, type, passive, durable, autoDelete, internal, noWait: nowait } = fields;
    const vhost = this.host.vhost;
    if (passive) {
      vhost.router.requireExchange(exchange);
    } else {
      // The amq. prefix is reserved for new exchanges; redeclaring an existing one (amq.direct, ...) is fine.
      if (!vhost.router.getExchange(exchange)) this.checkReservedName(exchange, 'exchange');
      this.host.access.authorize(this.host.principal, vhost.name, 'configure', exchange);
      const exchangeArguments = fieldTableToHeaderTable(fields.arguments);
      const alternate = exchangeArguments['alternate-exchange'];
      if (!['direct', 'fanout', 'topic', 'headers'].includes(type)) throw new AmqpProtocolError(503, `unknown exchange type '${type}'`, { classId: 40, methodId: 10 });
      await vhost.declareExchange(exchange, {
        type: type as 'direct' | 'fanout' | 'topic' | 'headers',
        durable,
        autoDelete,
        internal,
        ...(typeof alternate === 'string' ? { alternateExchange: alternate } : {}),
      });
    }
    if (!nowait) this.host.sendMethod(this.number, 'exchange.declare-ok', {});
  }

  private async declareQueue(fields: Extract<AnyDecodedMethod, { name: 'queue.declare' }>['fields']): Promise<void> {
    const vhost = this.host.vhost;
    let queueName = fields.queue;
    if (queueName === DirectReplyTo.QUEUE || queueName.startsWith(`${DirectReplyTo.QUEUE}.`)) {
      // The direct reply-to pseudo-queue, declared (passively or not) as RabbitMQ answers it.
      if (!this.host.replyTo.exists(queueName)) throw new FerryError('QUEUE_NOT_FOUND', `no queue '${queueName}' in vhost '${vhost.name}'`);
      if (!fields.noWait) this.host.sendMethod(this.number, 'queue.declare-ok', { queue: queueName, messageCount: 0, consumerCount: 1 });
      return;
    }
    const queueArguments = fieldTableToHeaderTable(fields.arguments);
    const stream = fields.passive ? vhost.findStream(this.resolveQueueName(queueName)) : undefined;
    if (stream || (!fields.passive && isStreamDeclaration(queueArguments))) return this.declareStream(fields, queueArguments, stream);
    if (fields.passive) {
      const queue = vhost.queue(this.resolveQueueName(queueName));
      this.checkExclusive(queue);
      this.lastDeclaredQueue = queue.name;
      if (!fields.noWait) this.host.sendMethod(this.number, 'queue.declare-ok', { queue: queue.name, messageCount: queue.messageCount(), consumerCount: queue.consumerCount() });
      return;
    }
    if (queueName === '') queueName = `amq.gen-${randomToken()}`;
    else this.checkReservedName(queueName, 'queue');
    this.host.access.authorize(this.host.principal, vhost.name, 'configure', queueName);
    const config = queueConfigFromArguments(queueArguments, fields, { queue: queueName, vhost: vhost.name, wireArguments: fields.arguments });
    const existing = fields.exclusive ? vhost.findQueue(queueName) : undefined;
    if (existing !== undefined && existing.config.exclusiveOwner === undefined) {
      // As RabbitMQ: a queue declared without exclusive cannot be taken exclusively by redeclaring it.
      throw new FerryError('RESOURCE_LOCKED', lockedQueueMessage(queueName, vhost.name));
    }
    const declaredName = queueName;
    const queue = await vhost.declareQueue(
      {
        ...config,
        name: queueName,
        durable: config.durable ?? fields.durable,
        autoDelete: fields.autoDelete,
        ...(fields.exclusive ? { exclusiveOwner: this.host.connectionId } : {}),
      },
      {
        // A refused redeclaration names the argument types the clients sent, as RabbitMQ does.
        argumentTypeOf: (argument, side) => {
          const existing = side === 'current' ? vhost.findQueue(declaredName) : undefined;
          const wire = (side === 'requested' ? fields.arguments : existing && declaredArgumentTypes.get(existing))?.get(argument);
          return wire && RABBITMQ_TYPE_NAMES[wire.type];
        },
      },
    );
    // The first declaration seen made the queue (or, after a restart, matches what made it).
    if (!declaredArgumentTypes.has(queue)) declaredArgumentTypes.set(queue, fields.arguments);
    this.checkExclusive(queue);
    this.lastDeclaredQueue = queue.name;
    if (!fields.noWait) this.host.sendMethod(this.number, 'queue.declare-ok', { queue: queue.name, messageCount: queue.messageCount(), consumerCount: queue.consumerCount() });
  }

  /**
   * queue.declare of a RabbitMQ stream queue: declares the Ferry stream (or
   * checks that the existing one has the same settings), or finds it
   * (passive). The consumer count is 0, as RabbitMQ reports for streams.
   */
  private async declareStream(fields: Extract<AnyDecodedMethod, { name: 'queue.declare' }>['fields'], queueArguments: HeaderTable, existing: Stream | undefined): Promise<void> {
    const vhost = this.host.vhost;
    let stream = existing;
    if (!stream) {
      const config = streamConfigFromArguments({ queue: fields.queue, vhost: vhost.name }, fields, queueArguments);
      if (!vhost.findStream(config.name)) this.checkReservedName(config.name, 'queue');
      this.host.access.authorize(this.host.principal, vhost.name, 'configure', config.name);
      stream = await vhost.declareStream(config);
    }
    this.lastDeclaredQueue = stream.name;
    if (!fields.noWait) this.host.sendMethod(this.number, 'queue.declare-ok', { queue: stream.name, messageCount: stream.messageCount(), consumerCount: 0 });
  }

  private consume(fields: Extract<AnyDecodedMethod, { name: 'basic.consume' }>['fields']): void | Promise<void> {
    const vhost = this.host.vhost;
    const tag = fields.consumerTag === '' ? `amq.ctag-${randomToken()}` : fields.consumerTag;
    if (this.consumers.has(tag) || this.streamConsumers.has(tag)) throw new FerryError('CONSUMER_TAG_IN_USE', `attempt to reuse consumer tag '${tag}'`);
    if (fields.queue === DirectReplyTo.QUEUE) {
      if (!fields.noAck) throw new FerryError('PRECONDITION_FAILED', 'reply consumer cannot acknowledge');
      if (this.replyToken !== null) throw new FerryError('PRECONDITION_FAILED', 'reply consumer already set');
      this.replyToken = this.host.replyTo.register((message) => {
        this.host.sendDeliver(this.number, tag, ++this.deliveryTag, false, message.exchange, message.routingKey, message.properties, message.body);
      });
      if (!fields.noWait) this.host.sendMethod(this.number, 'basic.consume-ok', { consumerTag: tag });
      return;
    }
    const queueName = this.resolveQueueName(fields.queue);
    this.host.access.authorize(this.host.principal, vhost.name, 'read', queueName);
    const stream = vhost.findStream(queueName);
    if (stream) return this.consumeStream(stream, tag, fields);
    const queue = vhost.queue(queueName);
    this.checkExclusive(queue);
    const consumerArguments = fieldTableToHeaderTable(fields.arguments);
    const priority = consumerArguments['x-priority'];
    const consumer: ChannelConsumer = { tag, queue, noAck: fields.noAck };
    const coreTag = `${this.host.connectionId}/${this.number}/${tag}`;
    // Refusals first: RabbitMQ sends no consume-ok for a consumer it refuses (and names the vhost).
    try {
      queue.checkConsumable({ tag: coreTag, exclusive: fields.exclusive });
    } catch (error) {
      if (isFerryError(error, 'CONSUMER_EXCLUSIVE')) throw new FerryError('CONSUMER_EXCLUSIVE', `queue '${queue.name}' in vhost '${vhost.name}' in exclusive use`);
      throw error;
    }
    this.consumers.set(tag, consumer);
    if (!fields.noWait) this.host.sendMethod(this.number, 'basic.consume-ok', { consumerTag: tag });
    try {
      queue.consume({
        tag: coreTag,
        prefetch: this.prefetchCount,
        autoAck: fields.noAck,
        priority: typeof priority === 'number' ? priority : 0,
        exclusive: fields.exclusive,
        flowing: !this.paused(),
        onDelivery: (delivery) => this.deliver(consumer, delivery),
        onCancelled: () => {
          // Consumer cancel notification (RabbitMQ extension): the queue went away.
          if (this.consumers.delete(tag) && !this.closing) this.host.sendMethod(this.number, 'basic.cancel', { consumerTag: tag, noWait: true });
        },
      });
    } catch (error) {
      this.consumers.delete(tag);
      throw error;
    }
    this.updateFlow();
  }

  /**
   * basic.consume on a stream queue, with RabbitMQ's rules and reply codes:
   * a per-consumer prefetch is required (406), automatic acknowledgement and
   * a global prefetch are not supported (540, a connection error), and
   * `x-stream-offset` says where to start (see offsetSpecFromArgument).
   */
  private async consumeStream(stream: Stream, tag: string, fields: Extract<AnyDecodedMethod, { name: 'basic.consume' }>['fields']): Promise<void> {
    const ids = { classId: 60, methodId: 20 };
    if (this.prefetchCount === 0) throw new FerryError('PRECONDITION_FAILED', `consumer prefetch count is not set for 'queue '${stream.name}' in vhost '${this.host.vhost.name}''`);
    if (fields.noAck) throw new AmqpProtocolError(540, `automatic acknowledgement not supported by stream queues queue '${stream.name}' in vhost '${this.host.vhost.name}'`, ids);
    if (this.globalPrefetch > 0) throw new AmqpProtocolError(540, `stream queue '${stream.name}' does not support global qos`, ids);
    for (const name of fields.arguments.keys()) {
      // RabbitMQ's stream queues take x-stream-offset, and x-stream-filter when filtering is on (it is not in Ferry).
      if (name === 'x-priority') throw new FerryError('PRECONDITION_FAILED', `invalid arg 'x-priority' for stream queue '${stream.name}'`);
      if (name === 'x-stream-filter') throw new FerryError('PRECONDITION_FAILED', 'Filtering is not supported');
    }
    const spec = offsetSpecFromArgument(fields.arguments.get('x-stream-offset'), this.host.clock.nowMs());
    // An offset past the end is where reading starts once the stream gets there, as in RabbitMQ (the core would clamp it to the end).
    const offset = Math.max(await stream.offsetFor(0, spec), typeof spec === 'object' && 'offset' in spec ? spec.offset : 0);
    if (this.closing) return; // The channel closed while the offset was looked up.
    const consumer: StreamConsumer = new StreamConsumer(tag, {
      stream,
      offset,
      prefetch: this.prefetchCount,
      flowing: !this.paused(),
      deliver: (entry) => this.deliverStreamEntry(consumer, entry),
      onEnd: () => {
        // Consumer cancel notification (RabbitMQ extension): the stream went away.
        if (this.streamConsumers.delete(tag) && !this.closing) this.host.sendMethod(this.number, 'basic.cancel', { consumerTag: tag, noWait: true });
      },
    });
    this.streamConsumers.set(tag, consumer);
    if (!fields.noWait) this.host.sendMethod(this.number, 'basic.consume-ok', { consumerTag: tag });
    consumer.start();
  }

  /** A stream delivery carries its offset in the `x-stream-offset` header (a long), as RabbitMQ's do. */
  private deliverStreamEntry(consumer: StreamConsumer, entry: StreamEntry): void {
    const tag = ++this.deliveryTag;
    this.unacked.set(tag, { streamConsumer: consumer });
    const message = entry.message;
    const headers: HeaderTable = { ...message.headers, 'x-stream-offset': BigInt(entry.offset) };
    this.host.sendDeliver(
      this.number,
      consumer.tag,
      tag,
      false,
      message.exchange,
      message.routingKey,
      toBasicProperties(message, headers),
      message.body,
    );
    if (this.host.outgoingFull()) this.updateFlow();
  }

  private deliver(consumer: ChannelConsumer, delivery: Delivery): void {
    const tag = ++this.deliveryTag;
    if (!consumer.noAck) this.unacked.set(tag, { queue: consumer.queue, deliveryId: delivery.id, consumerTag: consumer.tag });
    const message = delivery.message;
    this.host.sendDeliver(
      this.number,
      consumer.tag,
      tag,
      delivery.redelivered,
      message.exchange,
      message.routingKey,
      deliveryProperties(consumer.queue, delivery, false),
      message.body,
    );
    if (this.globalPrefetch > 0 && this.unacked.size >= this.globalPrefetch) this.updateFlow();
    else if (this.host.outgoingFull()) this.updateFlow();
  }

  /**
   * Pauses or resumes this channel's consumers: client flow control, the
   * channel-wide (global) prefetch, or a full socket buffer.
   */
  updateFlow(): void {
    const paused = this.paused();
    for (const consumer of this.consumers.values()) consumer.queue.setFlowing(`${this.host.connectionId}/${this.number}/${consumer.tag}`, !paused);
    for (const consumer of this.streamConsumers.values()) consumer.setFlowing(!paused);
  }

  private paused(): boolean {
    return this.flowPaused || (this.globalPrefetch > 0 && this.unacked.size >= this.globalPrefetch) || this.host.outgoingFull();
  }

  private cancelConsumer(consumer: ChannelConsumer, requeueUnsettled: boolean): void {
    this.consumers.delete(consumer.tag);
    consumer.queue.cancel(`${this.host.connectionId}/${this.number}/${consumer.tag}`, { requeueUnsettled });
  }

  private takeTags(deliveryTag: number | bigint, multiple: boolean): number[] {
    const tag = Number(deliveryTag);
    if (multiple) {
      const tags = [...this.unacked.keys()].filter((candidate) => tag === 0 || candidate <= tag);
      if (tag !== 0 && !this.unacked.has(tag)) throw new FerryError('PRECONDITION_FAILED', `unknown delivery tag ${tag}`);
      return tags;
    }
    if (!this.unacked.has(tag)) throw new FerryError('PRECONDITION_FAILED', `unknown delivery tag ${tag}`);
    return [tag];
  }

  /** Settles deliveries queue by queue (in a transaction: at commit). */
  private async settle(tags: number[], action: (queue: Queue, ids: number[]) => Promise<void>, ack: boolean): Promise<void> {
    if (this.transactional) {
      // In a transaction the deliveries stay unacknowledged until commit; a rollback leaves them so.
      this.txSettlements.push({ tags, action, ack });
      return;
    }
    await this.settleNow(tags, action);
  }

  /**
   * tx.commit on the core's transactions: the publishes and acks of the
   * transaction take effect together and durably before tx.commit-ok (a crash
   * leaves all or none of them). Nacks and rejects, direct reply-to
   * publishes and basic.return for mandatory ones follow the commit.
   */
  private async commitTransaction(publishes: readonly TxPublish[], settlements: readonly TxSettlement[]): Promise<void> {
    const vhost = this.host.vhost;
    const transaction = await vhost.beginTransaction();
    const afterCommit: Array<() => void> = [];
    const acked = new Set<number>();
    try {
      for (const publish of publishes) {
        const { exchange, routingKey, mandatory, mapped, body, rawProperties } = publish;
        if (exchange === '' && routingKey.startsWith(`${DirectReplyTo.QUEUE}.`)) {
          // Direct reply-to goes to a channel, not a queue: nothing to make atomic.
          afterCommit.push(() => this.publish(exchange, routingKey, mandatory, mapped, body, rawProperties));
          continue;
        }
        let properties = mapped.properties;
        if (properties.replyTo === DirectReplyTo.QUEUE) {
          if (this.replyToken === null) throw new FerryError('PRECONDITION_FAILED', 'fast reply consumer does not exist');
          properties = { ...properties, replyTo: `${DirectReplyTo.QUEUE}.${this.replyToken}` };
        }
        const extraRoutingKeys = mapped.extraRoutingKeys;
        if (mandatory && vhost.router.route(exchange, routingKey, mapped.headers, extraRoutingKeys === undefined ? {} : { extraRoutingKeys }).destinations.length === 0) {
          afterCommit.push(() => this.sendReturn(312, 'NO_ROUTE', exchange, routingKey, rawProperties, body));
        }
        transaction.publish(exchange, coreMessage(routingKey, properties, mapped, body), extraRoutingKeys);
      }
      const later: TxSettlement[] = [];
      for (const settlement of settlements) {
        if (!settlement.ack) {
          later.push(settlement);
          continue;
        }
        for (const tag of settlement.tags) {
          const entry = this.unacked.get(tag);
          if (!entry || acked.has(tag)) continue;
          acked.add(tag);
          if (!('streamConsumer' in entry) && !entry.queue.isDeleted()) transaction.ack(entry.queue.name, entry.deliveryId);
        }
      }
      await transaction.commit();
      for (const tag of acked) {
        const entry = this.unacked.get(tag);
        this.unacked.delete(tag);
        // Acks of stream deliveries only return credit.
        if (entry && 'streamConsumer' in entry) entry.streamConsumer.settle();
      }
      if (this.globalPrefetch > 0) this.updateFlow();
      for (const settlement of later) await this.settleNow(settlement.tags, settlement.action);
      for (const work of afterCommit) work();
    } catch (error) {
      transaction.abort();
      throw error;
    }
  }

  private async settleNow(tags: number[], action: (queue: Queue, ids: number[]) => Promise<void>): Promise<void> {
    const byQueue = new Map<Queue, number[]>();
    for (const tag of tags) this.takeUnacked(tag, byQueue);
    if (this.globalPrefetch > 0) this.updateFlow();
    await Promise.all([...byQueue].map(([queue, ids]) => (queue.isDeleted() ? Promise.resolve() : action(queue, ids))));
  }

  private resolveQueueName(name: string): string {
    // An empty queue name means the last queue declared on the channel (AMQP 0-9-1 §1.7.2.1).
    if (name === '') {
      if (this.lastDeclaredQueue === null) throw new FerryError('QUEUE_NOT_FOUND', 'no previously declared queue');
      return this.lastDeclaredQueue;
    }
    return name;
  }

  private lastDeclaredQueue: string | null = null;

  private checkExclusive(queue: Queue): void {
    const owner = queue.config.exclusiveOwner;
    if (owner !== undefined && owner !== this.host.connectionId) {
      throw new FerryError('RESOURCE_LOCKED', lockedQueueMessage(queue.name, this.host.vhost.name));
    }
  }

  private checkReservedName(name: string, kind: 'exchange' | 'queue'): void {
    if (name.startsWith('amq.')) throw new FerryError('ACCESS_REFUSED', `${kind} name '${name}' contains reserved prefix 'amq.*'`);
  }

  /**
   * Closes the channel (client close, channel error or connection close):
   * consumers go, unacked deliveries return to their queues, uncommitted
   * transaction work is dropped.
   */
  async teardown(): Promise<void> {
    this.flushAcks();
    this.closing = true;
    this.pending = null;
    this.txPublishes = [];
    this.txSettlements = [];
    if (this.replyToken !== null) this.host.replyTo.unregister(this.replyToken);
    for (const consumer of [...this.consumers.values()]) this.cancelConsumer(consumer, false);
    for (const consumer of this.streamConsumers.values()) consumer.stop();
    this.streamConsumers.clear();
    const tags = [...this.unacked.keys()];
    const byQueue = new Map<Queue, number[]>();
    for (const tag of tags) {
      const entry = this.unacked.get(tag)!;
      if ('streamConsumer' in entry) continue; // Nothing to return: the stream keeps every message.
      const ids = byQueue.get(entry.queue);
      if (ids) ids.push(entry.deliveryId);
      else byQueue.set(entry.queue, [entry.deliveryId]);
    }
    this.unacked.clear();
    await Promise.all([...byQueue].map(([queue, ids]) => (queue.isDeleted() ? Promise.resolve() : queue.nack(ids, true, { returned: true }).catch(() => undefined))));
  }
}

/** A publish as the core takes it (`persistenceImplicit: false` means the same as absent to the core). */
function coreMessage(routingKey: string, properties: MessageProperties, mapped: MappedProperties, body: Uint8Array): Message {
  return {
    routingKey,
    properties,
    headers: mapped.headers,
    body,
    persistent: mapped.persistent,
    persistenceImplicit: mapped.persistenceImplicit,
    emptyHeadersTable: mapped.emptyHeadersTable,
    amqpHeaderTable: mapped.amqpHeaderTable,
    ...(mapped.bccRoutingKeys === undefined ? {} : { bccRoutingKeys: mapped.bccRoutingKeys }),
  };
}

/**
 * The basic properties of a delivery from `queue`: the message's, and for a quorum queue the
 * count of earlier deliveries in `x-delivery-count` (a long long) where RabbitMQ adds it: on
 * every basic.get-ok (0 the first time), on a basic.deliver once the message was returned.
 */
function deliveryProperties(queue: Queue, delivery: Delivery, get: boolean): BasicPropertiesInput {
  const message = delivery.message;
  if (queue.config.queueType !== 'quorum' || (!get && delivery.deliveryCount <= 1)) return toBasicProperties(message);
  return toBasicProperties(message, { ...message.headers, 'x-delivery-count': BigInt(Math.max(0, delivery.deliveryCount - 1)) });
}

/** A random token for server-named queues and consumer tags (amq.gen-…, amq.ctag-…): 22 base64url characters, as RabbitMQ's. */
function randomToken(): string {
  let text = '';
  for (let index = 0; index < 22; index++) text += TOKEN_ALPHABET[Math.floor(Math.random() * 64)];
  return text;
}

const TOKEN_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
