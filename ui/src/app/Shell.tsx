/**
 * The logged-in frame: a skip link, the header (product, machine name, live/reconnecting, nav,
 * theme, user menu with role and logout) and the page in <main>.
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { StreamState } from '../api/status-stream.js';
import { ThemeToggle } from '../components/ThemeToggle.js';
import { hrefOf, PAGES, type PagePath, pageRole } from './router.js';
import { roleAllows, useSession } from './session.js';

const STREAM_WORDS: Record<StreamState, string> = { connecting: 'Connecting…', live: 'Live', reconnecting: 'Reconnecting…' };

function UserMenu({ onLogout }: { onLogout(): void }) {
  const session = useSession();
  const [open, setOpen] = useState(false);
  const box = useRef<HTMLDivElement>(null);
  const button = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (!open) return;
    const outside = (e: MouseEvent): void => {
      if (!box.current?.contains(e.target as Node)) setOpen(false);
    };
    const closeOnEscape = (e: KeyboardEvent): void => {
      if (e.key === 'Escape') {
        setOpen(false);
        button.current?.focus();
      }
    };
    document.addEventListener('mousedown', outside);
    document.addEventListener('keydown', closeOnEscape);
    return () => {
      document.removeEventListener('mousedown', outside);
      document.removeEventListener('keydown', closeOnEscape);
    };
  }, [open]);
  return (
    <div class="user-menu" ref={box}>
      <button ref={button} type="button" class="button button-quiet" aria-expanded={open} aria-controls="user-menu-panel" onClick={() => setOpen(!open)}>
        {session.user} <span class="role">{session.role}</span>
      </button>
      <div id="user-menu-panel" class="user-menu-panel" hidden={!open}>
        <p>
          Logged in as <strong>{session.user}</strong>, role <strong>{session.role}</strong>.
        </p>
        <button type="button" class="button" onClick={onLogout}>
          Log out
        </button>
      </div>
    </div>
  );
}

export function Shell({
  machine,
  stream,
  page,
  onLogout,
  children,
}: {
  machine: string | null;
  stream: StreamState;
  page: PagePath;
  onLogout(): void;
  children: ComponentChildren;
}) {
  const session = useSession();
  return (
    <div class="shell">
      {/* a button, not an href="#main": the fragment is the router's */}
      <button type="button" class="skip-link" onClick={() => document.getElementById('main')?.focus()}>
        Skip to content
      </button>
      <header class="shell-header">
        <div class="shell-title">
          <span class="brand">LayerGate</span>
          <span class="machine" data-figure="machine">
            {machine ?? '…'}
          </span>
          <span class={`stream stream-${stream}`} role="status">
            {STREAM_WORDS[stream]}
          </span>
        </div>
        <nav aria-label="Pages">
          <ul>
            {PAGES.filter((p) => roleAllows(session.role, pageRole(p.path))).map((p) => (
              <li key={p.path}>
                <a href={hrefOf(p.path)} aria-current={p.path === page ? 'page' : undefined}>
                  {p.title}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="shell-tools">
          <ThemeToggle />
          <UserMenu onLogout={onLogout} />
        </div>
      </header>
      <main id="main" class="shell-main" tabIndex={-1}>
        {children}
      </main>
    </div>
  );
}
