/**
 * The quarantines for the UI: what the inputs could not parse and what sinks refused for good
 * (gateway/quarantine/: inputs.ts, outputs.ts write them; the layout is theirs).
 *
 * - `GET /api/v1/quarantine?input=&output=&reason=&limit=` (viewer): the items, newest first, each
 *   from its JSON sidecar (reason, where, error, time, size, record count, whether sealed, the class
 *   when known), and the counts per quarantine and reason. `input` / `output` narrow to one input's or
 *   one sink's folder (given one, the other side is left out); `reason` narrows the items, not the counts.
 * - `GET /api/v1/quarantine/:kind/:name/:item/raw` (admin): the item's bytes as
 *   application/octet-stream. Raw input kept sealed (`.bin.sealed`, a confidential input, record or
 *   job) is opened with the gateway's sealer; a sink's records file with confidential bodies sealed
 *   inside is refused (409): its bodies would have to be opened one record at a time. Each read is
 *   written to the audit log (`quarantine-raw-read`).
 *
 * Constraints:
 * - No path from the request reaches the filesystem unchecked: `kind` is `inputs` or `outputs`, the
 *   name a config instance name, the item id the writers' own pattern (`<time>-<n>` or
 *   `<time>-<pid>-<n>`); the file is then resolved and must lie inside the quarantine folder. The
 *   data file is found by the item id and the writers' suffixes, never by the sidecar's `file` field.
 * - A sealed input item is confidential: a caller whose `maxClass` is below that sees neither its
 *   metadata nor its bytes. Other items' class is not recorded by the writers (null).
 * - Read-only, bounded: the folders are capped in bytes (`gateway.quarantineMaxBytes` each).
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ApiConflictError, ApiNotFoundError } from '../../plugin-api/errors.js';
import { SENSITIVITY_CLASSES, type SensitivityClass } from '../../plugin-api/record.js';
import { type ApiDeps, typed } from '../deps.js';
import type { GatewayData } from '../gateway-data.js';
import { mayRead } from '../identity/store.js';

/** an input's or an output's config name (gateway/config/schema.ts INSTANCE_NAME) */
const INSTANCE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
/** an item: `<itemTime>-<n>` (inputs) or `<itemTime>-<pid>-<n>` (outputs), see gateway/quarantine/folder.ts itemTime */
export const QUARANTINE_ITEM = /^\d{8}T\d{6}\.\d{3}Z-\d{1,12}(-\d{1,12})?$/;
const KINDS = ['inputs', 'outputs'] as const;
type Kind = (typeof KINDS)[number];
/** data file suffixes, as the writers name them */
const DATA_SUFFIXES: Record<Kind, string[]> = { inputs: ['.bin', '.bin.sealed'], outputs: ['.records'] };

const item = z.object({
  kind: z.enum(KINDS),
  /** the input's or sink's name */
  name: z.string(),
  item: z.string(),
  at: z.string().nullable(),
  reason: z.string(),
  /** where in the input (topic, file, node), inputs only */
  where: z.string().nullable(),
  error: z.object({ name: z.string().nullable(), code: z.string().nullable(), message: z.string() }),
  /** raw bytes (inputs) or the records file's bytes (outputs); null without a data file */
  size: z.number().nullable(),
  /** records in a sink's records file */
  records: z.number().nullable(),
  sealed: z.boolean(),
  class: z.enum(SENSITIVITY_CLASSES).nullable(),
  /** whether the data file is there (an input item without raw bytes has none) */
  hasData: z.boolean(),
});
type Item = z.infer<typeof item>;

const count = z.object({ kind: z.enum(KINDS), name: z.string(), reason: z.string(), items: z.number(), bytes: z.number() });

function quarantineRoot(data: GatewayData, kind: Kind): string {
  return path.join(data.dataDir, 'quarantine', kind);
}

function dataOf(deps: ApiDeps): GatewayData {
  if (!deps.data) throw new ApiNotFoundError('this API is not attached to a running gateway');
  return deps.data;
}

function text(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

/** One item from its sidecar (`<dir>/<id>.json`); a sidecar that does not parse is listed as `unreadable-sidecar`. */
function readItem(kind: Kind, name: string, dir: string, id: string): Item {
  let side: Record<string, unknown>;
  try {
    const parsed = JSON.parse(readFileSync(path.join(dir, `${id}.json`), 'utf8')) as unknown;
    side = parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
  } catch {
    side = { error: { reason: 'unreadable-sidecar', message: 'the sidecar is not readable JSON' } };
  }
  const err = (side.error !== null && typeof side.error === 'object' ? side.error : {}) as Record<string, unknown>;
  const dataFile = DATA_SUFFIXES[kind].map((s) => `${id}${s}`).find((f) => existsSync(path.join(dir, f)));
  const sealed = dataFile?.endsWith('.sealed') === true || typeof side.sealed === 'string';
  let size: number | null = null;
  if (kind === 'inputs' && typeof side.size === 'number') size = side.size;
  else if (dataFile) size = statSync(path.join(dir, dataFile)).size;
  return {
    kind,
    name,
    item: id,
    at: text(side.at),
    reason: text(err.reason) ?? text(err.code) ?? text(err.name) ?? 'error',
    where: text(side.where),
    error: { name: text(err.name), code: text(err.code), message: text(err.message) ?? '' },
    size,
    records: typeof side.records === 'number' ? side.records : null,
    sealed,
    // sealed raw input is confidential (the pipeline seals only then); a sink's records file holds some confidential bodies
    class: sealed ? 'confidential' : null,
    hasData: dataFile !== undefined,
  };
}

/** item ids start with their time, then their numbers: newest first is descending time, then descending numbers */
function newestFirst(a: Item, b: Item): number {
  const [ta, ...na] = a.item.split('-');
  const [tb, ...nb] = b.item.split('-');
  if (ta !== tb) return ta! < tb! ? 1 : -1;
  for (let i = 0; i < Math.max(na.length, nb.length); i++) {
    const d = Number(nb[i] ?? 0) - Number(na[i] ?? 0);
    if (d !== 0) return d;
  }
  return a.kind === b.kind ? a.name.localeCompare(b.name) : a.kind.localeCompare(b.kind);
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

export function quarantineRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const r = typed(app);
  const name = z.string().regex(INSTANCE_NAME, 'an input or output name');

  r.get(
    '/api/v1/quarantine',
    {
      config: { access: 'viewer' },
      schema: {
        querystring: z.strictObject({
          input: name.optional(),
          output: name.optional(),
          reason: z.string().min(1).max(128).optional(),
          limit: z.coerce.number().int().min(1).max(1000).default(100),
        }),
        response: { 200: z.object({ items: z.array(item), total: z.number(), counts: z.array(count), hidden: z.number() }) },
      },
    },
    async (req) => {
      const data = dataOf(deps);
      const { input, output, reason, limit } = req.query;
      const maxClass = req.principal!.maxClass;
      const narrowed = input !== undefined || output !== undefined;
      const wanted: [Kind, string | undefined][] = [];
      if (!narrowed || input !== undefined) wanted.push(['inputs', input]);
      if (!narrowed || output !== undefined) wanted.push(['outputs', output]);
      const items: Item[] = [];
      let hidden = 0;
      for (const [kind, only] of wanted) {
        const root = quarantineRoot(data, kind);
        const names = only !== undefined ? [only] : listDir(root).filter((n) => INSTANCE_NAME.test(n));
        for (const n of names) {
          const dir = path.join(root, n);
          for (const f of listDir(dir)) {
            if (!f.endsWith('.json')) continue;
            const id = f.slice(0, -'.json'.length);
            if (!QUARANTINE_ITEM.test(id)) continue;
            const it = readItem(kind, n, dir, id);
            if (it.class !== null && !mayRead(maxClass, it.class as SensitivityClass)) hidden++;
            else items.push(it);
          }
        }
      }
      const counts = new Map<string, z.infer<typeof count>>();
      for (const it of items) {
        const key = `${it.kind}\0${it.name}\0${it.reason}`;
        const c = counts.get(key) ?? { kind: it.kind, name: it.name, reason: it.reason, items: 0, bytes: 0 };
        c.items++;
        c.bytes += it.size ?? 0;
        counts.set(key, c);
      }
      const shown = items.filter((it) => reason === undefined || it.reason === reason);
      shown.sort(newestFirst);
      return {
        items: shown.slice(0, limit),
        total: shown.length,
        counts: [...counts.values()].sort((a, b) => `${a.kind}\0${a.name}\0${a.reason}`.localeCompare(`${b.kind}\0${b.name}\0${b.reason}`)),
        hidden,
      };
    },
  );

  r.get(
    '/api/v1/quarantine/:kind/:name/:item/raw',
    {
      config: { access: 'admin' },
      schema: {
        params: z.strictObject({
          kind: z.enum(KINDS),
          name,
          item: z.string().regex(QUARANTINE_ITEM, 'a quarantine item id (<time>-<n> or <time>-<pid>-<n>)'),
        }),
      },
    },
    async (req, reply) => {
      const data = dataOf(deps);
      const { kind, name: n, item: id } = req.params;
      const root = path.resolve(quarantineRoot(data, kind));
      const dir = path.resolve(root, n);
      // belt and braces: the patterns above admit no separator and no dot segment
      if (path.dirname(dir) !== root) throw new ApiNotFoundError(`no quarantine item ${kind}/${n}/${id}`);
      const file = DATA_SUFFIXES[kind].map((s) => path.join(dir, `${id}${s}`)).find((f) => path.dirname(f) === dir && existsSync(f));
      if (!existsSync(path.join(dir, `${id}.json`)) || file === undefined) {
        throw new ApiNotFoundError(`no quarantine item ${kind}/${n}/${id} with kept bytes`);
      }
      const meta = readItem(kind, n, dir, id);
      if (meta.class !== null && !mayRead(req.principal!.maxClass, meta.class as SensitivityClass)) {
        throw new ApiNotFoundError(`no quarantine item ${kind}/${n}/${id} with kept bytes`);
      }
      if (kind === 'outputs' && meta.sealed) {
        throw new ApiConflictError(
          `quarantine item ${kind}/${n}/${id}: the records file holds confidential bodies sealed at rest inside its records; ` +
            'the API serves it only unsealed, which it cannot do for a records file yet: read it on the gateway host',
        );
      }
      let bytes: Buffer = readFileSync(file);
      const sealed = file.endsWith('.sealed');
      if (sealed) bytes = data.unseal(bytes);
      deps.audit.append('quarantine-raw-read', { kind, name: n, item: id, sealed, bytes: bytes.length, by: req.principal!.name });
      return reply
        .type('application/octet-stream')
        .header('content-disposition', `attachment; filename="${n}-${id}${sealed ? '.bin' : path.extname(file)}"`)
        .send(bytes);
    },
  );
}
