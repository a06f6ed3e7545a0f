/**
 * The shipped storage strategy (config/storage-strategy.yaml) does what its header promises, record by
 * record, as `layergate explain` answers for it: by data type, access pattern, sensitivity; and the
 * simulator `npm start` runs beside it is the demo's.
 */
import { describe, expect, it } from 'vitest';
import { policyFromDefinitions } from '../classify/index.js';
import { loadConfig } from '../config/load.js';
import type { AccessPattern, RecordKind, SensitivityClass } from '../plugin-api/record.js';
import { registry } from '../runtime/registry.js';
import { STRATEGY_CONFIG, simulatorPlan } from './demo.js';

/** stand-ins for the variables a plant (or the service harness) sets; no server is contacted */
const env = {
  LAYERGATE_PG_HOST: 'warehouse.plant.local',
  LAYERGATE_PG_PASSWORD: 'x',
  LAYERGATE_PG_CA: '/etc/layergate/pg-ca.pem',
  LAYERGATE_MONGODB_URL: 'mongodb://docs.plant.local:27017/',
  LAYERGATE_REDIS_URL: 'redis://redis.plant.local:6379',
  LAYERGATE_MINIO_ENDPOINT: 's3.plant.local',
  LAYERGATE_MINIO_ACCESS_KEY: 'k',
  LAYERGATE_MINIO_SECRET_KEY: 's',
  LAYERGATE_CLOUD_ENDPOINT: 'https://s3.eu-central-1.amazonaws.com',
  LAYERGATE_CLOUD_ACCESS_KEY: 'k',
  LAYERGATE_CLOUD_SECRET_KEY: 's',
};

describe('the storage strategy (config/storage-strategy.yaml)', () => {
  const loaded = loadConfig({ file: STRATEGY_CONFIG, env, cwd: '/srv/x' });
  const policy = policyFromDefinitions(loaded.config, registry);
  const routes = (source: string, kind: RecordKind, cls?: SensitivityClass, accessPattern?: AccessPattern) =>
    policy.explain({ source, signal: 's', kind, ...(cls ? { class: cls } : {}) }, accessPattern ? { accessPattern } : {}).routing.routes;

  it('loads with no warning: every output is reachable and no rule is dead', () => {
    expect(loaded.warnings).toEqual([]);
  });

  it('by data type: process values to PostgreSQL, Redis (real time) and the lake; files to MinIO, MongoDB and PostgreSQL (catalog)', () => {
    expect(routes('opcua', 'scalar')).toEqual(['warehouse', 'realtime', 'lake']);
    expect(routes('meltpool', 'samples')).toEqual(['warehouse', 'realtime', 'lake']);
    expect(routes('meltpool', 'event')).toEqual(['warehouse', 'documents', 'lake']);
    expect(routes('parts', 'document')).toEqual(['warehouse', 'documents', 's3']);
  });

  it('by access pattern: batch and research may go to the cloud, ML training to the local S3 and the cloud, real time stays local', () => {
    expect(routes('health', 'scalar')).toContain('cloud'); // the health input reads as batch
    expect(routes('opcua', 'scalar', 'internal', 'ml_training')).toEqual(['warehouse', 'lake', 's3', 'cloud']);
    expect(routes('opcua', 'scalar', 'internal', 'realtime')).not.toContain('cloud');
  });

  it('by sensitivity: public to the cloud; sensitive never off premises, even for ML training; confidential only to the sealed S3', () => {
    // no input of this file is public (the default class is internal): a public event as the routing table has it
    expect(policy.routes.routes('public', 'event', 'realtime')).toContain('cloud');
    expect(routes('camera', 'frame')).toEqual(['warehouse', 'documents', 's3']); // sensitive (the camera input's class)
    expect(routes('opcua', 'scalar', 'sensitive', 'ml_training')).toEqual(['warehouse', 'lake', 's3']);
    for (const kind of ['scalar', 'samples', 'event', 'frame', 'document'] as const) {
      expect([kind, routes('parts', kind, 'confidential')]).toEqual([kind, ['s3']]);
      expect([kind, routes('opcua', kind, 'confidential', 'ml_training')]).toEqual([kind, ['s3']]);
    }
  });

  it('explain names the strategy rule and the access pattern it routed by', () => {
    const e = policy.explain({ source: 'health', signal: 'gw.cpu', kind: 'scalar' });
    expect(e.accessPattern).toBe('batch');
    expect(e.routing.outputs.find((o) => o.output === 'cloud')).toEqual({
      output: 'cloud',
      receives: true,
      why: 'may, by routing rule batch-and-research-to-cloud',
    });
  });

  it('runs beside the same simulator as the demo', () => {
    expect(simulatorPlan(loaded.config).ports).toEqual([24840, 21883]);
  });
});
