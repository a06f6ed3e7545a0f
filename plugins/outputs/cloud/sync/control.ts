/**
 * The operator's handles on cloud sync, as plain functions: status (progress, ETA), pause, resume and
 * verify of a build against its manifest. `layergate sync ...` calls them; the web UI and the gRPC API
 * are to call the same ones.
 *
 * They work beside a running gateway: they open each cloud output's sync store (SQLite WAL, shared
 * with the gateway's uploader), read it or flip its `paused` setting, which the uploader polls.
 */
import { existsSync } from 'node:fs';
import { SyncNoCloudOutputError, SyncVerifyError } from '../../../../gateway/plugin-api/index.js';
import type { PluginConfigView } from '../../../../gateway/plugin-api/index.js';
import { manifestKey, syncDir } from '../layout.js';
import type { CloudConfig } from '../schema.js';
import { S3Target, cloudS3Settings } from './s3.js';
import { SyncStore } from './store.js';
import type { SyncProgress } from './store.js';

/** The validated config as the sync commands see it: the cloud outputs and the gateway's folder and machine. */
export type CloudConfigView = PluginConfigView<CloudConfig>;

export interface CloudOutputRef {
  name: string;
  config: CloudConfig;
  storeDir: string;
}

/** The configured cloud outputs (all, or the one named), with the settings the running output gets. */
export function cloudOutputs(config: CloudConfigView, name?: string): CloudOutputRef[] {
  const refs = config.instances
    .filter((i) => name === undefined || i.name === name)
    .map((i) => ({ name: i.name, config: i.settings, storeDir: syncDir(config.dataDir, i.name) }));
  if (refs.length === 0) {
    throw new SyncNoCloudOutputError(name ? `no cloud output named "${name}" in the config` : 'the config has no cloud output (an output of type: cloud)');
  }
  return refs;
}

function withStore<T>(ref: CloudOutputRef, fn: (s: SyncStore) => T): T {
  if (!existsSync(ref.storeDir)) throw new SyncVerifyError(`cloud output ${ref.name}: no sync store at ${ref.storeDir} yet (the gateway has not run it)`);
  const store = SyncStore.openExisting(ref.storeDir);
  try {
    return fn(store);
  } finally {
    store.close();
  }
}

export function syncStatus(config: CloudConfigView, name?: string): { output: string; progress: SyncProgress }[] {
  return cloudOutputs(config, name).map((ref) => ({ output: ref.name, progress: withStore(ref, (s) => s.progress()) }));
}

/** Pause uploads (the part in flight is cut short within a second and sent again on resume). */
export function syncPause(config: CloudConfigView, name?: string): string[] {
  return cloudOutputs(config, name).map((ref) =>
    withStore(ref, (s) => {
      s.setPaused(true);
      return ref.name;
    }),
  );
}

export function syncResume(config: CloudConfigView, name?: string): string[] {
  return cloudOutputs(config, name).map((ref) =>
    withStore(ref, (s) => {
      s.setPaused(false);
      s.clearRetryDelays();
      return ref.name;
    }),
  );
}

export interface VerifyProblem {
  key: string;
  problem: string;
}

export interface VerifyReport {
  output: string;
  build: string;
  manifestKey: string;
  objects: number;
  bytes: number;
  ok: boolean;
  problems: VerifyProblem[];
}

interface ManifestJson {
  build: string;
  entries: { key: string; size: number; sha256: string; class: string }[];
}

/**
 * Check the cloud against a build's manifest: every listed object is there with its size and SHA-256
 * (metadata; with `deep`, the downloaded bytes are hashed too), no listed object has a class that may
 * not leave the premises, and the local store knows no object of the build missing from the manifest.
 */
export async function syncVerify(config: CloudConfigView, build: string, opts: { name?: string; deep?: boolean } = {}): Promise<VerifyReport[]> {
  const reports: VerifyReport[] = [];
  for (const ref of cloudOutputs(config, opts.name)) {
    const key = manifestKey(ref.config.prefix, config.machine, build);
    const target = new S3Target(cloudS3Settings(ref.config));
    try {
      const problems: VerifyProblem[] = [];
      let manifest: ManifestJson;
      try {
        manifest = JSON.parse((await target.getBytes(key)).toString('utf8')) as ManifestJson;
      } catch (err) {
        throw new SyncVerifyError(
          `cloud output ${ref.name}: no readable manifest for build "${build}" at s3://${ref.config.bucket}/${key}: ${(err as Error).message}`,
          { cause: err },
        );
      }
      for (const e of manifest.entries) {
        if (e.class !== 'public' && e.class !== 'internal') problems.push({ key: e.key, problem: `class ${e.class} may not be in the cloud` });
        const head = await target.head(e.key);
        if (!head) {
          problems.push({ key: e.key, problem: 'missing' });
          continue;
        }
        if (head.size !== e.size) problems.push({ key: e.key, problem: `size ${head.size}, manifest says ${e.size}` });
        if (head.metadata.sha256 !== e.sha256)
          problems.push({ key: e.key, problem: `sha256 metadata ${head.metadata.sha256 ?? '(none)'}, manifest says ${e.sha256}` });
        if (opts.deep) {
          const sha = await target.sha256(e.key);
          if (sha !== e.sha256) problems.push({ key: e.key, problem: `content sha256 ${sha}, manifest says ${e.sha256}` });
        }
      }
      if (existsSync(ref.storeDir)) {
        const listed = new Set(manifest.entries.map((e) => e.key));
        withStore(ref, (s) => {
          for (const e of s.manifestEntries(build)) {
            if (!listed.has(e.key))
              problems.push({ key: e.key, problem: "in the local sync store but not in the manifest (the manifest is older than the build's last data)" });
          }
        });
      }
      reports.push({
        output: ref.name,
        build,
        manifestKey: key,
        objects: manifest.entries.length,
        bytes: manifest.entries.reduce((n, e) => n + e.size, 0),
        ok: problems.length === 0,
        problems,
      });
    } finally {
      target.close();
    }
  }
  return reports;
}

/** `sync status` as text. */
export function statusText(rows: { output: string; progress: SyncProgress }[]): string {
  const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
  const out: string[] = [];
  for (const { output, progress: p } of rows) {
    const done = p.synced.bytes + p.queuedConfirmedBytes;
    const total = p.synced.bytes + p.queued.bytes;
    const pct = total > 0 ? ((100 * done) / total).toFixed(1) : '100.0';
    const eta = p.etaSeconds === null ? 'unknown' : p.etaSeconds === 0 ? 'done' : formatDuration(p.etaSeconds);
    out.push(
      `cloud output ${output}${p.paused ? '  [PAUSED]' : ''}`,
      `  progress     ${pct}%  (${mb(done)} of ${mb(total)})`,
      `  queued       ${p.queued.objects} objects, ${mb(p.queued.bytes - p.queuedConfirmedBytes)} left`,
      ...p.byPriority.map((b) => `    priority ${b.priority} ${b.mode.padEnd(10)} ${b.objects} objects, ${mb(b.bytes)}`),
      `  synced       ${p.synced.objects} objects, ${mb(p.synced.bytes)}`,
      `  staged       ${p.staged.records} time-series records waiting for their window`,
      `  rate         ${p.rate ? `${((p.rate.bytesPerSecond * 8) / 1e6).toFixed(2)} Mbit/s` : 'not measured yet'}`,
      `  ETA          ${eta}`,
      `  local copies ${p.local.objects} objects, ${mb(p.local.bytes)} (${mb(p.local.syncedBytes)} synced, evictable)`,
      `  refused      ${p.refused.length ? p.refused.map((r) => `${r.class} ${r.records}`).join(', ') : 'none'} (may not leave the premises)`,
      ...(p.lastError ? [`  last error   ${p.lastError}`] : []),
      ...p.builds.map(
        (b) => `  build ${b.build}: ${b.synced}/${b.objects} objects synced, manifest ${b.manifestAtMs ? new Date(b.manifestAtMs).toISOString() : 'not yet'}`,
      ),
    );
  }
  return `${out.join('\n')}\n`;
}

function formatDuration(s: number): string {
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}
