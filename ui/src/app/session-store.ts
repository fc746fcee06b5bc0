/** A logged-in user of the console: the name to show and the Authorization header to send. */
export interface Session {
  readonly user: string;
  readonly authorization: string;
}

const KEY = 'ferry.console.session';

/**
 * Keeps the login for this tab only (sessionStorage): it survives a reload,
 * is gone when the tab closes, and is never written to disk by the console.
 */
export const sessionStore = {
  load(): Session | null {
    try {
      const text = sessionStorage.getItem(KEY);
      if (text === null) return null;
      const value = JSON.parse(text) as Partial<Session>;
      return typeof value.user === 'string' && typeof value.authorization === 'string' ? { user: value.user, authorization: value.authorization } : null;
    } catch {
      return null; // Storage disabled or damaged: log in again.
    }
  },
  save(session: Session): void {
    try {
      sessionStorage.setItem(KEY, JSON.stringify(session));
    } catch {
      // Storage disabled: the login lasts until the page reloads.
    }
  },
  clear(): void {
    try {
      sessionStorage.removeItem(KEY);
    } catch {
      // Nothing stored.
    }
  },
};
