import { randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';

/** Hashes and checks passwords; the hash string carries its own salt and parameters. */
export interface PasswordHasher {
  hash(password: string): string;
  verify(password: string, hash: string): boolean;
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

  verify(password: string, hash: string): boolean {
    const [scheme, saltHex, keyHex] = hash.split('$');
    if (scheme !== 'scrypt' || !saltHex || !keyHex) return false;
    const expected = Buffer.from(keyHex, 'hex');
    const actual = scryptSync(password, Buffer.from(saltHex, 'hex'), expected.length);
    return actual.length === expected.length && timingSafeEqual(actual, expected);
  }
}
