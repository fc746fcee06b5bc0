/** Exit codes of the `ferry` command; scripts may rely on them. */
export const EXIT_CODES = {
  success: 0,
  /**
   * The command ran and failed: the server answered with an error (its code is
   * printed), could not be reached, or `serve` could not start.
   */
  failure: 1,
  /** The command line itself is wrong: unknown command or flag, missing or bad value. */
  usage: 2,
  /** `ferry bench` was stopped by Ctrl-C (SIGINT) or SIGTERM: it cleaned up, and its results are partial. */
  interrupted: 130,
} as const;
