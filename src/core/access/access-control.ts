import { FerryError } from '../../lib/ferry-error.js';
import type { PasswordHasher } from '../../platform/password-hasher.js';
import type { DefinitionStore, JsonValue } from '../ports.js';
import { Permissions, type PermissionEntry, type PermissionKind, type PermissionPatterns } from '../routing/permissions.js';

/** A user as stored: a password hash, tags (e.g. `administrator`) and whether it may log in from loopback only. */
export interface UserRecord {
  readonly name: string;
  readonly passwordHash: string;
  readonly tags: readonly string[];
  readonly loopbackOnly: boolean;
}

/** Who is connected: the authenticated user's name and tags. */
export interface Principal {
  readonly user: string;
  readonly tags: readonly string[];
}

/** The default user, usable from loopback only, as RabbitMQ's guest. */
export const DEFAULT_USER = { name: 'guest', password: 'guest' };

/**
 * Users and their vhost permissions (configure / write / read patterns),
 * durable in the definition store. Front ends call `authenticate` when a
 * client logs in and `authorize` before each operation on a resource.
 */
export class AccessControl {
  private readonly users = new Map<string, UserRecord>();
  private readonly permissions = new Permissions();

  private constructor(
    private readonly definitions: DefinitionStore,
    private readonly hasher: PasswordHasher,
  ) {}

  /** Loads users and permissions; creates guest/guest (loopback only, full rights on "/") on first start. */
  static async open(definitions: DefinitionStore, hasher: PasswordHasher): Promise<AccessControl> {
    const access = new AccessControl(definitions, hasher);
    for (const [, value] of definitions.list('user')) {
      const record = value as unknown as UserRecord;
      access.users.set(record.name, record);
    }
    for (const [, value] of definitions.list('permission')) {
      const { user, vhost, ...patterns } = value as unknown as { user: string; vhost: string } & PermissionPatterns;
      access.permissions.set(user, vhost, patterns);
    }
    if (definitions.list('user').length === 0) {
      await access.putUser(DEFAULT_USER.name, DEFAULT_USER.password, { tags: ['administrator'], loopbackOnly: true });
      await access.setPermissions(DEFAULT_USER.name, '/', { configure: '.*', write: '.*', read: '.*' });
    }
    return access;
  }

  /** Creates or replaces a user. */
  async putUser(name: string, password: string, options: { tags?: readonly string[]; loopbackOnly?: boolean } = {}): Promise<void> {
    if (name.length === 0) throw new FerryError('INVALID_ARGUMENT', 'a user name cannot be empty');
    const record: UserRecord = { name, passwordHash: await this.hasher.hash(password), tags: options.tags ?? [], loopbackOnly: options.loopbackOnly ?? false };
    await this.definitions.put('user', name, record as unknown as JsonValue);
    this.users.set(name, record);
  }

  /** Deletes a user and all its permissions. */
  async deleteUser(name: string): Promise<boolean> {
    if (!this.users.has(name)) return false;
    for (const entry of this.permissions.list().filter((permission) => permission.user === name)) {
      await this.definitions.delete('permission', `${name}\u0000${entry.vhost}`);
    }
    this.permissions.clearUser(name);
    this.users.delete(name);
    await this.definitions.delete('user', name);
    return true;
  }

  /** Users, without their password hashes. */
  listUsers(): Array<Omit<UserRecord, 'passwordHash'>> {
    return [...this.users.values()].map(({ passwordHash: _hash, ...rest }) => rest);
  }

  /** Users with their password hashes, for a definitions export. */
  listUserRecords(): UserRecord[] {
    return [...this.users.values()];
  }

  /** Creates or replaces a user from a stored record (a definitions import: the hash is kept as it is). */
  async putUserRecord(record: UserRecord): Promise<void> {
    if (record.name.length === 0) throw new FerryError('INVALID_ARGUMENT', 'a user name cannot be empty');
    const copy: UserRecord = { name: record.name, passwordHash: record.passwordHash, tags: [...record.tags], loopbackOnly: record.loopbackOnly };
    await this.definitions.put('user', copy.name, copy as unknown as JsonValue);
    this.users.set(copy.name, copy);
  }

  /** Every user's patterns in every vhost. */
  listPermissions(): PermissionEntry[] {
    return this.permissions.list();
  }

  /** Sets a user's patterns in a vhost. */
  async setPermissions(user: string, vhost: string, patterns: PermissionPatterns): Promise<void> {
    if (!this.users.has(user)) throw new FerryError('USER_NOT_FOUND', `no user ${user}`);
    this.permissions.set(user, vhost, patterns);
    await this.definitions.put('permission', `${user}\u0000${vhost}`, { user, vhost, ...patterns });
  }

  /** Removes a user's permissions in a vhost. */
  async clearPermissions(user: string, vhost: string): Promise<void> {
    this.permissions.clear(user, vhost);
    await this.definitions.delete('permission', `${user}\u0000${vhost}`);
  }

  /**
   * Checks a login. ACCESS_REFUSED for an unknown user, a wrong password, or a
   * loopback-only user connecting from elsewhere; the message does not say which.
   */
  async authenticate(user: string, password: string, remoteAddress: string | undefined): Promise<Principal> {
    const record = this.users.get(user);
    const passwordOk = record !== undefined && (await this.hasher.verify(password, record.passwordHash));
    if (!record || !passwordOk) throw new FerryError('ACCESS_REFUSED', `login refused for user ${user}`);
    if (record.loopbackOnly && !isLoopback(remoteAddress)) {
      throw new FerryError('ACCESS_REFUSED', `user ${user} may only connect from loopback`);
    }
    return { user: record.name, tags: record.tags };
  }

  /** ACCESS_REFUSED unless the user may use the vhost at all. */
  authorizeVhost(principal: Principal, vhost: string): void {
    if (!this.permissions.canAccessVhost(principal.user, vhost)) {
      throw new FerryError('ACCESS_REFUSED', `user ${principal.user} has no access to vhost ${vhost}`);
    }
  }

  /** ACCESS_REFUSED unless the user's `kind` pattern in `vhost` matches `resource`. */
  authorize(principal: Principal, vhost: string, kind: PermissionKind, resource: string): void {
    if (!this.permissions.check(principal.user, vhost, kind, resource)) {
      throw new FerryError('ACCESS_REFUSED', `user ${principal.user} may not ${kind} ${resource === '' ? 'amq.default' : resource} in vhost ${vhost}`);
    }
  }
}

/** True for 127.0.0.0/8, ::1 and IPv4-mapped loopback addresses. */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const plain = address.startsWith('::ffff:') ? address.slice(7) : address;
  return plain === '::1' || plain.startsWith('127.');
}
