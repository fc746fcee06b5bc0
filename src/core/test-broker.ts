/**
 * Shared helpers of the queue and vhost tests (`src/core/queue/*.test.ts`,
 * `src/core/vhost/*.test.ts`). Test support only: nothing in the broker
 * imports it.
 *
 * It imports no layer above core (the tests themselves start the embedded
 * `Broker` from src/server), so the layering check stays clean.
 */
import { turns } from '../platform/event-loop-turns.js';
import type { PasswordHasher } from '../platform/password-hasher.js';
import type { StoredMessage } from './message/message.js';
import type { Delivery } from './queue/delivery.js';
import type { HeaderTable, HeaderValue } from './routing/header-value.js';

const decoder = new TextDecoder();

/**
 * A password hasher without a work factor, for `Broker.start({ passwordHasher })`
 * in tests: each start hashes the default user's password, and scrypt costs
 * about 40 ms a time, which dominates a suite that starts a broker per test.
 * Never use it outside tests.
 */
export const testPasswordHasher: PasswordHasher = {
  hash: (password) => `test$${password}`,
  verify: (password, hash) => hash === `test$${password}`,
};

/**
 * Lets queued work run to completion: promise continuations, callbacks a
 * ManualClock schedules with `runSoon`, storage reads and real disk I/O.
 * Each turn waits for one pass of Node's event loop (check phase).
 */
export function settle(count = 4): Promise<void> {
  return turns(count);
}

/**
 * Settles until `condition()` holds, for work that waits on real disk I/O;
 * gives up after `turnsMax` event-loop turns (the caller's assertion then fails).
 */
export async function settleUntil(condition: () => boolean, turnsMax = 20_000): Promise<void> {
  for (let turn = 0; turn < turnsMax && !condition(); turn++) await settle(1);
}

/** The body of a delivery or message as UTF-8 text. */
export function bodyText(item: Delivery | StoredMessage): string {
  const message = 'message' in item ? item.message : item;
  return decoder.decode(message.body);
}

/** The bodies of deliveries as UTF-8 text, in order. */
export function bodies(deliveries: readonly Delivery[]): string[] {
  return deliveries.map(bodyText);
}

/**
 * Collects what a push consumer receives: pass `inbox.onDelivery` to
 * `broker.consume`. `take()` returns and forgets what arrived so far.
 */
export class Inbox {
  readonly deliveries: Delivery[] = [];
  readonly onDelivery = (delivery: Delivery): void => {
    this.deliveries.push(delivery);
  };

  /** Bodies received so far, as text. */
  bodies(): string[] {
    return bodies(this.deliveries);
  }

  /** Everything received so far; the inbox is empty afterwards. */
  take(): Delivery[] {
    return this.deliveries.splice(0);
  }
}

/** The `x-death` records of a dead-lettered message, newest first ([] when none). */
export function deathRecords(item: Delivery | StoredMessage): HeaderTable[] {
  const message = 'message' in item ? item.message : item;
  const value: HeaderValue | undefined = message.headers['x-death'];
  return Array.isArray(value) ? (value as HeaderTable[]) : [];
}

/** Matches a FerryError (or anything with that `code`), for `assert.rejects` / `assert.throws`. */
export function withCode(code: string): (error: unknown) => boolean {
  return (error) => typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code;
}
