import { FerryError } from '../../lib/ferry-error.js';

/**
 * What an operation does to a resource, in RabbitMQ's terms: `configure` creates or
 * deletes it (declare, delete), `write` puts messages into it (publish to an exchange,
 * bind to a queue), `read` takes messages out (consume, purge, bind from an exchange).
 */
export type PermissionKind = 'configure' | 'write' | 'read';

/** One user's three regular expressions in one vhost, as an administrator writes them. */
export interface PermissionPatterns {
  readonly configure: string;
  readonly write: string;
  readonly read: string;
}

/** A row of {@link Permissions.list}. */
export interface PermissionEntry extends PermissionPatterns {
  readonly user: string;
  readonly vhost: string;
}

interface CompiledPermissions {
  readonly patterns: PermissionPatterns;
  /** undefined where the pattern is empty, which grants nothing. */
  readonly configure: RegExp | undefined;
  readonly write: RegExp | undefined;
  readonly read: RegExp | undefined;
}

/**
 * Users' permissions per vhost, RabbitMQ style: three regular expressions (configure,
 * write, read) that a resource's name must match for the operation to be allowed.
 *
 * - A user with no entry for a vhost may do nothing there, and may not even connect
 *   to it ({@link canAccessVhost}).
 * - The empty pattern matches nothing; `.*` matches every name.
 * - Patterns must match the WHOLE name: `orders` allows `orders` but not `orders-eu`.
 *   Note that RabbitMQ itself searches (`re:run` without anchors, so `orders` would allow
 *   `orders-eu` there); full matching never grants more than RabbitMQ would, and
 *   patterns written with `^...$`, the usual RabbitMQ advice, behave identically.
 * - The default exchange, whose name is empty, is checked under the name `amq.default`.
 *
 * Patterns are JavaScript regular expressions, close to the PCRE that RabbitMQ uses for
 * the patterns administrators write in practice.
 */
export class Permissions {
  private readonly byUser = new Map<string, Map<string, CompiledPermissions>>();

  /**
   * Sets (replaces) `user`'s patterns in `vhost`. Throws `INVALID_PERMISSION_PATTERN`
   * when a pattern is not a valid regular expression; nothing changes then.
   */
  set(user: string, vhost: string, patterns: PermissionPatterns): void {
    const compiled: CompiledPermissions = {
      patterns: Object.freeze({ configure: patterns.configure, write: patterns.write, read: patterns.read }),
      configure: compileWhole(patterns.configure, 'configure'),
      write: compileWhole(patterns.write, 'write'),
      read: compileWhole(patterns.read, 'read'),
    };
    let byVhost = this.byUser.get(user);
    if (byVhost === undefined) this.byUser.set(user, (byVhost = new Map()));
    byVhost.set(vhost, compiled);
  }

  /** `user`'s patterns in `vhost`, or undefined when they have none there. */
  get(user: string, vhost: string): PermissionPatterns | undefined {
    return this.byUser.get(user)?.get(vhost)?.patterns;
  }

  /** Removes `user`'s permissions in `vhost`; returns false when there were none. */
  clear(user: string, vhost: string): boolean {
    const byVhost = this.byUser.get(user);
    if (byVhost === undefined || !byVhost.delete(vhost)) return false;
    if (byVhost.size === 0) this.byUser.delete(user);
    return true;
  }

  /** Removes every permission of `user` (when the user is deleted); returns how many vhosts lost one. */
  clearUser(user: string): number {
    const count = this.byUser.get(user)?.size ?? 0;
    this.byUser.delete(user);
    return count;
  }

  /** Removes every user's permissions in `vhost` (when the vhost is deleted); returns how many users lost one. */
  clearVhost(vhost: string): number {
    let count = 0;
    for (const user of [...this.byUser.keys()]) {
      if (this.clear(user, vhost)) count += 1;
    }
    return count;
  }

  /** Every (user, vhost) entry. */
  list(): PermissionEntry[] {
    const result: PermissionEntry[] = [];
    for (const [user, byVhost] of this.byUser) {
      for (const [vhost, compiled] of byVhost) result.push({ user, vhost, ...compiled.patterns });
    }
    return result;
  }

  /** True when `user` has any permission entry in `vhost`, which is what lets them open it. */
  canAccessVhost(user: string, vhost: string): boolean {
    return this.byUser.get(user)?.has(vhost) ?? false;
  }

  /**
   * True when `user` may do `kind` to the resource (exchange, queue or stream) named
   * `resourceName` in `vhost`. The empty name is the default exchange, checked as `amq.default`.
   */
  check(user: string, vhost: string, kind: PermissionKind, resourceName: string): boolean {
    const compiled = this.byUser.get(user)?.get(vhost);
    if (compiled === undefined) return false;
    const pattern = compiled[kind];
    if (pattern === undefined) return false;
    // Only an exchange can have an empty name (queue names are at least one character),
    // and RabbitMQ checks the default exchange under this name.
    return pattern.test(resourceName === '' ? 'amq.default' : resourceName);
  }
}

function compileWhole(pattern: string, kind: PermissionKind): RegExp | undefined {
  if (pattern === '') return undefined;
  try {
    // Compiling the pattern alone first rejects unbalanced input such as `a)|(b`, which
    // would otherwise escape the anchoring group below and match unanchored.
    new RegExp(pattern);
    return new RegExp(`^(?:${pattern})$`);
  } catch (error) {
    throw new FerryError('INVALID_PERMISSION_PATTERN', `${kind} pattern ${JSON.stringify(pattern)} is not a valid regular expression`, {
      cause: error,
    });
  }
}
