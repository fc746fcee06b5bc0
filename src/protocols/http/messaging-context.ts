import type { FastifyRequest } from 'fastify';
import type { Principal } from '../../core/access/access-control.js';
import type { BrokerCore } from '../../core/broker/broker-core.js';
import type { PermissionKind } from '../../core/routing/permissions.js';
import type { VirtualHost } from '../../core/vhost/virtual-host.js';
import { FerryError } from '../../lib/ferry-error.js';
import type { DeliveryReceipts } from './delivery-receipts.js';
import type { SubscriptionRegistry } from './subscription-registry.js';

/** Limits of the HTTP messaging API; each has a default and a `ferry serve` setting. */
export interface HttpMessagingLimits {
  /** Most messages in one publish or append request (`http-batch-messages-max`). */
  readonly batchMessagesMax: number;
  /** Most messages one pull or read returns, and the largest prefetch of a queue subscription (`http-pull-messages-max`). */
  readonly pullMessagesMax: number;
  /** Longest a pull or read waits for a first message (`http-wait-ms-max`). */
  readonly waitMsMax: number;
  /** Most SSE and WebSocket subscriptions open at once (`http-subscriptions-max`). */
  readonly subscriptionsMax: number;
  /** About the most body bytes one stream read returns (its first message always comes). */
  readonly readBytesMax: number;
  /** How often an idle subscription shows it is alive (an SSE comment, a WebSocket ping). */
  readonly heartbeatIntervalMs: number;
}

/** Defaults of {@link HttpMessagingLimits}. */
export const HTTP_MESSAGING_LIMIT_DEFAULTS: HttpMessagingLimits = {
  batchMessagesMax: 1_000,
  pullMessagesMax: 1_000,
  waitMsMax: 30_000,
  subscriptionsMax: 1_000,
  readBytesMax: 8 * 1024 * 1024,
  heartbeatIntervalMs: 15_000,
};

/** What every route of the messaging API works with. */
export interface MessagingContext {
  readonly core: BrokerCore;
  readonly limits: HttpMessagingLimits;
  /** The broker's largest message body: a batch is checked whole against it before any message goes out. */
  readonly messageBytesMax: number;
  readonly receipts: DeliveryReceipts;
  readonly subscriptions: SubscriptionRegistry;
  /** The logged-in user of a request (the host server authenticates before a route runs). */
  principalOf(request: FastifyRequest): Principal;
}

/**
 * The vhost named in a path, for a user whose `kind` permission there covers
 * `resource` (as the AMQP front end checks, the core's patterns; the
 * management API's tags play no part). VHOST_NOT_FOUND, then ACCESS_REFUSED.
 */
export function authorizedVhost(context: MessagingContext, request: FastifyRequest, vhostName: string, kind: PermissionKind, resource: string): VirtualHost {
  const vhost = context.core.vhost(vhostName);
  context.core.access.authorize(context.principalOf(request), vhost.name, kind, resource);
  return vhost;
}

/** Refuses publishing while a memory or disk alarm is on (RESOURCE_ALARM, 503), as the management API does. */
export function refuseWhileBlocked(context: MessagingContext): void {
  const alarms = context.core.alarms;
  if (alarms.blocked()) throw new FerryError('RESOURCE_ALARM', `publishing is blocked by the ${[...alarms.activeAlarms()].join(' and ')} alarm`);
}
