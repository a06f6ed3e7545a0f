/**
 * Hash routing (#/dashboard, ...): the gateway serves one index.html under /ui/, so the page's
 * place lives in the fragment and a reload or bookmark comes back to it without a server route.
 *
 * Our own, some twenty lines: the UI needs a fixed list of top-level pages and no parameters yet;
 * preact-router and wouter would add a dependency (and path-routing defaults to undo) for that.
 */
import { useEffect, useState } from 'preact/hooks';
import type { Role } from '../api/types.js';

export interface Page {
  /** the fragment after `#/` */
  path: string;
  title: string;
  /** the lowest role that sees the page (every role when left out); the API refuses the rest either way */
  role?: Role;
}

/** Only pages that exist are listed: the nav shows exactly these. */
export const PAGES = [
  { path: 'dashboard', title: 'Dashboard' },
  { path: 'signals', title: 'Signals' },
  { path: 'builds', title: 'Builds' },
  { path: 'alerts', title: 'Alerts' },
  { path: 'operations', title: 'Operations' },
  { path: 'quarantine', title: 'Quarantine' },
  { path: 'losses', title: 'Losses' },
  { path: 'audit', title: 'Audit log' },
  { path: 'access', title: 'Users and tokens', role: 'admin' },
  { path: 'config', title: 'Configuration', role: 'admin' },
] as const satisfies readonly Page[];
export type PagePath = (typeof PAGES)[number]['path'];

const DEFAULT_PAGE: PagePath = 'dashboard';

export function pageOf(hash: string): PagePath {
  const path = hash.replace(/^#\/?/, '').split(/[/?]/)[0] ?? '';
  return PAGES.find((p) => p.path === path)?.path ?? DEFAULT_PAGE;
}

export function hrefOf(page: PagePath): string {
  return `#/${page}`;
}

/** the current page, following the fragment */
export function useHashPage(): PagePath {
  const [page, setPage] = useState<PagePath>(() => pageOf(location.hash));
  useEffect(() => {
    const follow = (): void => setPage(pageOf(location.hash));
    window.addEventListener('hashchange', follow);
    return () => window.removeEventListener('hashchange', follow);
  }, []);
  return page;
}

/** the lowest role that sees a page (viewer when the page names none) */
export function pageRole(page: PagePath): Role {
  return (PAGES.find((p) => p.path === page) as Page | undefined)?.role ?? 'viewer';
}
