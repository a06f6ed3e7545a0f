/**
 * An output's capabilities are declared once, by its definition, from its config: the config check
 * (`check-config`, `explain`: `policyFromDefinitions`) and the running gateway (its policy, the
 * pipeline's routing, the forwarder's linger) see the same ones. Uses an output whose capabilities
 * depend on its config, and the real cloud output's `classes`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { loadConfig } from '../config/load.js';
import type { OutputDefinition, OutputPlugin } from '../plugin-api/contract.js';
import { CONTENT_TYPES, RECORD_KINDS, SENSITIVITY_CLASSES } from '../plugin-api/record.js';
import { Gateway } from '../runtime/gateway.js';
import { createRegistry, registry as builtIn } from '../runtime/registry.js';
import { definition as gatewayHealth } from '../../plugins/inputs/gateway-health/index.js';
import { definition as fileLake } from '../../plugins/outputs/file-lake/index.js';
import { outputCapabilities, policyFromDefinitions } from './index.js';

const silent = pino({ level: 'silent' });

/** An output whose premises, classes, kinds and linger all come from its config. Takes every batch. */
const partner: OutputDefinition<{
  onSite: boolean;
  classes?: ('public' | 'internal' | 'sensitive' | 'confidential')[];
  wants?: ('scalar' | 'event')[];
  hold: number;
}> = {
  type: 'partner',
  configSchema: z.strictObject({
    onSite: z.boolean().default(false),
    classes: z.array(z.enum(SENSITIVITY_CLASSES)).min(1).optional(),
    wants: z
      .array(z.enum(['scalar', 'event']))
      .min(1)
      .optional(),
    hold: z.number().int().min(0).default(0),
  }),
  capabilities: (c) => ({
    premises: c.onSite ? 'on' : 'off',
    ...(c.classes ? { accepts: c.classes } : {}),
    ...(c.wants ? { kinds: c.wants } : {}),
    linger: c.hold,
  }),
  create: (): OutputPlugin => ({ type: 'partner', start: async () => {}, send: async () => {}, stop: async () => {} }),
};
const testRegistry = createRegistry({ inputs: [gatewayHealth], outputs: [fileLake, partner] });

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('output capabilities: one declaration for the config check and the running gateway', () => {
  it('explain/check-config and the running gateway route alike, with capabilities computed from the config', async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'lg-capabilities-'));
    const text = [
      `gateway: { dataDir: ${JSON.stringify(dir)}, shutdownGraceMs: 200 }`,
      'inputs: {}',
      'outputs:',
      `  lake: { type: file-lake, path: ${JSON.stringify(path.join(dir, 'lake'))} }`,
      '  onsite: { type: partner, onSite: true, classes: [internal, sensitive], wants: [scalar], hold: 3600000 }',
      '  offsite: { type: partner, wants: [event] }',
      '',
    ].join('\n');
    const loaded = loadConfig({ text, env: {}, registry: testRegistry });
    expect(outputCapabilities(loaded.config.outputs.onsite!, testRegistry)).toEqual({
      premises: 'on',
      accepts: ['internal', 'sensitive'],
      kinds: ['scalar'],
      linger: 3_600_000,
    });
    expect(outputCapabilities(loaded.config.outputs.offsite!, testRegistry)).toEqual({ premises: 'off', kinds: ['event'], linger: 0 });

    const atLoad = policyFromDefinitions(loaded.config, testRegistry);
    const gw = await Gateway.start(loaded, { registry: testRegistry, log: silent });
    try {
      expect(gw.policy.outputs).toEqual(atLoad.outputs);
      for (const cls of SENSITIVITY_CLASSES) {
        for (const kind of RECORD_KINDS) {
          expect([cls, kind, gw.pipeline.routes(cls, kind)]).toEqual([cls, kind, atLoad.routes.routes(cls, kind)]);
        }
      }
      // spot checks of what the capabilities imply
      expect([...atLoad.routes.routes('sensitive', 'scalar')].sort()).toEqual(['lake', 'onsite']);
      expect([...atLoad.routes.routes('internal', 'event')].sort()).toEqual(['lake', 'offsite']);
      expect([...atLoad.routes.routes('sensitive', 'event')]).toEqual(['lake']);
      // the forwarder holds a partial batch for the linger the definition declared for this config
      await gw.pipeline
        .contextFor('probe')
        .emit([{ signal: 'chamber.o2', kind: 'scalar', class: 'internal', contentType: CONTENT_TYPES.scalar, body: Buffer.from('{"v":1}') }]);
      await expect.poll(() => gw.stats().forwarders.find((f) => f.sink === 'onsite')?.state).toBe('lingering');
    } finally {
      await gw.stop();
    }
  });

  it("the cloud output's `classes` narrow what it accepts, at load as at run time", () => {
    const text = [
      'outputs:',
      '  cloud: { type: cloud, endpoint: "https://s3.example", bucket: plant-a, accessKey: a, secretKey: b, classes: [public] }',
      '',
    ].join('\n');
    const { config } = loadConfig({ text, env: {} });
    expect(outputCapabilities(config.outputs.cloud!, builtIn)).toEqual({ premises: 'off', accepts: ['public'] });
    const explained = policyFromDefinitions(config, builtIn).explain({ source: 'health', signal: 'x', kind: 'scalar' });
    expect(explained.routing.routes).toEqual([]);
    expect(explained.routing.outputs).toEqual([
      { output: 'cloud', receives: false, why: 'output "cloud" (cloud) does not accept internal records (it accepts public)' },
    ]);
  });
});
