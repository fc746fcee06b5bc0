/**
 * An expected failure with a stable string code. Every code is documented in
 * docs/errors.md; a test fails when a code used in src/ is missing there.
 * Callers branch on `code`, never on `message`.
 */
export class FerryError<Code extends string = string> extends Error {
  readonly code: Code;
  override readonly cause?: unknown;

  constructor(code: Code, message: string, options?: { cause?: unknown }) {
    super(`${code}: ${message}`);
    this.name = 'FerryError';
    this.code = code;
    if (options?.cause !== undefined) this.cause = options.cause;
  }
}

/** True when `error` is a FerryError carrying `code`. */
export function isFerryError<C extends string>(error: unknown, code?: C): error is FerryError<C> {
  return error instanceof FerryError && (code === undefined || error.code === code);
}
