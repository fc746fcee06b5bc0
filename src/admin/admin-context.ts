import type { FastifyRequest } from 'fastify';
import type { Principal } from '../core/access/access-control.js';
import type { BrokerCore } from '../core/broker/broker-core.js';
import type { VirtualHost } from '../core/vhost/virtual-host.js';
import { assert } from '../lib/assert.js';
import type { BasicAuthenticator } from './basic-authenticator.js';
import type { ManagementAccess } from './management-access.js';
import type { MessageRates } from './message-rates.js';

/** A protocol listener of the server, as the overview lists it. */
export interface ListenerView {
  readonly protocol: string;
  readonly host: string;
  readonly port: number;
  readonly url: string;
}

/** What every route of the management API works with. */
export interface AdminContext {
  readonly core: BrokerCore;
  readonly management: ManagementAccess;
  readonly authenticator: BasicAuthenticator;
  readonly rates: MessageRates;
  readonly version: string;
  /** Milliseconds since the epoch. */
  readonly startedAtMs: number;
  readonly listeners: () => readonly ListenerView[];
  readonly storageBytes: (() => number) | undefined;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated user of an `/api` request (set by the authentication hook). */
    principal: Principal | null;
  }
}

/** The authenticated user of an `/api` request. */
export function principalOf(request: FastifyRequest): Principal {
  const principal = request.principal;
  assert(principal !== null, 'every /api route runs after the authentication hook');
  return principal;
}

/** The vhosts the user may look at, in creation order. */
export function visibleVhosts(context: AdminContext, principal: Principal): VirtualHost[] {
  return context.core
    .vhostNames()
    .filter((name) => context.management.canSeeVhost(principal, name))
    .map((name) => context.core.vhost(name));
}

/**
 * The vhost named in a path, for a user who may look at it. VHOST_NOT_FOUND
 * when it does not exist, ACCESS_REFUSED when the user may not see it.
 */
export function vhostFor(context: AdminContext, principal: Principal, name: string): VirtualHost {
  const vhost = context.core.vhost(name);
  context.management.requireVhost(principal, name);
  return vhost;
}
