import type { AccessControl, Principal } from '../core/access/access-control.js';
import type { PermissionKind } from '../core/routing/permissions.js';
import { FerryError } from '../lib/ferry-error.js';

/** User tags that open the management API, as in RabbitMQ. */
export const MANAGEMENT_TAGS = ['administrator', 'monitoring', 'policymaker', 'management'] as const;

/**
 * Who may do what through the management API, by user tag (RabbitMQ's model):
 * - `administrator`: everything, in every vhost, without vhost permissions;
 * - `monitoring`: also sees every vhost, connection and queue, but changes only
 *   what its vhost permissions allow;
 * - `management` and `policymaker`: see and change only the vhosts they have
 *   permissions in, resource by resource (configure / write / read patterns).
 * A user without any of these tags may not use the API (ACCESS_REFUSED).
 */
export class ManagementAccess {
  constructor(private readonly access: () => AccessControl) {}

  /** ACCESS_REFUSED unless the user has a management tag. */
  requireManagementUser(principal: Principal): void {
    if (!principal.tags.some((tag) => (MANAGEMENT_TAGS as readonly string[]).includes(tag))) {
      throw new FerryError('ACCESS_REFUSED', `user ${principal.user} has no management tag (${MANAGEMENT_TAGS.join(', ')})`);
    }
  }

  isAdministrator(principal: Principal): boolean {
    return principal.tags.includes('administrator');
  }

  /** True for users who see every vhost (administrator, monitoring). */
  seesEverything(principal: Principal): boolean {
    return this.isAdministrator(principal) || principal.tags.includes('monitoring');
  }

  /** ACCESS_REFUSED unless the user is an administrator (users, vhosts, definitions). */
  requireAdministrator(principal: Principal): void {
    if (!this.isAdministrator(principal)) throw new FerryError('ACCESS_REFUSED', `user ${principal.user} is not an administrator`);
  }

  /** True when the user may look at `vhost`. */
  canSeeVhost(principal: Principal, vhost: string): boolean {
    if (this.seesEverything(principal)) return true;
    return this.access().listPermissions().some((entry) => entry.user === principal.user && entry.vhost === vhost);
  }

  /** ACCESS_REFUSED unless the user may look at `vhost`. */
  requireVhost(principal: Principal, vhost: string): void {
    if (!this.canSeeVhost(principal, vhost)) throw new FerryError('ACCESS_REFUSED', `user ${principal.user} has no access to vhost ${vhost}`);
  }

  /** ACCESS_REFUSED unless the user may `kind` the resource (administrators may do anything). */
  require(principal: Principal, vhost: string, kind: PermissionKind, resource: string): void {
    if (this.isAdministrator(principal)) return;
    this.access().authorize(principal, vhost, kind, resource);
  }
}
