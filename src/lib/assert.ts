/**
 * Crashes on a broken invariant. Use only for conditions that can never be
 * false in a correct program; expected failures are typed errors instead.
 */
export function assert(condition: unknown, why: string): asserts condition {
  if (!condition) {
    throw new AssertionFailure(why);
  }
}

/** The error thrown by {@link assert}: a bug, never an expected outcome. */
export class AssertionFailure extends Error {
  constructor(why: string) {
    super(`invariant broken: ${why}`);
    this.name = 'AssertionFailure';
  }
}
