import { createHash } from 'node:crypto';
import { isLoopback, type AccessControl, type Principal } from '../core/access/access-control.js';
import { FerryError, isFerryError } from '../lib/ferry-error.js';

/** Settings of {@link BasicAuthenticator}; each has a default. */
export interface BasicAuthenticatorOptions {
  /** How long a verified login is remembered. */
  readonly cacheTtlMs?: number;
  /** Most logins remembered at once (oldest forgotten first). */
  readonly cacheEntriesMax?: number;
  /** Milliseconds on a clock that never goes backwards. */
  readonly monotonicMs?: () => number;
}

interface CachedLogin {
  readonly principal: Principal;
  readonly loopbackOnly: boolean;
  readonly expiresAtMs: number;
}

/**
 * HTTP Basic authentication against the broker's users. A password check is
 * scrypt (tens of milliseconds in the thread pool), so a verified login is
 * remembered for a short while under a hash of the credentials; failed
 * logins are never remembered. Call `forget` when a user changes.
 */
export class BasicAuthenticator {
  private readonly cache = new Map<string, CachedLogin>();
  private readonly cacheTtlMs: number;
  private readonly cacheEntriesMax: number;
  private readonly monotonicMs: () => number;

  constructor(
    private readonly access: () => AccessControl,
    options: BasicAuthenticatorOptions = {},
  ) {
    this.cacheTtlMs = options.cacheTtlMs ?? 30_000;
    this.cacheEntriesMax = options.cacheEntriesMax ?? 1_000;
    this.monotonicMs = options.monotonicMs ?? (() => performance.now());
  }

  /**
   * The principal of an `Authorization: Basic …` header. UNAUTHORIZED when the
   * header is missing or malformed, or the login is refused (unknown user,
   * wrong password, a loopback-only user from elsewhere).
   */
  async authenticate(authorization: string | undefined, remoteAddress: string | undefined): Promise<Principal> {
    const credentials = parseBasic(authorization);
    if (!credentials) throw new FerryError('UNAUTHORIZED', 'HTTP Basic credentials are required');
    const key = createHash('sha256').update(`${credentials.user}\u0000${credentials.password}`).digest('base64');
    const cached = this.cache.get(key);
    const nowMs = this.monotonicMs();
    // Loopback-only users are remembered per credentials, not per address: check the address again.
    if (cached && cached.expiresAtMs > nowMs && (!cached.loopbackOnly || isLoopback(remoteAddress))) return cached.principal;
    let principal: Principal;
    try {
      principal = await this.access().authenticate(credentials.user, credentials.password, remoteAddress);
    } catch (error) {
      if (isFerryError(error, 'ACCESS_REFUSED')) throw new FerryError('UNAUTHORIZED', error.message.replace(/^ACCESS_REFUSED: /, ''));
      throw error;
    }
    const loopbackOnly = this.access().listUsers().find((user) => user.name === principal.user)?.loopbackOnly ?? true;
    this.cache.delete(key);
    this.cache.set(key, { principal, loopbackOnly, expiresAtMs: nowMs + this.cacheTtlMs });
    while (this.cache.size > this.cacheEntriesMax) this.cache.delete(this.cache.keys().next().value!);
    return principal;
  }

  /** Forgets remembered logins of `user` (all users when omitted): its password, tags or existence changed. */
  forget(user?: string): void {
    if (user === undefined) {
      this.cache.clear();
      return;
    }
    for (const [key, login] of this.cache) if (login.principal.user === user) this.cache.delete(key);
  }
}

function parseBasic(authorization: string | undefined): { user: string; password: string } | null {
  if (authorization === undefined) return null;
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization);
  if (!match) return null;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
