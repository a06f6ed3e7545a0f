/**
 * What a viewer, a status page and Prometheus read from a running gateway: the status as JSON and
 * as a server-sent event stream, the probes, and /metrics with bounded labels.
 */
import https from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../test/support/wait.js';
import { MalformedInputError } from '../plugin-api/errors.js';
import type { GatewayStatus } from './status.js';
import { type ApiRig, startApiRig } from './test-support/api-rig.js';

let rig: ApiRig;
let viewer: string;
beforeAll(async () => {
  rig = await startApiRig(['  statusInterval: 300ms', '  metricsAllow: [127.0.0.1]'].join('\n'));
  viewer = rig.tokenFor('viewer');
});
afterAll(async () => {
  await rig?.stop();
});

describe('status', () => {
  it('per input, the buffer and per output, with rates, as the gateway counts them', async () => {
    const status = await waitFor('records flowing to the lake', async () => {
      const s = (await rig.request('GET', '/api/v1/status', { token: viewer })).json<GatewayStatus>();
      const lake = s.outputs.find((o) => o.name === 'lake');
      return s.inputs[0]!.recordsPerSecond > 0 && lake && lake.deliveredRecords > 0 ? s : undefined;
    });
    expect(status).toMatchObject({ machine: 'm1', ready: true, alerts: [] });
    const health = status.inputs.find((i) => i.name === 'health')!;
    const counters = rig.gateway.stats().inputs.health!;
    expect(health.records).toBeGreaterThan(0);
    expect(health.records).toBeLessThanOrEqual(counters.records);
    expect(status.buffer.maxBytes).toBe(1024 ** 3);
    expect(status.buffer.recordBytesLimit).toBe(1024 ** 3 - 64 * 1024 ** 2);
    expect(status.buffer.records).toBeGreaterThan(0);
    expect(status.outputs.map((o) => o.name)).toEqual(['lake']);
  });

  it('the event stream sends a status at once and then one per interval', async () => {
    const events = await new Promise<{ id: string; data: GatewayStatus }[]>((resolve, reject) => {
      const got: { id: string; data: GatewayStatus }[] = [];
      const req = https.get(new URL('/api/v1/status/stream', rig.api.url), { ca: rig.api.tls!.cert, headers: { authorization: `Bearer ${viewer}` } }, (res) => {
        expect(res.statusCode).toBe(200);
        expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
        let buf = '';
        res.on('data', (c: Buffer) => {
          buf += c.toString('utf8');
          let end = buf.indexOf('\n\n');
          while (end >= 0) {
            const block = buf.slice(0, end);
            buf = buf.slice(end + 2);
            const id = /^id: (.*)$/m.exec(block)![1]!;
            expect(/^event: (.*)$/m.exec(block)![1]).toBe('status');
            got.push({ id, data: JSON.parse(/^data: (.*)$/m.exec(block)![1]!) as GatewayStatus });
            end = buf.indexOf('\n\n');
          }
          if (got.length >= 3) {
            req.destroy();
            resolve(got);
          }
        });
      });
      req.on('error', (e) => (got.length >= 3 ? undefined : reject(e)));
    });
    expect(events.map((e) => e.id)).toEqual(['1', '2', '3']);
    expect(events[2]!.data.machine).toBe('m1');
    expect(events[2]!.data.uptimeSeconds).toBeGreaterThanOrEqual(events[0]!.data.uptimeSeconds);
  });

  it('quarantined input is counted per input and reason, in the status and in /metrics', async () => {
    const ctx = rig.gateway.pipeline.contextFor('health');
    ctx.quarantine('health/probe', new MalformedInputError('a block of 40 bytes, its header says 8016', { reason: 'truncated' }), Buffer.alloc(40));
    ctx.quarantine('health/probe', new MalformedInputError('a block of 40 bytes, its header says 8016', { reason: 'truncated' }), Buffer.alloc(40));
    const s = (await rig.request('GET', '/api/v1/status', { token: viewer })).json<GatewayStatus>();
    expect(s.inputs.find((i) => i.name === 'health')).toMatchObject({ quarantined: 2, quarantinedByReason: { truncated: 2 } });
    const m = await rig.request('GET', '/metrics');
    expect(m.text).toMatch(/^layergate_input_quarantined_total\{input="health",reason="truncated"\} 2$/m);
  });

  it('a stream ends at the next event once its token is revoked', async () => {
    const made = rig.api.identity.createToken({ label: 'wall-screen', role: 'viewer', maxClass: 'internal', expiresMs: null, createdBy: 'test' });
    let revokedAfter = 0;
    const events = await new Promise<number>((resolve, reject) => {
      let n = 0;
      const req = https.get(
        new URL('/api/v1/status/stream', rig.api.url),
        { ca: rig.api.tls!.cert, headers: { authorization: `Bearer ${made.token}` } },
        (res) => {
          res.on('data', (c: Buffer) => {
            // one chunk may hold several events
            n += c.toString('utf8').split('event: status').length - 1;
            if (n >= 2 && revokedAfter === 0) {
              revokedAfter = n;
              rig.api.identity.revokeToken(made.info.id);
            }
          });
          res.on('end', () => resolve(n));
        },
      );
      req.on('error', reject);
      setTimeout(() => reject(new Error('the stream did not end')), 10_000).unref();
    });
    expect(revokedAfter).toBeGreaterThanOrEqual(2);
    // at most the event already on its way when the token was revoked
    expect(events).toBeLessThanOrEqual(revokedAfter + 1);
  });

  it('/metrics: ingest and delivery counters per input and sink, no label per signal; from an allowed address without a token', async () => {
    const m = await rig.request('GET', '/metrics');
    expect(m.status).toBe(200);
    expect(m.headers['content-type']).toMatch(/^text\/plain/);
    const value = (name: string, labels: string) => Number(new RegExp(`^${name}\\{${labels}\\} (\\S+)$`, 'm').exec(m.text)?.[1]);
    expect(value('layergate_input_records_total', 'input="health"')).toBeGreaterThan(0);
    expect(value('layergate_sink_delivered_records_total', 'sink="lake"')).toBeGreaterThan(0);
    expect(m.text).toMatch(/^layergate_buffer_records \d+/m);
    expect(m.text).toMatch(/^layergate_process_resident_memory_bytes \d+/m);
    expect(m.text).not.toMatch(/signal="/);
  });

  it('the probes say only alive and ready; /readyz turns 503 once the gateway stops', async () => {
    const alive = await rig.request('GET', '/healthz');
    expect([alive.status, alive.json()]).toEqual([200, { status: 'ok' }]);
    const ready = await rig.request('GET', '/readyz');
    expect([ready.status, ready.json()]).toEqual([200, { ready: true }]);
    await rig.gateway.stop();
    const stopped = await rig.request('GET', '/readyz');
    expect([stopped.status, stopped.json()]).toEqual([503, { ready: false }]);
  });
});
