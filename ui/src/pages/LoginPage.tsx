/**
 * Login (POST /api/v1/login). The API's refusals are shown as it words them: a wrong user name or
 * password (401), a user name locked out after too many failures (429 LG_API_LOCKED_OUT, with the
 * wait), too many attempts from this address (429 from the rate limit).
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, api } from '../api/client.js';
import type { LoginAnswer } from '../api/types.js';
import { AuthLayout } from '../components/AuthLayout.js';
import { FormMessage } from '../components/FormMessage.js';

function refusal(err: unknown): string {
  if (!(err instanceof ApiError)) return String(err);
  if (err.code === 'LG_API_LOCKED_OUT') return `Locked out: ${err.message}`;
  if (err.status === 429) return `Too many login attempts from this computer: ${err.message}`;
  return err.message;
}

export function LoginPage({ notice, initialUser, onLoggedIn }: { notice: string | null; initialUser: string; onLoggedIn(answer: LoginAnswer): void }) {
  const [user, setUser] = useState(initialUser);
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const passwordField = useRef<HTMLInputElement>(null);

  useEffect(() => {
    if (initialUser) passwordField.current?.focus();
  }, [initialUser]);

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setError(null);
    setBusy(true);
    try {
      const answer = await api.post<LoginAnswer>('/api/v1/login', { user, password }, { unauthenticatedIsAnswer: true });
      onLoggedIn(answer);
    } catch (err) {
      setError(refusal(err));
      setPassword('');
      passwordField.current?.focus();
    } finally {
      setBusy(false);
    }
  };

  return (
    <AuthLayout title="Log in">
      {notice && !error && <FormMessage kind="notice">{notice}</FormMessage>}
      {error && <FormMessage kind="error">{error}</FormMessage>}
      <form class="form" onSubmit={(e) => void submit(e)}>
        <label for="login-user">User name</label>
        <input id="login-user" name="user" autocomplete="username" required maxLength={64} value={user} onInput={(e) => setUser(e.currentTarget.value)} />
        <label for="login-password">Password</label>
        <input
          id="login-password"
          ref={passwordField}
          name="password"
          type="password"
          autocomplete="current-password"
          required
          value={password}
          onInput={(e) => setPassword(e.currentTarget.value)}
        />
        <button type="submit" class="button button-primary" disabled={busy}>
          {busy ? 'Logging in…' : 'Log in'}
        </button>
      </form>
    </AuthLayout>
  );
}
