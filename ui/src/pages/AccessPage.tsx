/**
 * Users and API tokens (admin; GET/POST/PATCH/DELETE /api/v1/users, GET/POST/DELETE /api/v1/tokens).
 *
 * - A user is made with a role and a password; an admin resets a user's password or deletes the
 *   user (the gateway refuses to delete the last admin, and says so).
 * - A token is made with a label, a role, the highest data class it may read and an expiry. Its
 *   secret is in the answer that creates it and nowhere else (stored hashed): it is shown once here,
 *   with a copy button, held in this page's memory only, so a reload or leaving the page loses it.
 * - Revoking a token refuses it from the next request on.
 */
import { useState } from 'preact/hooks';
import { api } from '../api/client.js';
import type { Role, SensitivityClass, TokenCreated, TokenInfo, UserInfo } from '../api/types.js';
import { roleAllows, useSession } from '../app/session.js';
import { Card } from '../components/Card.js';
import { FormMessage } from '../components/FormMessage.js';
import { ConfirmDialog } from '../components/ops/ConfirmDialog.js';
import { apiDelete, apiPatch, messageOf, useApiGet } from '../components/ops/ops-api.js';
import { RoleNotice } from '../components/ops/RoleNotice.js';
import { dateTime } from '../components/ops/when.js';
import { TableScroll } from '../components/TableScroll.js';

const ROLES: readonly Role[] = ['viewer', 'operator', 'admin'];
const CLASSES: readonly SensitivityClass[] = ['public', 'internal', 'sensitive', 'confidential'];
/** as the gateway's rules (gateway/api/identity/passwords.ts PASSWORD_MIN_CHARS, store.ts USER_NAME) */
const PASSWORD_MIN_CHARS = 10;
const USER_NAME_PATTERN = '[A-Za-z0-9][A-Za-z0-9._@\\-]{0,63}';
const EXPIRIES = [
  { value: '7d', label: '7 days' },
  { value: '30d', label: '30 days' },
  { value: '90d', label: '90 days' },
  { value: '365d', label: '1 year' },
  { value: '', label: 'Never' },
] as const;

const ROLE_WORDS: Record<Role, string> = {
  viewer: 'viewer: status, values, frames, logs',
  operator: 'operator: + alerts, sync pause/resume, OPC-UA trust',
  admin: 'admin: + configuration, users, tokens, raw quarantined bytes',
};

function RoleSelect({ id, value, onChange }: { id: string; value: Role; onChange(r: Role): void }) {
  return (
    <select id={id} value={value} onChange={(e) => onChange(e.currentTarget.value as Role)}>
      {ROLES.map((r) => (
        <option key={r} value={r}>
          {ROLE_WORDS[r]}
        </option>
      ))}
    </select>
  );
}

// ---- users

function NewUserForm({ onCreated }: { onCreated(u: UserInfo): void }) {
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('viewer');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const u = await api.post<UserInfo>('/api/v1/users', { name, role, password });
      setName('');
      setPassword('');
      setRole('viewer');
      onCreated(u);
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="form" onSubmit={(e) => void submit(e)} aria-labelledby="new-user-title">
      <h3 id="new-user-title">New user</h3>
      {error && <FormMessage kind="error">Could not create the user: {error}</FormMessage>}
      <label for="new-user-name">User name</label>
      <input
        id="new-user-name"
        autocomplete="off"
        required
        maxLength={64}
        pattern={USER_NAME_PATTERN}
        aria-describedby="new-user-name-hint"
        value={name}
        onInput={(e) => setName(e.currentTarget.value)}
      />
      <p id="new-user-name-hint" class="hint">
        Letters, digits, and . _ @ - (not first).
      </p>
      <label for="new-user-role">Role</label>
      <RoleSelect id="new-user-role" value={role} onChange={setRole} />
      <label for="new-user-password">Initial password</label>
      <input
        id="new-user-password"
        type="password"
        autocomplete="new-password"
        required
        minLength={PASSWORD_MIN_CHARS}
        aria-describedby="new-user-password-hint"
        value={password}
        onInput={(e) => setPassword(e.currentTarget.value)}
      />
      <p id="new-user-password-hint" class="hint">
        At least {PASSWORD_MIN_CHARS} characters. Give it to the user over a safe channel.
      </p>
      <button type="submit" class="button button-primary" disabled={busy}>
        {busy ? 'Creating…' : 'Create user'}
      </button>
    </form>
  );
}

type UserAction = { kind: 'password' | 'delete'; user: UserInfo } | null;

function UsersCard({ me }: { me: string }) {
  const users = useApiGet<UserInfo[]>('/api/v1/users');
  const [action, setAction] = useState<UserAction>(null);
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);

  const close = (): void => {
    setAction(null);
    setPassword('');
  };
  const run = async (): Promise<void> => {
    if (!action) return;
    const name = action.user.name;
    if (action.kind === 'password' && password.length < PASSWORD_MIN_CHARS) {
      setError(`A password needs at least ${PASSWORD_MIN_CHARS} characters.`);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      if (action.kind === 'password') {
        await apiPatch<UserInfo>(`/api/v1/users/${encodeURIComponent(name)}`, { password });
        setDone(`Password of ${name} reset.`);
      } else {
        await apiDelete<void>(`/api/v1/users/${encodeURIComponent(name)}`);
        setDone(`User ${name} deleted; their sessions are ended.`);
      }
      users.reload();
    } catch (err) {
      setError(`${action.kind === 'password' ? 'Could not reset the password' : 'Could not delete the user'} of ${name}: ${messageOf(err)}`);
    } finally {
      setBusy(false);
      close();
    }
  };

  return (
    <Card id="users" title="Users" wide>
      {users.error && <FormMessage kind="error">Could not read the users: {users.error}</FormMessage>}
      {error && <FormMessage kind="error">{error}</FormMessage>}
      {done && <FormMessage kind="success">{done}</FormMessage>}
      {users.data && (
        <TableScroll label="Users table">
          <table>
            <thead>
              <tr>
                <th scope="col">User</th>
                <th scope="col">Role</th>
                <th scope="col">Created</th>
                <th scope="col">Changed</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {users.data.map((u) => (
                <tr key={u.name} data-user={u.name}>
                  <th scope="row">
                    {u.name}
                    {u.name === me && <span class="cell-detail">you</span>}
                  </th>
                  <td data-figure="role">{u.role}</td>
                  <td>{dateTime(u.createdAt)}</td>
                  <td>{dateTime(u.updatedAt)}</td>
                  <td>
                    <div class="row-actions">
                      <button
                        type="button"
                        class="button button-small"
                        onClick={() => setAction({ kind: 'password', user: u })}
                        aria-label={`Reset password of ${u.name}`}
                      >
                        Reset password…
                      </button>
                      {u.name !== me && (
                        <button
                          type="button"
                          class="button button-small button-danger"
                          onClick={() => setAction({ kind: 'delete', user: u })}
                          aria-label={`Delete user ${u.name}`}
                        >
                          Delete…
                        </button>
                      )}
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableScroll>
      )}
      <NewUserForm
        onCreated={(u) => {
          setDone(`User ${u.name} created with role ${u.role}.`);
          setError(null);
          users.reload();
        }}
      />
      {action?.kind === 'password' && (
        <ConfirmDialog
          id="reset-password"
          title={`Reset the password of ${action.user.name}`}
          confirmLabel="Set password"
          danger={false}
          busy={busy}
          onCancel={close}
          onConfirm={() => void run()}
        >
          <p>The old password stops working at once. Their current sessions stay open until they log out or expire.</p>
          <div class="form">
            <label for="reset-password-input">New password</label>
            <input
              id="reset-password-input"
              type="password"
              autocomplete="new-password"
              minLength={PASSWORD_MIN_CHARS}
              value={password}
              onInput={(e) => setPassword(e.currentTarget.value)}
            />
            <p class="hint">At least {PASSWORD_MIN_CHARS} characters.</p>
          </div>
        </ConfirmDialog>
      )}
      {action?.kind === 'delete' && (
        <ConfirmDialog
          id="delete-user"
          title={`Delete user ${action.user.name}?`}
          confirmLabel={`Delete ${action.user.name}`}
          busy={busy}
          onCancel={close}
          onConfirm={() => void run()}
        >
          <p>
            {action.user.name} ({action.user.role}) can no longer log in, and their open sessions end now. The audit log keeps what they did.
          </p>
        </ConfirmDialog>
      )}
    </Card>
  );
}

// ---- tokens

function NewTokenForm({ onCreated }: { onCreated(t: TokenCreated): void }) {
  const [label, setLabel] = useState('');
  const [role, setRole] = useState<Role>('viewer');
  const [maxClass, setMaxClass] = useState<SensitivityClass>('internal');
  const [expiresIn, setExpiresIn] = useState<string>('90d');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const made = await api.post<TokenCreated>('/api/v1/tokens', { label, role, maxClass, ...(expiresIn ? { expiresIn } : {}) });
      setLabel('');
      onCreated(made);
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="form" onSubmit={(e) => void submit(e)} aria-labelledby="new-token-title">
      <h3 id="new-token-title">New API token</h3>
      {error && <FormMessage kind="error">Could not create the token: {error}</FormMessage>}
      <label for="new-token-label">Label</label>
      <input
        id="new-token-label"
        autocomplete="off"
        required
        maxLength={128}
        aria-describedby="new-token-label-hint"
        value={label}
        onInput={(e) => setLabel(e.currentTarget.value)}
      />
      <p id="new-token-label-hint" class="hint">
        Who uses it, e.g. grafana or mes-line-2.
      </p>
      <label for="new-token-role">Role</label>
      <RoleSelect id="new-token-role" value={role} onChange={setRole} />
      <label for="new-token-class">Highest data class it may read</label>
      <select id="new-token-class" value={maxClass} onChange={(e) => setMaxClass(e.currentTarget.value as SensitivityClass)}>
        {CLASSES.map((c) => (
          <option key={c} value={c}>
            {c}
          </option>
        ))}
      </select>
      <label for="new-token-expiry">Expires in</label>
      <select id="new-token-expiry" value={expiresIn} onChange={(e) => setExpiresIn(e.currentTarget.value)}>
        {EXPIRIES.map((x) => (
          <option key={x.value} value={x.value}>
            {x.label}
          </option>
        ))}
      </select>
      <button type="submit" class="button button-primary" disabled={busy}>
        {busy ? 'Creating…' : 'Create token'}
      </button>
    </form>
  );
}

function TokenSecret({ made, onDismiss }: { made: TokenCreated; onDismiss(): void }) {
  const [copied, setCopied] = useState<string | null>(null);
  const copy = async (): Promise<void> => {
    try {
      await navigator.clipboard.writeText(made.token);
      setCopied('Copied to the clipboard.');
    } catch {
      setCopied('The browser did not allow copying: select the token and copy it.');
    }
  };
  return (
    <section class="secret" aria-labelledby="token-secret-title" data-token-secret>
      <h3 id="token-secret-title">Token {made.info.label} created: copy it now</h3>
      <p>
        This is the only time the token is shown: the gateway keeps only its hash. Send it as <code>Authorization: Bearer &lt;token&gt;</code>.
      </p>
      <label for="token-secret-value">Token</label>
      <div class="secret-row">
        <input id="token-secret-value" class="mono" readOnly value={made.token} onFocus={(e) => e.currentTarget.select()} />
        <button type="button" class="button button-primary" onClick={() => void copy()}>
          Copy
        </button>
      </div>
      {copied && <p role="status">{copied}</p>}
      <button type="button" class="button" onClick={onDismiss}>
        I have stored it
      </button>
    </section>
  );
}

function tokenState(t: TokenInfo, now: number): string {
  if (t.revokedAt) return `revoked ${dateTime(t.revokedAt)}`;
  if (t.expiresAt && Date.parse(t.expiresAt) <= now) return `expired ${dateTime(t.expiresAt)}`;
  return t.expiresAt ? `valid until ${dateTime(t.expiresAt)}` : 'valid, no expiry';
}

function TokensCard() {
  const tokens = useApiGet<TokenInfo[]>('/api/v1/tokens');
  const [made, setMade] = useState<TokenCreated | null>(null);
  const [asked, setAsked] = useState<TokenInfo | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const now = Date.now();

  const revoke = async (t: TokenInfo): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      await apiDelete<TokenInfo>(`/api/v1/tokens/${encodeURIComponent(t.id)}`);
      setDone(`Token ${t.label} revoked: it is refused from now on.`);
      tokens.reload();
    } catch (err) {
      setError(`Could not revoke token ${t.label}: ${messageOf(err)}`);
    } finally {
      setBusy(false);
      setAsked(null);
    }
  };

  return (
    <Card id="tokens" title="API tokens" wide>
      <p class="muted">For machines (Grafana, an MES, scripts). A token reads no data above its class.</p>
      {tokens.error && <FormMessage kind="error">Could not read the tokens: {tokens.error}</FormMessage>}
      {error && <FormMessage kind="error">{error}</FormMessage>}
      {done && <FormMessage kind="success">{done}</FormMessage>}
      {made && <TokenSecret made={made} onDismiss={() => setMade(null)} />}
      {tokens.data && tokens.data.length === 0 && <p class="muted">No tokens yet.</p>}
      {tokens.data && tokens.data.length > 0 && (
        <TableScroll label="API tokens table">
          <table>
            <thead>
              <tr>
                <th scope="col">Label</th>
                <th scope="col">Role</th>
                <th scope="col">Max class</th>
                <th scope="col">State</th>
                <th scope="col">Created</th>
                <th scope="col">Last used</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {tokens.data.map((t) => (
                <tr key={t.id} data-token={t.label}>
                  <th scope="row">
                    {t.label}
                    <span class="cell-detail mono">lg_{t.id}_…</span>
                  </th>
                  <td>{t.role}</td>
                  <td>{t.maxClass}</td>
                  <td data-figure="token-state">{tokenState(t, now)}</td>
                  <td>
                    {dateTime(t.createdAt)}
                    <span class="cell-detail">by {t.createdBy}</span>
                  </td>
                  <td>{dateTime(t.lastUsedAt)}</td>
                  <td>
                    {!t.revokedAt && (
                      <button type="button" class="button button-small button-danger" onClick={() => setAsked(t)} aria-label={`Revoke token ${t.label}`}>
                        Revoke…
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableScroll>
      )}
      <NewTokenForm
        onCreated={(t) => {
          setMade(t);
          setDone(null);
          setError(null);
          tokens.reload();
        }}
      />
      {asked && (
        <ConfirmDialog
          id="revoke-token"
          title={`Revoke token ${asked.label}?`}
          confirmLabel={`Revoke ${asked.label}`}
          busy={busy}
          onCancel={() => setAsked(null)}
          onConfirm={() => void revoke(asked)}
        >
          <p>Whatever uses this token ({asked.role}) is refused from its next request on. A revoked token cannot be restored; create a new one instead.</p>
        </ConfirmDialog>
      )}
    </Card>
  );
}

export function AccessPage() {
  const session = useSession();
  if (!roleAllows(session.role, 'admin')) return <RoleNotice title="Users and tokens" needed="admin" role={session.role} />;
  return (
    <>
      <h1>Users and tokens</h1>
      <div class="grid">
        <UsersCard me={session.user} />
        <TokensCard />
      </div>
    </>
  );
}
