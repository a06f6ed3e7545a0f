/**
 * The audit log as the UI reads it: the newest entries a page at a time, and whether the hash chain
 * holds; an entry edited in the file turns the answer to broken, naming its line and seq.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiRig, startApiRig } from './test-support/api-rig.js';

interface AuditAnswer {
  entries: { seq: number; type: string; data: Record<string, unknown>; hash: string }[];
  nextBefore: number | null;
  chain: { ok: boolean; entries: number; head: string | null; broken?: { line: number; seq: number | null; problem: string } };
}

let rig: ApiRig;
let viewer: string;
beforeAll(async () => {
  rig = await startApiRig();
  viewer = rig.tokenFor('viewer');
});
afterAll(async () => {
  await rig?.stop();
});

describe('GET /api/v1/audit', () => {
  it('newest first, paged by seq, with the chain check; an edited entry makes it broken at that line and seq', async () => {
    for (let i = 0; i < 4; i++) rig.audit.append('login', { user: `u${i}`, address: '127.0.0.1' });
    const all = rig.audit.entries();
    expect(all.length).toBeGreaterThanOrEqual(5);
    const first = await rig.request('GET', '/api/v1/audit?limit=2', { token: viewer });
    expect(first.status).toBe(200);
    const a = first.json<AuditAnswer>();
    expect(a.entries.map((e) => e.seq)).toEqual([all.at(-1)!.seq, all.at(-2)!.seq]);
    expect(a.entries[0]).toMatchObject({ type: 'login', data: { user: 'u3' } });
    expect(a.chain).toEqual({ ok: true, entries: all.length, head: all.at(-1)!.hash });
    expect(a.nextBefore).toBe(all.at(-2)!.seq);
    const next = (await rig.request('GET', `/api/v1/audit?limit=2&before=${a.nextBefore}`, { token: viewer })).json<AuditAnswer>();
    expect(next.entries.map((e) => e.seq)).toEqual([all.at(-3)!.seq, all.at(-4)!.seq]);
    const whole = (await rig.request('GET', '/api/v1/audit?limit=1000', { token: viewer })).json<AuditAnswer>();
    expect(whole.entries.map((e) => e.seq)).toEqual(all.map((e) => e.seq).reverse());
    expect(whole.nextBefore).toBeNull();

    // someone edits entry 2's data in the file, leaving its hash as it was
    const lines = readFileSync(rig.audit.file, 'utf8').split('\n');
    expect(lines[1]).toContain('"user":"u0"');
    lines[1] = lines[1]!.replace('"user":"u0"', '"user":"mallory"');
    writeFileSync(rig.audit.file, lines.join('\n'));
    const broken = (await rig.request('GET', '/api/v1/audit', { token: viewer })).json<AuditAnswer>();
    expect(broken.chain.ok).toBe(false);
    expect(broken.chain.broken).toMatchObject({ line: 2, seq: 2 });
    expect(broken.chain.broken!.problem).toMatch(/altered/);
    expect(broken.chain.entries).toBe(1);
    expect(broken.chain.head).toBe(all[0]!.hash);
    // the entries are still listed, as the file has them
    expect(broken.entries.find((e) => e.seq === 2)?.data.user).toBe('mallory');
  });

  it('refuses a malformed page request', async () => {
    expect((await rig.request('GET', '/api/v1/audit?limit=0', { token: viewer })).status).toBe(400);
    expect((await rig.request('GET', '/api/v1/audit?before=x', { token: viewer })).status).toBe(400);
    expect((await rig.request('GET', '/api/v1/audit?what=1', { token: viewer })).status).toBe(400);
  });
});
