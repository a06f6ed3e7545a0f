/**
 * Hot reload through the API without external servers, as an admin checks it: a `gateway-health`
 * input (scalars at an interval) and `file-lake` outputs in a temp folder. Every scenario runs with
 * the outputs on the delivery thread and on the main thread (`gateway.deliveryThread`).
 *
 * What a refused apply must leave: the same configuration file, the same GET /api/v1/config, no new
 * version, a `config-apply-failed` audit entry, and the plugins running with their old settings.
 * What a removed output leaves: its sink held with what it had not received, until an admin drops
 * it (a `sink-dropped` loss-ledger entry).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../test/support/wait.js';
import { type GatewayApiRig, startGatewayApi } from './test-support/gateway-api-rig.js';

interface Changes {
  added: string[];
  removed: string[];
  changed: string[];
  unchanged: string[];
}
interface Applied {
  version: number | null;
  inputs: Changes;
  outputs: Changes;
  policyChanged: boolean;
  file: { path: string; written: boolean; reason?: string } | null;
}
interface Refusal {
  error: string;
  message: string;
  problems?: string[];
}
interface KnownSink {
  name: string;
  listed: boolean;
  held: boolean;
  cursor: number;
  lagRecords: number;
  lagBytes: number;
}
interface Version {
  n: number;
  author: string;
  comment: string;
  origin: string;
}
interface AuditEntry {
  type: string;
  data: Record<string, unknown>;
}
interface Loss {
  reason: string;
  sinks: string[];
  records: number;
  bytes: number;
}
interface StatusAnswer {
  inputs: { name: string; records: number }[];
  outputs: { name: string; deliveredRecords: number }[];
}

type Config = Record<string, unknown> & {
  gateway: Record<string, unknown>;
  inputs: Record<string, Record<string, unknown>>;
  outputs: Record<string, Record<string, unknown>>;
};

let rig: GatewayApiRig | undefined;
let dir: string | undefined;
afterEach(async () => {
  await rig?.stop();
  rig = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

/** a lake in the temp folder that writes a file per batch soon (no compaction: its files are its batches) */
const lake = (root: string, extra: Record<string, unknown> = {}) => ({ type: 'file-lake', path: root, linger: '100ms', compactWindow: 0, ...extra });

/** The config's text as the admin would paste it into the UI's editor (the rig's `api` section included: it is fixed). */
const yamlOf = (config: Config): string => YAML.stringify({ ...config, api: { host: '127.0.0.1', port: 0, grpc: { port: 0 } } });

/** the `part-<firstSeq>-<lastSeq>` files of a lake: the last seq of each */
function lakeLastSeqs(root: string): number[] {
  let names: string[];
  try {
    names = readdirSync(root, { recursive: true, encoding: 'utf8' });
  } catch {
    return [];
  }
  return names.map((n) => /part-(\d+)-(\d+)\.arrow$/.exec(path.basename(n))).flatMap((m) => (m ? [Number(m[2])] : []));
}

describe.each([true, false])('hot reload through the API (deliveryThread: %s)', (deliveryThread) => {
  /** v1: health every 50 ms into `lake`; plus what the scenario adds */
  async function start(moreOutputs: (root: string) => Config['outputs'] = () => ({})): Promise<{ config: Config; admin: string; root: string }> {
    dir = mkdtempSync(path.join(os.tmpdir(), 'lg-api-reload-'));
    const config: Config = {
      gateway: { dataDir: path.join(dir, 'data'), machine: 'm1', deliveryThread, shutdownGraceMs: 1000 },
      inputs: { health: { type: 'gateway-health', interval: '50ms' } },
      outputs: { lake: lake(path.join(dir, 'lake')), ...moreOutputs(dir) },
    };
    rig = await startGatewayApi(path.join(dir, 'layergate.yaml'), config);
    return { config, admin: rig.tokenFor('admin'), root: dir };
  }

  const r = () => rig!;
  const get = async <T>(url: string, token: string): Promise<T> => {
    const a = await r().request('GET', url, { token });
    expect(a.status, `${url}: ${a.text}`).toBe(200);
    return a.json<T>();
  };
  const apply = (token: string, config: Config | string, comment = '') =>
    r().request('POST', '/api/v1/config/apply', { token, body: { yaml: typeof config === 'string' ? config : yamlOf(config), comment } });
  /** what the sink's forwarder delivered (the gateway's own stats: the delivery thread reports them) */
  const delivered = (sink: string) =>
    r()
      .gateway.stats()
      .forwarders.find((f) => f.sink === sink)?.sentRecords ?? 0;
  const inputRecords = (input: string) => r().gateway.stats().inputs[input]?.records ?? 0;
  /** the forwarder of `sink` delivers more than it has now */
  const keepsDelivering = async (sink: string) => {
    const before = delivered(sink);
    await waitFor(`${sink} to deliver more than ${before}`, () => delivered(sink) > before, 10_000);
  };
  /** everything an admin checks to tell that a refused apply changed nothing */
  const snapshot = async (admin: string) => ({
    file: readFileSync(r().configFile, 'utf8'),
    config: await get<{ config: unknown; yaml: string }>('/api/v1/config', admin),
    versions: await get<Version[]>('/api/v1/config/versions', admin),
  });
  const auditOf = async (admin: string, type: string) =>
    (await get<{ entries: AuditEntry[] }>('/api/v1/audit?limit=1000', admin)).entries.filter((e) => e.type === type);

  it('a key only a restart applies (buffer.maxBytes, log.level): 422 naming both, nothing changed, the records keep arriving, an audit entry', async () => {
    const { config, admin } = await start();
    await keepsDelivering('lake');
    const before = await snapshot(admin);

    const candidate: Config = {
      ...config,
      buffer: { maxBytes: '512MiB' },
      log: { level: 'debug' },
      inputs: { health: { type: 'gateway-health', interval: '1s' } },
    };
    const a = await apply(admin, candidate, 'bigger buffer');
    expect(a.status, a.text).toBe(422);
    const refusal = a.json<Refusal>();
    expect(refusal.error).toBe('LG_CONFIG_APPLY_FAILED');
    expect(refusal.message).toContain('buffer.maxBytes');
    expect(refusal.message).toContain('log.level');
    expect(refusal.message).toContain('only a restart');

    expect(await snapshot(admin)).toEqual(before);
    expect(before.versions).toHaveLength(1);
    expect(r().gateway.config.buffer.maxBytes).toBe(1024 ** 3);
    // the input runs at its old interval (50 ms, not 1 s) and the lake keeps receiving
    const records = inputRecords('health');
    await waitFor('health records at the old interval', () => inputRecords('health') >= records + 20, 5_000);
    await keepsDelivering('lake');
    const status = await get<StatusAnswer>('/api/v1/status', admin);
    expect(status.outputs.find((o) => o.name === 'lake')!.deliveredRecords).toBeGreaterThan(0);

    const failed = await auditOf(admin, 'config-apply-failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]!.data).toMatchObject({ author: 'test-admin', comment: 'bigger buffer', reason: expect.stringContaining('buffer.maxBytes') });
    expect(await auditOf(admin, 'config-applied')).toEqual([]);
  });

  it('a text that does not validate: 422 with the problem lines POST /api/v1/config/validate gives, nothing applied', async () => {
    const { config, admin } = await start();
    const before = await snapshot(admin);
    const text = yamlOf({
      ...config,
      inputs: { health: { type: 'gateway-health', interval: '1ms' } },
      outputs: { lake: { type: 'file-lake', path: 5 }, s3: { type: 's3-cloud' } },
    });
    const validated = (await r().request('POST', '/api/v1/config/validate', { token: admin, body: { yaml: text } })).json<{
      ok: boolean;
      problems: string[];
    }>();
    expect(validated.ok).toBe(false);
    expect(validated.problems.length).toBeGreaterThanOrEqual(3);

    const a = await apply(admin, text);
    expect(a.status, a.text).toBe(422);
    const refusal = a.json<Refusal>();
    expect(refusal.error).toBe('LG_CONFIG_INVALID');
    expect(refusal.problems).toEqual(validated.problems);
    expect(await snapshot(admin)).toEqual(before);
    await keepsDelivering('lake');
  });

  it('an added output that cannot start (its path is a file) with a changed input: 422 naming it; the old outputs deliver, the input keeps its old interval', async () => {
    const { config, admin, root } = await start();
    const notAFolder = path.join(root, 'not-a-folder');
    writeFileSync(notAFolder, 'a regular file\n');
    await keepsDelivering('lake');
    const before = await snapshot(admin);

    const candidate: Config = {
      ...config,
      inputs: { health: { type: 'gateway-health', interval: '5s' } },
      outputs: { ...config.outputs, broken: lake(notAFolder) },
    };
    const a = await apply(admin, candidate, 'a second lake');
    expect(a.status, a.text).toBe(422);
    const refusal = a.json<Refusal>();
    expect(refusal.error).toBe('LG_CONFIG_APPLY_FAILED');
    expect(refusal.message).toContain('output broken');
    expect(refusal.message).toContain('nothing was applied');

    expect(await snapshot(admin)).toEqual(before);
    // the input still emits every 50 ms (at 5 s there would be none in this wait), the lake delivers
    const records = inputRecords('health');
    await waitFor('health records at the old interval', () => inputRecords('health') >= records + 20, 5_000);
    await keepsDelivering('lake');
    expect(
      r()
        .gateway.stats()
        .forwarders.map((f) => f.sink),
    ).toEqual(['lake']);
    const sinks = await get<KnownSink[]>('/api/v1/buffer/sinks', admin);
    expect(sinks.find((s) => s.name === 'lake')).toMatchObject({ listed: true, held: true });
    // nothing was ever routed to the output that never ran
    expect(sinks.find((s) => s.name === 'broken')?.lagRecords ?? 0).toBe(0);
    expect((await get<{ buffer: { removedSinks: unknown[] } }>('/api/v1/status', admin)).buffer.removedSinks).toEqual([]);
    expect((await auditOf(admin, 'config-apply-failed')).map((e) => e.data.comment)).toEqual(['a second lake']);
  });

  it('after a refused added output, GET /api/v1/buffer/sinks shows no sink for it', async () => {
    const { config, admin, root } = await start();
    const notAFolder = path.join(root, 'not-a-folder');
    writeFileSync(notAFolder, 'a regular file\n');
    const a = await apply(admin, { ...config, outputs: { ...config.outputs, broken: lake(notAFolder) } });
    expect(a.status, a.text).toBe(422);
    const sinks = await get<KnownSink[]>('/api/v1/buffer/sinks', admin);
    expect(sinks.map((s) => s.name)).toEqual(['lake']);
  });

  it('an added input that cannot start (its folder under a file) with a changed output: 422; the output runs with its old path, the policy is the old one', async () => {
    const { config, admin, root } = await start();
    const notAFolder = path.join(root, 'not-a-folder');
    writeFileSync(notAFolder, 'a regular file\n');
    const oldLake = path.join(root, 'lake');
    const newLake = path.join(root, 'lake-2');
    await keepsDelivering('lake');
    const before = await snapshot(admin);
    const explain = () =>
      get<{ classification: { class: string }; routing: { routes: string[] } }>('/api/v1/explain?input=health&signal=gateway.process.rss', admin);
    const explainedBefore = await explain();
    expect(explainedBefore.classification.class).toBe('internal');
    expect(explainedBefore.routing.routes).toEqual(['lake']);

    const candidate: Config = {
      ...config,
      // the new policy: health's records are public and the lake takes public records only
      classification: { rules: [{ name: 'health-public', input: 'health', class: 'public' }] },
      // health changes too: it is stopped before the inputs start, and must run with its old interval again
      inputs: { health: { type: 'gateway-health', interval: '5s' }, frames: { type: 'frames', dropDir: path.join(notAFolder, 'drop') } },
      outputs: { lake: lake(newLake, { classes: ['public'] }) },
    };
    const a = await apply(admin, candidate, 'frames in, lake moved');
    expect(a.status, a.text).toBe(422);
    const refusal = a.json<Refusal>();
    expect(refusal.error).toBe('LG_CONFIG_APPLY_FAILED');
    expect(refusal.message).toContain('frames');
    expect(refusal.message).toContain('nothing was applied');

    expect(await snapshot(admin)).toEqual(before);
    // the lake runs again with its old path: records stored after the refusal land there
    const newestAtRefusal = r().gateway.buffer.stats().newestSeq!;
    await waitFor('a lake file of records stored after the refusal, in the old lake', () => lakeLastSeqs(oldLake).some((s) => s > newestAtRefusal), 10_000);
    await keepsDelivering('lake');
    const records = inputRecords('health');
    await waitFor('health records at the old interval', () => inputRecords('health') >= records + 20, 5_000);
    // the policy is the old one: in the API's answer and in the running pipeline
    expect(await explain()).toEqual(explainedBefore);
    expect(r().gateway.pipeline.routes('internal', 'scalar')).toEqual(['lake']);
    expect(r().gateway.pipeline.routes('confidential', 'scalar')).toEqual(['lake']);
    const sinks = await get<KnownSink[]>('/api/v1/buffer/sinks', admin);
    expect(sinks.map((s) => [s.name, s.listed, s.held])).toEqual([['lake', true, true]]);
    // the input that did not start emits nothing
    expect(inputRecords('frames')).toBe(0);
    expect((await auditOf(admin, 'config-apply-failed')).map((e) => e.data.comment)).toEqual(['frames in, lake moved']);
  });

  it('after a refused added input, GET /api/v1/status lists only the running inputs', async () => {
    const { config, admin, root } = await start();
    const notAFolder = path.join(root, 'not-a-folder');
    writeFileSync(notAFolder, 'a regular file\n');
    const a = await apply(admin, { ...config, inputs: { ...config.inputs, frames: { type: 'frames', dropDir: path.join(notAFolder, 'drop') } } });
    expect(a.status, a.text).toBe(422);
    const status = await get<StatusAnswer>('/api/v1/status', admin);
    expect(status.inputs.map((i) => i.name)).toEqual(['health']);
  });

  it('a removed output: listed as removed, its sink held with what it had not received until dropped (409 for an output, 404 for no sink), then a sink-dropped loss', async () => {
    // `slow` lingers 5 s: when it is removed it has records it has not received
    const { config, admin } = await start((root) => ({ slow: lake(path.join(root, 'slow'), { linger: '5s' }) }));
    await keepsDelivering('lake');
    await waitFor(
      'slow to lag',
      () =>
        r()
          .gateway.buffer.knownSinks()
          .find((s) => s.name === 'slow')!.lagRecords >= 5,
      5_000,
    );

    const { slow: _removed, ...outputs } = config.outputs;
    const a = await apply(admin, { ...config, outputs }, 'slow out');
    expect(a.status, a.text).toBe(200);
    const applied = a.json<Applied>();
    expect(applied.outputs).toEqual({ added: [], removed: ['slow'], changed: [], unchanged: ['lake'] });
    expect(applied.inputs).toEqual({ added: [], removed: [], changed: [], unchanged: ['health'] });
    expect(applied.policyChanged).toBe(false);
    expect(applied.file).toEqual({ path: r().configFile, written: true });

    const sinks = await get<KnownSink[]>('/api/v1/buffer/sinks', admin);
    const slow = sinks.find((s) => s.name === 'slow')!;
    expect(slow).toMatchObject({ listed: false, held: true });
    expect(slow.lagRecords).toBeGreaterThan(0);
    expect(sinks.find((s) => s.name === 'lake')).toMatchObject({ listed: true, held: true });
    // nothing new is routed to it
    await keepsDelivering('lake');
    expect((await get<KnownSink[]>('/api/v1/buffer/sinks', admin)).find((s) => s.name === 'slow')!.lagRecords).toBe(slow.lagRecords);
    const status = await get<{ buffer: { removedSinks: { name: string; lagRecords: number }[] } }>('/api/v1/status', admin);
    expect(status.buffer.removedSinks).toEqual([{ name: 'slow', lagRecords: slow.lagRecords }]);

    const listed = await r().request('DELETE', '/api/v1/buffer/sinks/lake', { token: admin });
    expect(listed.status, listed.text).toBe(409);
    expect(listed.json<Refusal>().error).toBe('LG_BUFFER_SINK_LISTED');
    const unknown = await r().request('DELETE', '/api/v1/buffer/sinks/nowhere', { token: admin });
    expect(unknown.status, unknown.text).toBe(404);
    expect(unknown.json<Refusal>().error).toBe('LG_BUFFER_UNKNOWN_SINK');

    const dropped = await r().request('DELETE', '/api/v1/buffer/sinks/slow', { token: admin });
    expect(dropped.status, dropped.text).toBe(200);
    const answer = dropped.json<{ sink: string; records: number; bytes: number }>();
    expect(answer).toEqual({ sink: 'slow', records: slow.lagRecords, bytes: slow.lagBytes });

    const losses = (await get<Loss[]>('/api/v1/losses?limit=1000', admin)).filter((l) => l.reason === 'sink-dropped');
    expect(losses.length).toBeGreaterThan(0);
    expect(losses.every((l) => l.sinks.includes('slow'))).toBe(true);
    expect(losses.reduce((n, l) => n + l.records, 0)).toBe(answer.records);
    // the sink is known still, but holds nothing back
    const after = (await get<KnownSink[]>('/api/v1/buffer/sinks', admin)).find((s) => s.name === 'slow');
    expect(after).toMatchObject({ listed: false, held: false, lagRecords: 0, lagBytes: 0 });
    expect((await get<{ buffer: { removedSinks: unknown[] } }>('/api/v1/status', admin)).buffer.removedSinks).toEqual([]);
    expect((await auditOf(admin, 'sink-dropped')).map((e) => e.data)).toEqual([
      expect.objectContaining({ sink: 'slow', by: 'test-admin', records: answer.records }),
    ]);
    // dropped once: a second drop has nothing left to write off
    const again = await r().request('DELETE', '/api/v1/buffer/sinks/slow', { token: admin });
    expect(again.status, again.text).toBe(200);
    expect(again.json()).toEqual({ sink: 'slow', records: 0, bytes: 0 });
    expect((await get<Loss[]>('/api/v1/losses?limit=1000', admin)).filter((l) => l.reason === 'sink-dropped')).toEqual(losses);
  });

  it('rollback to version 1: the reverse changes, the file holds v1 again, three versions with authors and comments', async () => {
    const { config, admin, root } = await start();
    const v1Text = readFileSync(r().configFile, 'utf8');
    const v2: Config = {
      ...config,
      inputs: { health: { type: 'gateway-health', interval: '100ms' } },
      outputs: { ...config.outputs, lake2: lake(path.join(root, 'lake2')) },
    };
    const a = await apply(admin, v2, 'second lake, slower health');
    expect(a.status, a.text).toBe(200);
    const applied = a.json<Applied>();
    expect(applied).toEqual({
      version: 2,
      inputs: { added: [], removed: [], changed: ['health'], unchanged: [] },
      outputs: { added: ['lake2'], removed: [], changed: [], unchanged: ['lake'] },
      policyChanged: false,
      file: { path: r().configFile, written: true },
    });
    expect(readFileSync(r().configFile, 'utf8')).toBe(yamlOf(v2));
    await keepsDelivering('lake2');

    const b = await r().request('POST', '/api/v1/config/rollback', { token: admin, body: { version: 1 } });
    expect(b.status, b.text).toBe(200);
    expect(b.json<Applied>()).toEqual({
      version: 3,
      inputs: { added: [], removed: [], changed: ['health'], unchanged: [] },
      outputs: { added: [], removed: ['lake2'], changed: [], unchanged: ['lake'] },
      policyChanged: false,
      file: { path: r().configFile, written: true },
    });
    expect(readFileSync(r().configFile, 'utf8')).toBe(v1Text);
    expect(r().gateway.config.inputs.health).toMatchObject({ interval: 50 });
    expect(
      r()
        .gateway.stats()
        .forwarders.map((f) => f.sink),
    ).toEqual(['lake']);
    const versions = (await get<Version[]>('/api/v1/config/versions', admin)).sort((x, y) => x.n - y.n);
    expect(versions.map((v) => [v.n, v.author, v.comment])).toEqual([
      [1, 'file', 'loaded at start'],
      [2, 'test-admin', 'second lake, slower health'],
      [3, 'test-admin', 'rollback to version 1'],
    ]);
    expect((await get<{ text: string }>('/api/v1/config/versions/3', admin)).text).toBe(v1Text);
    expect((await auditOf(admin, 'config-applied')).map((e) => e.data.comment).sort()).toEqual(['rollback to version 1', 'second lake, slower health']);
    // a version that is not there: 404
    const none = await r().request('POST', '/api/v1/config/rollback', { token: admin, body: { version: 99 } });
    expect(none.status, none.text).toBe(404);
  });

  it('a viewer and an operator get 403 on apply, rollback and dropping a sink; nothing changes', async () => {
    const { config, admin } = await start();
    const before = await snapshot(admin);
    for (const role of ['viewer', 'operator'] as const) {
      const token = r().tokenFor(role);
      const answers = [
        await apply(token, { ...config, inputs: {} }),
        await r().request('POST', '/api/v1/config/rollback', { token, body: { version: 1 } }),
        await r().request('DELETE', '/api/v1/buffer/sinks/lake', { token }),
      ];
      for (const x of answers) {
        expect(x.status, `${role}: ${x.text}`).toBe(403);
        expect(x.json<Refusal>().error).toBe('LG_API_FORBIDDEN');
      }
    }
    expect(await snapshot(admin)).toEqual(before);
    expect(await auditOf(admin, 'config-apply-failed')).toEqual([]);
  });
  it("refused applies of outputs that cannot start do not use up the buffer's sinks", async () => {
    const { config, admin, root } = await start();
    const notAFolder = path.join(root, 'not-a-folder');
    writeFileSync(notAFolder, 'a regular file\n');
    for (let i = 0; i < 29; i++) {
      const a = await apply(admin, { ...config, outputs: { ...config.outputs, [`try${i}`]: lake(notAFolder) } });
      expect(a.status, a.text).toBe(422);
    }
    const good = await apply(admin, { ...config, outputs: { ...config.outputs, lake2: lake(path.join(root, 'lake2')) } });
    expect(good.status, good.text).toBe(200);
  });
});
