/**
 * First run: no admin exists yet (GET /api/v1/setup says `needed`). The one-time setup token the
 * gateway issued, a user name and a password create the first admin (POST /api/v1/setup); the
 * token is void afterwards and the login page follows.
 */
import { useState } from 'preact/hooks';
import { ApiError, api } from '../api/client.js';
import { AuthLayout } from '../components/AuthLayout.js';
import { FormMessage } from '../components/FormMessage.js';

/** as the gateway's password rule (gateway/api/identity/passwords.ts PASSWORD_MIN_CHARS) */
const PASSWORD_MIN_CHARS = 10;

export function SetupPage({ onCreated }: { onCreated(user: string): void }) {
  const [setupToken, setSetupToken] = useState('');
  const [user, setUser] = useState('');
  const [password, setPassword] = useState('');
  const [repeat, setRepeat] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setError(null);
    if (password !== repeat) {
      setError('The two passwords differ.');
      return;
    }
    setBusy(true);
    try {
      await api.post('/api/v1/setup', { setupToken: setupToken.trim(), user, password }, { unauthenticatedIsAnswer: true });
      onCreated(user);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <AuthLayout title="Create the first admin">
      <p>
        This gateway has no admin yet. Create one with the one-time <strong>setup token</strong> the gateway issued. It is:
      </p>
      <ul class="hints">
        <li>
          in the gateway's log (<code>api: no admin yet</code>),
        </li>
        <li>
          in the file <code>&lt;dataDir&gt;/api/setup-token</code> on the gateway's PC,
        </li>
        <li>
          printed by <code>layergate admin setup</code> there.
        </li>
      </ul>
      {error && <FormMessage kind="error">{error}</FormMessage>}
      <form class="form" onSubmit={(e) => void submit(e)}>
        <label for="setup-token">Setup token</label>
        <input
          id="setup-token"
          name="setupToken"
          autocomplete="off"
          spellcheck={false}
          required
          value={setupToken}
          onInput={(e) => setSetupToken(e.currentTarget.value)}
        />
        <label for="setup-user">Admin user name</label>
        <input id="setup-user" name="user" autocomplete="username" required maxLength={64} value={user} onInput={(e) => setUser(e.currentTarget.value)} />
        <label for="setup-password">Password</label>
        <input
          id="setup-password"
          name="password"
          type="password"
          autocomplete="new-password"
          required
          minLength={PASSWORD_MIN_CHARS}
          aria-describedby="setup-password-hint"
          value={password}
          onInput={(e) => setPassword(e.currentTarget.value)}
        />
        <p id="setup-password-hint" class="hint">
          At least {PASSWORD_MIN_CHARS} characters.
        </p>
        <label for="setup-repeat">Password again</label>
        <input
          id="setup-repeat"
          name="repeat"
          type="password"
          autocomplete="new-password"
          required
          value={repeat}
          onInput={(e) => setRepeat(e.currentTarget.value)}
        />
        <button type="submit" class="button button-primary" disabled={busy}>
          {busy ? 'Creating…' : 'Create admin'}
        </button>
      </form>
    </AuthLayout>
  );
}
