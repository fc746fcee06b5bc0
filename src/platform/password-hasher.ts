import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/** Hashes and checks passwords; the hash string carries its own salt and parameters. */
export interface PasswordHasher {
  /** May answer later: a real hash takes tens of milliseconds, off the event loop. */
  hash(password: string): string | Promise<string>;
  /** May answer later: a real hash takes tens of milliseconds, off the event loop. */
  verify(password: string, hash: string): boolean | Promise<boolean>;
}

/** Verified logins remembered by {@link ScryptPasswordHasher}. */
const VERIFIED_ENTRIES_MAX = 1_000;

/**
 * scrypt (N=16384, r=8, p=1) with a 16-byte random salt, stored as
 * `scrypt$<salt hex>$<key hex>`. Verification is constant-time.
 *
 * scrypt costs tens of milliseconds of CPU per check, which would cap logins
 * at a few dozen per second per core. So a successful check is remembered,
 * per stored hash, as a SHA-256 of the password under a random key of this
 * process (never the password itself); the same password against the same
 * hash is then accepted without scrypt. A changed password has a new hash,
 * so nothing stale is accepted; failed checks are never remembered.
 */
export class ScryptPasswordHasher implements PasswordHasher {
  private readonly processKey = randomBytes(32);
  private readonly verified = new Map<string, Buffer>();

  /** Runs scrypt in the thread pool: creating a user (HTTP API, definitions import) does not stall the event loop. */
  hash(password: string): Promise<string> {
    const salt = randomBytes(16);
    return new Promise((resolve, reject) =>
      scrypt(password, salt, 32, (error, key) => (error ? reject(error) : resolve(`scrypt$${salt.toString('hex')}$${key.toString('hex')}`))),
    );
  }

  /** Runs scrypt in the thread pool, so logins do not stall the event loop (~50 ms each). */
  verify(password: string, hash: string): Promise<boolean> {
    const [scheme, saltHex, keyHex] = hash.split('$');
    if (scheme !== 'scrypt' || !saltHex || !keyHex) return Promise.resolve(false);
    const digest = createHash('sha256').update(this.processKey).update(password).digest();
    const remembered = this.verified.get(hash);
    if (remembered !== undefined && timingSafeEqual(remembered, digest)) return Promise.resolve(true);
    const expected = Buffer.from(keyHex, 'hex');
    return new Promise((resolve) =>
      scrypt(password, Buffer.from(saltHex, 'hex'), expected.length, (error, actual) => {
        const ok = !error && actual.length === expected.length && timingSafeEqual(actual, expected);
        if (ok) {
          this.verified.delete(hash);
          this.verified.set(hash, digest);
          if (this.verified.size > VERIFIED_ENTRIES_MAX) this.verified.delete(this.verified.keys().next().value!);
        }
        resolve(ok);
      }),
    );
  }
}
