/**
 * Config fragments every plugin builds its schema from, so one setting has one shape and one name
 * across the plugins: `tls` (one TLS shape for every client connection), the reconnect/retry delays
 * (`reconnect:` of an input, `retry:` of an output: `{ initial, max }`) and `classes` (the class list
 * of an output), plus the one place that turns the `tls` setting into Node's TLS options.
 *
 * Constraints: fragments are zod schemas with a description on every key (the configuration
 * reference is generated from them); PEM files are read when a plugin builds its client, and a file
 * that cannot be read is an error naming the config key and the file.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { byteSize, duration, secret } from '../config/units.js';
import type { SensitivityClass } from './record.js';

/** TLS options of a client connection: PEM files and checks. */
export const tlsOptionsSchema = z.strictObject({
  ca: z.string().min(1).optional().meta({ description: 'PEM file of the CA that signed the server certificate (default: the system CAs)' }),
  cert: z.string().min(1).optional().meta({ description: 'PEM file of the client certificate (mutual TLS)' }),
  key: z.string().min(1).optional().meta({ description: "PEM file of the client certificate's private key (mutual TLS)" }),
  passphrase: secret('passphrase of the client key').optional(),
  rejectUnauthorized: z.boolean().default(true).meta({ description: 'verify the server certificate (turn off only on a test bench)' }),
  servername: z.string().min(1).optional().meta({ description: 'TLS server name (SNI) when it differs from the host' }),
});
export type TlsOptions = z.infer<typeof tlsOptionsSchema>;

/** The `tls` setting: `false` (plain), `true` (TLS, system CAs) or TLS options. */
export type TlsSetting = boolean | TlsOptions;

/**
 * The `tls` key of a plugin; `description` says what it connects to and what absent means there.
 * With `dflt`, absent is that value (an object store that speaks HTTPS unless told otherwise).
 */
export function tlsSetting(description: string, dflt?: boolean) {
  const setting = z.union([z.boolean(), tlsOptionsSchema]);
  const meta = {
    description: `${description}; \`true\`: TLS with the system CAs; \`false\`: plain; or options { ca, cert, key, passphrase, rejectUnauthorized, servername }`,
  };
  return dflt === undefined ? setting.optional().meta(meta) : setting.default(dflt).meta(meta);
}

/** Node's TLS client options a `tls` setting gives (a subset of `tls.ConnectionOptions`, files read). */
export interface TlsClientOptions {
  rejectUnauthorized?: boolean;
  ca?: Buffer[];
  cert?: Buffer;
  key?: Buffer;
  passphrase?: string;
  servername?: string;
}

/**
 * Node's TLS options for a `tls` setting, PEM files read: undefined for `false` or absent (the caller
 * decides what absent means, e.g. from a `rediss://` or `mqtts://` URL), `{}` for `true`. `where`
 * names the setting in errors (`outputs.<kafka>.tls`).
 */
export function tlsConnectionOptions(tls: TlsSetting | undefined, where: string): TlsClientOptions | undefined {
  if (tls === undefined || tls === false) return undefined;
  if (tls === true) return {};
  const read = (key: 'ca' | 'cert' | 'key', file: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new Error(`${where}.${key}: cannot read ${file}: ${(err as Error).message}`, { cause: err });
    }
  };
  return {
    rejectUnauthorized: tls.rejectUnauthorized,
    ...(tls.ca ? { ca: [read('ca', tls.ca)] } : {}),
    ...(tls.cert ? { cert: read('cert', tls.cert) } : {}),
    ...(tls.key ? { key: read('key', tls.key) } : {}),
    ...(tls.passphrase ? { passphrase: tls.passphrase } : {}),
    ...(tls.servername ? { servername: tls.servername } : {}),
  };
}

/** Reconnect or retry delays: the first wait after a failure, doubling per failure up to `max`. */
export interface RetryDelays {
  /** ms */
  initial: number;
  /** ms */
  max: number;
}

/** The `reconnect:` / `retry:` key of a plugin, with the plugin's defaults (durations like '500ms'). */
export function retryDelays(defaults: { initial: string; max: string }, description: string) {
  return z
    .strictObject({
      initial: duration().prefault(defaults.initial).meta({ description: 'first delay after a failure; doubles per failed attempt' }),
      max: duration().prefault(defaults.max).meta({ description: 'longest delay' }),
    })
    .prefault({})
    .meta({ description });
}

/** The `classes` key: the classes an output takes (one name for every output). */
export function classList<const T extends readonly [SensitivityClass, ...SensitivityClass[]]>(allowed: T, description: string) {
  return z.array(z.enum(allowed)).min(1).optional().meta({ description });
}

/** A regular expression as a config string (e.g. an input's `fileNamePattern`), refused at load when it does not compile. */
export const regexSetting = z
  .string()
  .min(1)
  .superRefine((s, ctx) => {
    try {
      new RegExp(s);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `not a valid regular expression: ${(err as Error).message}` });
    }
  });

/**
 * The `upload` key of a file-based input (frames, files): the HTTP upload route of ./upload-server.ts,
 * with the input's own defaults. Optional: an input without it has no route.
 */
export function uploadRouteSetting(o: { route: string; body: string; maxConcurrent: number; minBytesPerSecond: string; bodyGrace: string }) {
  return z
    .strictObject({
      host: z.string().default('127.0.0.1').meta({ description: 'listen address (keep it on loopback unless a reverse proxy is in front)' }),
      port: z.number().int().min(0).max(65535).meta({ description: 'listen port (0 = any free port)' }),
      token: secret('bearer token the uploader must send as `Authorization: Bearer <token>`'),
      maxConcurrent: z.number().int().min(1).max(64).default(o.maxConcurrent).meta({
        description:
          'uploads handled at the same time; one more is answered 503 with Retry-After: 1 without reading its body (each upload is held in memory until its commit)',
      }),
      minBytesPerSecond: byteSize()
        .refine((n) => n >= 1, { message: 'expected at least 1 byte per second' })
        .prefault(o.minBytesPerSecond)
        .meta({
          description:
            'slowest body accepted: after bodyGrace, an upload must have delivered this many bytes per second since bodyGrace ended, else it is answered 408 and its slot freed (bytes per second)',
        }),
      bodyGrace: duration().prefault(o.bodyGrace).meta({
        description:
          'time a body may take before minBytesPerSecond applies; with maxConcurrent >= 2 at most maxConcurrent - 1 uploads may still be sending after it, the last slot is kept for uploads that finish within it',
      }),
    })
    .optional()
    .meta({ description: `an HTTP upload route: POST ${o.route} with ${o.body} as the body; 201 after the buffer commit` });
}

/**
 * The drop-folder keys of a file-based input (frames, files) that ./drop-folder.ts reads: release,
 * where released and rejected files go, and when a file counts as written; spread into the input's
 * schema with the input's own defaults. `committed`: what of a file is committed, for the docs.
 */
export function dropFolderSettings(o: { committed: string; stableFor: string; rescanInterval: string }) {
  return {
    release: z
      .enum(['move', 'delete'])
      .default('move')
      .meta({ description: `what happens to a source file once ${o.committed} committed to the buffer: moved to processedDir, or deleted` }),
    processedDir: z.string().min(1).optional().meta({ description: 'where released files go with release: move (default <dropDir>/processed)' }),
    quarantineDir: z.string().min(1).optional().meta({ description: 'where rejected files go (default <dropDir>/quarantine)' }),
    stableFor: duration().prefault(o.stableFor).meta({
      description:
        'a file is taken once its size and modification time have not changed for this long (temporary names such as .x.part and *.tmp are never taken)',
    }),
    rescanInterval: duration()
      .refine((ms) => ms >= 10, { message: 'expected at least 10ms' })
      .prefault(o.rescanInterval)
      .meta({ description: 'the folder is listed this often in addition to file-system events (a safety net for missed events)' }),
  };
}
