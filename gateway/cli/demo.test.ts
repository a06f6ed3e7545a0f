import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config/load.js';
import { DEMO_CONFIG, simulatorPlan } from './demo.js';
import { DemoConfigError } from '../plugin-api/errors.js';

// the demo itself, run as `npm start` runs it, is in test/e2e/demo.test.ts
describe('layergate demo (npm start): the simulator feeds the gateway', () => {
  it("derives the simulator from the demo config: its ports and drop folder are the inputs'", () => {
    const { config } = loadConfig({ file: DEMO_CONFIG, cwd: '/srv/x' });
    const plan = simulatorPlan(config);
    expect(plan.ports).toEqual([24840, 21883]);
    expect(plan.args.join(' ')).toContain('--opcua-port 24840');
    expect(plan.args.join(' ')).toContain('--embedded-broker 21883');
    expect(plan.dropDir).toBe(path.resolve('var/demo/camera-drop'));
  });

  it('refuses a demo config whose input has no explicit port, naming the key', () => {
    const { config } = loadConfig({
      text: 'inputs:\n  m:\n    type: mqtt\n    url: mqtt://127.0.0.1\n    subscriptions: [{ topic: a, decoder: json }]\n',
    });
    expect(() => simulatorPlan(config)).toThrow(DemoConfigError);
    expect(() => simulatorPlan(config)).toThrow(/inputs\.m\.url: the demo needs an explicit port/);
  });
});
