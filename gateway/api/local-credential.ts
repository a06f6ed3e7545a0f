/**
 * The local credential: how `layergate buffer stats|losses` on the gateway's own PC read a running
 * gateway (gateway/cli/running-gateway.ts). The buffer admits one process at a time, so while the
 * gateway runs the CLI cannot open it and asks the gateway's API instead, with this token.
 *
 * At each start the API revokes the previous start's token and makes a new one: role `viewer`
 * (reads only), label `local-cli`, no expiry (valid until the next start revokes it). Its secret is
 * written to `<dataDir>/api/local-token`, mode 0600, in a folder of mode 0700, by the gateway's user.
 *
 * Why this is no new exposure: only the gateway's user and root can read the file, and they can
 * read the buffer's files, the identity store and the TLS key in the same data folder anyway; the
 * token lets them read, through the API, figures they could read from disk. It never leaves the
 * PC (the CLI sends it over loopback only, to the certificate in the same folder), is a viewer's
 * (it cannot change users, tokens or the configuration), and a leaked one dies at the next start
 * (or at once with `DELETE /api/v1/tokens/<id>`). It is not audited: it is the gateway's own,
 * re-made at every start, and an entry per start would say nothing.
 *
 * The file is written to a temporary name and renamed: a CLI never reads half a token, and a token
 * file in place is always the running gateway's (written before the API listens and before
 * `endpoint.json` names it).
 */
import { chmodSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { IdentityStore } from './identity/store.js';

export const LOCAL_TOKEN_FILE = 'local-token';
export const LOCAL_TOKEN_LABEL = 'local-cli';
/** `createdBy` of the local token: no user name can be this (./identity/store.ts USER_NAME) */
const ISSUER = '(gateway)';

export function localTokenPath(apiDir: string): string {
  return path.join(apiDir, LOCAL_TOKEN_FILE);
}

/**
 * Revoke the local tokens of earlier starts, make this start's and write it to the token file.
 * Returns the new token's id.
 */
export function issueLocalToken(identity: IdentityStore, apiDir: string): string {
  for (const t of identity.tokens()) {
    if (t.label === LOCAL_TOKEN_LABEL && t.createdBy === ISSUER && t.revokedAt === null) identity.revokeToken(t.id);
  }
  const made = identity.createToken({ label: LOCAL_TOKEN_LABEL, role: 'viewer', maxClass: 'internal', expiresMs: null, createdBy: ISSUER });
  const file = localTokenPath(apiDir);
  const tmp = `${file}.tmp`;
  // a leftover of a crash may have other permissions: the mode applies only to a file made new
  rmSync(tmp, { force: true });
  writeFileSync(tmp, `${made.token}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
  return made.info.id;
}

/** The local token as the CLI reads it (throws the read's error: ENOENT, EACCES). */
export function readLocalToken(apiDir: string): string {
  return readFileSync(localTokenPath(apiDir), 'utf8').trim();
}
