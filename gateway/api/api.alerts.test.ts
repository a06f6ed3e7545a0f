/**
 * Alerts as the status derives them, and acknowledging one as an operator (a viewer may not).
 * The alert here is real: a buffer whose records expire (maxAge 1 ms) before the lake's linger
 * delivers them evicts undelivered records, which is the evictions alert.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../test/support/wait.js';
import type { GatewayStatus } from './status.js';
import { type ApiRig, startApiRig } from './test-support/api-rig.js';

let rig: ApiRig;
beforeAll(async () => {
  rig = await startApiRig('', { bufferYaml: 'buffer: { maxAge: 1ms }' });
});
afterAll(async () => {
  await rig?.stop();
});

describe('alerts', () => {
  it('an eviction of undelivered records is an alert; an operator acknowledges it, a viewer cannot; audited', async () => {
    const viewer = rig.tokenFor('viewer');
    const operator = rig.api.identity.createToken({ label: 'shift-lead', role: 'operator', maxClass: 'internal', expiresMs: null, createdBy: 'test' }).token;
    const alert = await waitFor('the evictions alert', async () =>
      (await rig.request('GET', '/api/v1/status', { token: viewer })).json<GatewayStatus>().alerts.find((a) => a.id === 'evictions:buffer'),
    );
    expect(alert).toMatchObject({ severity: 'critical', acknowledged: null });
    expect(alert.message).toMatch(/undelivered records were evicted/);
    expect((await rig.request('POST', '/api/v1/alerts/evictions:buffer/ack', { token: viewer })).status).toBe(403);
    expect((await rig.request('POST', '/api/v1/alerts/no-such:alert/ack', { token: operator })).status).toBe(404);
    const ack = await rig.request('POST', '/api/v1/alerts/evictions:buffer/ack', { token: operator });
    expect(ack.status).toBe(200);
    expect(ack.json()).toMatchObject({ id: 'evictions:buffer', acknowledged: { by: 'shift-lead' } });
    const after = (await rig.request('GET', '/api/v1/status', { token: viewer })).json<GatewayStatus>();
    expect(after.alerts.find((a) => a.id === 'evictions:buffer')?.acknowledged).toMatchObject({ by: 'shift-lead' });
    expect(rig.audit.entries().some((e) => e.type === 'alert-acknowledged' && e.data.id === 'evictions:buffer')).toBe(true);
  });
});
