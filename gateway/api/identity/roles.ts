/**
 * Roles of API users and tokens, in ascending order of what they may do:
 * - viewer: read status, values, frames and thumbnails, the ledger and the audit log;
 * - operator: + pause/resume sync, acknowledge alerts, trust an OPC-UA server certificate;
 * - admin: + configuration, users, tokens, keys, raw quarantined bytes.
 * A route names the lowest role it needs; a caller with that role or a higher one may use it.
 */
export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export function roleRank(role: Role): number {
  return ROLES.indexOf(role);
}

export function isRole(v: unknown): v is Role {
  return typeof v === 'string' && (ROLES as readonly string[]).includes(v);
}
