import { useState } from 'preact/hooks';
import { ApiClient, ApiError, apiPath, describeError } from '../api/api-client.js';
import type { Whoami } from '../api/api-types.js';
import type { Session } from './session-store.js';

/**
 * Logs in with a broker user's name and password (HTTP Basic, checked with
 * `GET /api/whoami`). The user needs a management tag; guest works from this machine only.
 */
export function LoginPage({ onLogin, reason }: { onLogin: (session: Session) => void; reason: string | null }) {
  const [user, setUser] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(reason);
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    const authorization = ApiClient.basic(user, password);
    try {
      const whoami = await new ApiClient(authorization, () => undefined).get<Whoami>(apiPath`/whoami`);
      onLogin({ user: whoami.name, authorization });
    } catch (failure) {
      if (failure instanceof ApiError && failure.code === 'UNAUTHORIZED') setError('Wrong user name or password, or this user may not log in from your address.');
      else if (failure instanceof ApiError && failure.code === 'ACCESS_REFUSED') setError('This user has no management tag (administrator, monitoring, policymaker or management).');
      else setError(describeError(failure));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="login">
      <form class="login-form panel" onSubmit={(event) => void submit(event)} data-testid="login-form">
        <h1>
          <span class="brand-mark" aria-hidden="true" />
          Ferry
        </h1>
        <p class="form-note">Log in with a broker user that has a management tag.</p>
        <label class="field">
          <span class="field-label">User</span>
          <input name="user" autocomplete="username" autocapitalize="off" spellcheck={false} required value={user} onInput={(event) => setUser(event.currentTarget.value)} />
        </label>
        <label class="field">
          <span class="field-label">Password</span>
          <input name="password" type="password" autocomplete="current-password" required value={password} onInput={(event) => setPassword(event.currentTarget.value)} />
        </label>
        {error && (
          <p class="load-error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" class="button button-primary" disabled={busy}>
          {busy ? 'Logging in…' : 'Log in'}
        </button>
      </form>
    </main>
  );
}
