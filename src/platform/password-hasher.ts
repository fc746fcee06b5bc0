import { randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';

/** Hashes and checks passwords; the hash string carries its own salt and parameters. */
export interface PasswordHasher {
  hash(password: string): string;
  /** May answer later: a real hash takes tens of milliseconds, off the event loop. */
  verify(password: string, hash: string): boolean | Promise<boolean>;
}

/**
 * scrypt (N=16384, r=8, p=1) with a 16-byte random salt, stored as
 * `scrypt$<salt hex>$<key hex>`. Verification is constant-time.
 */
export class ScryptPasswordHasher implements PasswordHasher {
  hash(password: string): string {
    const salt = randomBytes(16);
    const key = scryptSync(password, salt, 32);
    return `scrypt$${salt.toString('hex')}$${key.toString('hex')}`;
  }

  /** Runs scrypt in the thread pool, so logins do not stall the event loop (~50 ms each). */
  verify(password: string, hash: string): Promise<boolean> {
    const [scheme, saltHex, keyHex] = hash.split('$');
    if (scheme !== 'scrypt' || !saltHex || !keyHex) return Promise.resolve(false);
    const expected = Buffer.from(keyHex, 'hex');
    return new Promise((resolve) =>
      scrypt(password, Buffer.from(saltHex, 'hex'), expected.length, (error, actual) =>
        resolve(!error && actual.length === expected.length && timingSafeEqual(actual, expected)),
      ),
    );
  }
}
