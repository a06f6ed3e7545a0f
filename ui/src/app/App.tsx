/**
 * The app's states: first run (no admin yet) -> setup; no session -> login; a session -> the shell
 * with its pages. A session that ends under a page (401) comes back to the login page saying so.
 */
import { useEffect, useState } from 'preact/hooks';
import { ApiError, api } from '../api/client.js';
import type { LoginAnswer, MeAnswer } from '../api/types.js';
import { BuildsPage } from '../pages/BuildsPage.js';
import { ConfigPage } from '../pages/ConfigPage.js';
import { AccessPage } from '../pages/AccessPage.js';
import { AlertsPage } from '../pages/AlertsPage.js';
import { AuditPage } from '../pages/AuditPage.js';
import { DashboardPage } from '../pages/DashboardPage.js';
import { LossesPage } from '../pages/LossesPage.js';
import { OperationsPage } from '../pages/OperationsPage.js';
import { QuarantinePage } from '../pages/QuarantinePage.js';
import { LoginPage } from '../pages/LoginPage.js';
import { SetupPage } from '../pages/SetupPage.js';
import { SignalsPage } from '../pages/SignalsPage.js';
import { useLiveStatus } from './live-status.js';
import { PAGES, useHashPage } from './router.js';
import { type Session, SessionContext } from './session.js';
import { Shell } from './Shell.js';

type Phase =
  | { kind: 'starting' }
  | { kind: 'unreachable'; message: string }
  | { kind: 'setup' }
  | { kind: 'login'; notice: string | null; user: string }
  | { kind: 'in'; session: Session };

async function firstPhase(): Promise<Phase> {
  const setup = await api.get<{ needed: boolean }>('/api/v1/setup', { unauthenticatedIsAnswer: true });
  if (setup.needed) return { kind: 'setup' };
  try {
    const me = await api.get<MeAnswer>('/api/v1/me', { unauthenticatedIsAnswer: true });
    api.setCsrfToken(me.csrfToken);
    return { kind: 'in', session: { user: me.name, role: me.role } };
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return { kind: 'login', notice: null, user: '' };
    throw err;
  }
}

function LoggedIn({ session, onLogout }: { session: Session; onLogout(): void }) {
  const live = useLiveStatus();
  const page = useHashPage();
  const title = PAGES.find((p) => p.path === page)?.title ?? '';
  useEffect(() => {
    document.title = `${title} · ${live.status?.machine ?? 'LayerGate'}`;
  }, [title, live.status?.machine]);
  return (
    <SessionContext.Provider value={session}>
      <Shell machine={live.status?.machine ?? null} stream={live.stream} page={page} onLogout={onLogout}>
        {page === 'dashboard' && <DashboardPage live={live} />}
        {page === 'alerts' && <AlertsPage live={live} />}
        {page === 'operations' && <OperationsPage live={live} />}
        {page === 'quarantine' && <QuarantinePage />}
        {page === 'losses' && <LossesPage />}
        {page === 'audit' && <AuditPage />}
        {page === 'access' && <AccessPage />}
        {page === 'config' && <ConfigPage />}
        {page === 'signals' && <SignalsPage />}
        {page === 'builds' && <BuildsPage />}
      </Shell>
    </SessionContext.Provider>
  );
}

export function App() {
  const [phase, setPhase] = useState<Phase>({ kind: 'starting' });

  useEffect(() => {
    api.onSessionEnded(() => {
      api.setCsrfToken(null);
      setPhase({ kind: 'login', notice: 'Your session expired. Log in again.', user: '' });
    });
    firstPhase().then(setPhase, (err: unknown) => setPhase({ kind: 'unreachable', message: err instanceof Error ? err.message : String(err) }));
  }, []);

  useEffect(() => {
    if (phase.kind === 'setup') document.title = 'Create the first admin · LayerGate';
    else if (phase.kind === 'login') document.title = 'Log in · LayerGate';
  }, [phase.kind]);

  const loggedIn = (answer: LoginAnswer): void => {
    api.setCsrfToken(answer.csrfToken);
    setPhase({ kind: 'in', session: { user: answer.user, role: answer.role } });
  };

  const logout = async (): Promise<void> => {
    try {
      await api.post('/api/v1/logout', undefined, { unauthenticatedIsAnswer: true });
    } catch {
      // ended already (401) or unreachable: the page forgets the session either way
    }
    api.setCsrfToken(null);
    setPhase({ kind: 'login', notice: 'You are logged out.', user: '' });
  };

  switch (phase.kind) {
    case 'starting':
      return <p class="starting">Connecting to the gateway…</p>;
    case 'unreachable':
      return (
        <main id="main" class="auth-main">
          <h1>The gateway does not answer</h1>
          <p role="alert">{phase.message}</p>
          <button type="button" class="button" onClick={() => location.reload()}>
            Try again
          </button>
        </main>
      );
    case 'setup':
      return <SetupPage onCreated={(user) => setPhase({ kind: 'login', notice: `Admin ${user} created. Log in with its password.`, user })} />;
    case 'login':
      return <LoginPage key={`${phase.notice}-${phase.user}`} notice={phase.notice} initialUser={phase.user} onLoggedIn={loggedIn} />;
    case 'in':
      return <LoggedIn session={phase.session} onLogout={() => void logout()} />;
  }
}
