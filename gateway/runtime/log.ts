/**
 * The gateway's logger: pino, JSON lines on stdout (journald and log shippers read them as they
 * are; pretty printing is left to `pino-pretty` on the reading side).
 *
 * Secrets never reach a log line, by two independent means: redaction paths for keys that look
 * like credentials at any depth up to 6 (and the config's own secret paths), and a last-step scrub
 * (`scrub`, gateway/config/report.ts) of each serialized line: every known secret value (the
 * config's secret fields and every value that came from a secret variable, `LoadedConfig.secrets`)
 * and the password of every `scheme://user:password@` URL, in the message, `err.message`,
 * `err.stack` and nested objects alike. So a plugin that logs its URL or an error quoting it
 * cannot leak the password by accident.
 */
import pino from 'pino';
import type { DestinationStream, Logger } from 'pino';
import { REDACTED } from '../config/units.js';
import { scrub } from '../config/report.js';

/** key names redacted wherever they appear (pino redaction matches exact keys) */
export const SECRET_KEY_NAMES = [
  'password',
  'passwd',
  'passphrase',
  'secret',
  'secretKey',
  'secret_key',
  'secretAccessKey',
  'sessionToken',
  'token',
  'accessToken',
  'refreshToken',
  'apiKey',
  'api_key',
  'privateKey',
  'private_key',
  'credentials',
  'authorization',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
] as const;

const MAX_DEPTH = 6;

export function redactionPaths(extraPaths: readonly string[] = []): string[] {
  const paths: string[] = [];
  for (const key of SECRET_KEY_NAMES) {
    for (let depth = 0; depth <= MAX_DEPTH; depth++) paths.push([...Array<string>(depth).fill('*'), key].join('.'));
  }
  return [...paths, ...extraPaths];
}

export interface LoggerOptions {
  level?: string;
  /** secret values to scrub from every line (from the loaded config) */
  secrets?: readonly string[];
  /** extra redaction paths (pino syntax), e.g. the config's secret fields under `config.` */
  redactPaths?: readonly string[];
  /** default: stdout */
  destination?: DestinationStream;
  base?: Record<string, unknown>;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const secrets = (opts.secrets ?? []).filter((s) => s.length > 0);
  return pino(
    {
      level: opts.level ?? 'info',
      base: { pid: process.pid, ...(opts.base ?? {}) },
      redact: { paths: redactionPaths(opts.redactPaths), censor: REDACTED },
      // always: a URL's password is hidden even when no secret value is known (a plugin logging its URL)
      hooks: { streamWrite: (line: string) => scrub(line, secrets) },
    },
    opts.destination ?? pino.destination({ fd: 1, sync: true }),
  );
}
