/**
 * The routing policy through the real CLI: `layergate check-config` refuses a config that routes
 * sensitive or confidential records to an off-premises output, and `layergate explain` names the rule,
 * the floors and each output's yes or no.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { offsiteConfig } from '../../gateway/classify/test-support/offsite-config.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

describe('config load', () => {
  it('`layergate check-config` refuses it with exit 2 and the same line', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lg-route-'));
    const file = path.join(dir, 'layergate.yaml');
    writeFileSync(file, offsiteConfig('{ name: frames-out, kinds: [frame], must: [offsite] }'));
    const tsx = createRequire(import.meta.url).resolve('tsx');
    const r = spawnSync(process.execPath, ['--import', tsx, path.join(repo, 'gateway/cli/main.ts'), 'check-config', file], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('routing.rules[0] (frames-out): sends sensitive records to output "offsite", which is off premises');
    expect(r.stderr).toContain('routing.rules[0] (frames-out): sends confidential records to output "offsite", which is off premises');
  });
});

describe('layergate explain (the real CLI)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lg-explain-'));
  const file = path.join(dir, 'layergate.yaml');
  writeFileSync(
    file,
    [
      'inputs:',
      '  camera: { type: frames, dropDir: /srv/camera-drop }',
      '  health: { type: gateway-health }',
      'outputs:',
      '  lake: { type: file-lake }',
      '  offsite: { type: file-lake, premises: off, path: /mnt/partner-share/lake }',
      'classification:',
      '  rules:',
      '    - { name: frames, kind: frame, class: sensitive }',
      '    - { name: kpis, signal: "kpi.*", class: public }',
      'routing:',
      '  rules:',
      '    - { name: share, classes: [public, internal], may: [offsite] }',
      '    - { name: keep-all, may: [lake] }',
      '',
    ].join('\n'),
  );
  const explain = (...args: string[]) => {
    const tsx = createRequire(import.meta.url).resolve('tsx');
    return spawnSync(process.execPath, ['--import', tsx, path.join(repo, 'gateway/cli/main.ts'), 'explain', '-c', file, ...args], {
      encoding: 'utf8',
      timeout: 60_000,
    });
  };

  it("names the rule, the floors and each output's yes or no", () => {
    const r = explain('--input', 'camera', '--signal', 'camera.powder_bed', '--kind', 'frame', '--build', 'B1', '--job-class', 'confidential');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(
      [
        'record       input camera, signal camera.powder_bed, kind frame, build B1',
        'class        confidential  (job B1 marked confidential)',
        'rules        frames -> sensitive',
        'base         sensitive  (rule frames)',
        'floor        confidential  (job B1 marked confidential)',
        'routes       lake',
        '  lake             yes  may, by routing rule keep-all  [premises on]',
        '  offsite          no   off premises: confidential records stay on premises  [premises off]',
        '',
      ].join('\n'),
    );
    const kpi = JSON.parse(explain('--input', 'health', '--signal', 'kpi.utilisation', '--json').stdout);
    expect(kpi.classification).toMatchObject({ class: 'public', rule: 'rule kpis' });
    expect(kpi.routing.routes).toEqual(['lake', 'offsite']);
  });

  it('an unknown input is a usage error naming the inputs', () => {
    const r = explain('--input', 'camra', '--signal', 'x');
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(`layergate explain: no input named "camra" in ${file} (inputs: camera, health, grpc)\n`);
  });
});
