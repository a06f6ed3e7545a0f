/**
 * Who is logged in, for the pages: name and role from the login answer or GET /api/v1/me. Role
 * checks here only decide what is offered; the API refuses what a role may not do either way.
 */
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { Role } from '../api/types.js';

export interface Session {
  user: string;
  role: Role;
}

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

export function roleAllows(role: Role, needed: Role): boolean {
  return RANK[role] >= RANK[needed];
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside a logged-in page');
  return s;
}
