import { FerryError, isFerryError } from '../lib/ferry-error.js';

/**
 * Codes the client raises itself (docs/errors.md, "Native client"). Errors
 * the server answers keep the server's code (core codes such as
 * `QUEUE_NOT_FOUND`, protocol codes such as `NATIVE_FRAME_TOO_LARGE`).
 */
export const CLIENT_ERROR_CODES = [
  'CONNECTION_FAILED',
  'CONNECTION_CLOSED',
  'CONNECTION_LOST',
  'TIMEOUT',
  'CONSUMER_CANCELLED',
  'TRANSACTION_CLOSED',
  'REQUEST_UNROUTABLE',
  'HANDLER_FAILED',
] as const;

/** A code the client raises itself. */
export type ClientErrorCode = (typeof CLIENT_ERROR_CODES)[number];

/**
 * Every failure the client reports: a call's promise rejects with it, and
 * the client's `error` event carries it. Branch on `code` (stable), never on
 * the message. Codes the server answered (`QUEUE_NOT_FOUND`, `ACCESS_REFUSED`,
 * `NATIVE_AUTHENTICATION_FAILED`, …) pass through unchanged; the client's own
 * are {@link CLIENT_ERROR_CODES}.
 */
export class FerryClientError extends FerryError<string> {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'FerryClientError';
  }
}

/** Wraps any failure as a FerryClientError, keeping a FerryError's code. */
export function toClientError(error: unknown, fallbackCode: ClientErrorCode = 'CONNECTION_FAILED'): FerryClientError {
  if (error instanceof FerryClientError) return error;
  if (isFerryError(error)) return new FerryClientError(error.code, error.message.replace(`${error.code}: `, ''), { cause: error });
  const message = error instanceof Error ? error.message : String(error);
  return new FerryClientError(fallbackCode, message, { cause: error });
}
