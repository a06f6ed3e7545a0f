/**
 * The cloud output's actions in the control-plane API (gateway/plugin-api/actions.ts), beside its
 * `layergate sync` commands (./commands.ts) and on the same functions (./control.ts):
 *
 *   GET  /api/v1/plugins/cloud/<output>/actions/sync-status   viewer     what `sync status --output <output> --json` prints
 *   POST /api/v1/plugins/cloud/<output>/actions/sync-pause    operator   uploads stop within a second (records keep being queued)
 *   POST /api/v1/plugins/cloud/<output>/actions/sync-resume   operator   uploads continue from the last confirmed part
 *
 * `sync-status` also feeds the live status (`outputs[].sync`: paused, bandwidth used against the cap,
 * queue, ETA), read at every status interval. Like the commands, they open the output's sync store
 * (SQLite WAL, shared with the running uploader), read it or flip its `paused` setting, which the
 * uploader polls. A store the gateway has not made yet is a 404 naming where it looked.
 */
import { z } from 'zod';
import { ApiNotFoundError, LayerGateError, SENSITIVITY_CLASSES, defineAction } from '../../../../gateway/plugin-api/index.js';
import type { ActionContext, PluginActions, SyncSection } from '../../../../gateway/plugin-api/index.js';
import { SYNC_MODES } from '../schema.js';
import type { CloudConfig } from '../schema.js';
import { scheduledCap } from './bandwidth.js';

/** The store and S3 code loads when an action runs, not with the definition. */
const control = () => import('./control.js');

const action = defineAction<CloudConfig>();

const count = z.object({ objects: z.number(), bytes: z.number() });

/** `SyncProgress` of ./store.ts */
export const syncProgressSchema = z.object({
  paused: z.boolean(),
  queued: count,
  queuedConfirmedBytes: z.number(),
  synced: count,
  byPriority: z.array(z.object({ priority: z.number(), mode: z.enum(SYNC_MODES), objects: z.number(), bytes: z.number() })),
  local: z.object({ objects: z.number(), bytes: z.number(), syncedBytes: z.number() }),
  staged: z.object({ records: z.number(), bytes: z.number() }),
  refused: z.array(z.object({ class: z.enum(SENSITIVITY_CLASSES), records: z.number() })),
  rate: z.object({ bytesPerSecond: z.number(), atMs: z.number() }).nullable(),
  etaSeconds: z.number().nullable(),
  lastError: z.string().nullable(),
  builds: z.array(z.object({ build: z.string(), objects: z.number(), synced: z.number(), manifestAtMs: z.number().nullable() })),
});

/** a failure of the store is named as the API's: no store yet is a 404 */
async function guarded<T>(ctx: ActionContext<CloudConfig>, fn: (c: Awaited<ReturnType<typeof control>>) => T): Promise<T> {
  const c = await control();
  try {
    return fn(c);
  } catch (err) {
    if (err instanceof LayerGateError && err.code === 'LG_SYNC_VERIFY') throw new ApiNotFoundError(err.message, { cause: err });
    if (err instanceof LayerGateError && err.code === 'LG_SYNC_NO_OUTPUT')
      throw new ApiNotFoundError(`cloud output ${ctx.instance.name}: ${err.message}`, { cause: err });
    throw err;
  }
}

/** The status section: what is queued, how fast it goes against the cap that applies now, when it is done. */
export function syncSection(rows: readonly { progress: z.output<typeof syncProgressSchema> }[], config: CloudConfig): SyncSection {
  const p = rows[0]!.progress;
  const cap = scheduledCap(
    config.bandwidth.schedule.map((w) => ({ ...(w.days ? { days: w.days } : {}), from: w.from, to: w.to, bitsPerSecond: w.cap })),
    config.bandwidth.cap,
  );
  const idle = p.paused || p.queued.objects === 0;
  return {
    paused: p.paused,
    bandwidth: {
      // nothing goes up while paused or with nothing queued; else the uploader's last measured rate
      usedBitsPerSecond: idle ? 0 : p.rate ? Math.round(p.rate.bytesPerSecond * 8) : null,
      capBitsPerSecond: Number.isFinite(cap) ? cap : null,
    },
    queue: { objects: p.queued.objects, bytes: p.queued.bytes, bytesLeft: Math.max(0, p.queued.bytes - p.queuedConfirmedBytes) },
    synced: p.synced,
    etaSeconds: p.etaSeconds,
    lastError: p.lastError,
  };
}

export const cloudActions: PluginActions<CloudConfig> = {
  'sync-status': action({
    description: 'sync progress of this cloud output: queue by priority, rate, ETA, local copies, refusals, builds (as `layergate sync status --json`)',
    role: 'viewer',
    changes: false,
    input: z.strictObject({}),
    output: z.array(z.object({ output: z.string(), progress: syncProgressSchema })),
    run: (_input, ctx) => guarded(ctx, (c) => c.syncStatus(ctx.config, ctx.instance.name)),
    status: { section: 'sync', summary: (rows, ctx) => syncSection(rows, ctx.instance.settings) },
  }),
  'sync-pause': action({
    description: 'pause uploads of this cloud output (the part in flight is cut short within a second; records keep being queued)',
    role: 'operator',
    changes: true,
    input: z.strictObject({}),
    output: z.object({ output: z.string(), paused: z.literal(true) }),
    run: (_input, ctx) => guarded(ctx, (c) => ({ output: c.syncPause(ctx.config, ctx.instance.name)[0]!, paused: true as const })),
  }),
  'sync-resume': action({
    description: 'resume uploads of this cloud output from the last confirmed part',
    role: 'operator',
    changes: true,
    input: z.strictObject({}),
    output: z.object({ output: z.string(), paused: z.literal(false) }),
    run: (_input, ctx) => guarded(ctx, (c) => ({ output: c.syncResume(ctx.config, ctx.instance.name)[0]!, paused: false as const })),
  }),
};
