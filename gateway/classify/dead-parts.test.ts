/**
 * Parts of a config that can never take effect, as `loadConfig` (hence `check-config` and the
 * gateway's start) reports them: each check with a config that triggers it (exact path and wording)
 * and one beside it that must not.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigProblems, loadConfig } from '../config/load.js';
import type { OutputDefinition, OutputPlugin } from '../plugin-api/contract.js';
import { createRegistry } from '../runtime/registry.js';
import { definition as gatewayHealth } from '../../plugins/inputs/gateway-health/index.js';
import { definition as fileLake } from '../../plugins/outputs/file-lake/index.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const idle = (type: string) => (): OutputPlugin => ({ type, start: async () => {}, send: async () => {}, stop: async () => {} });

/** A plant historian: on premises, takes public and internal process values and events only. */
const historian: OutputDefinition<Record<string, never>> = {
  type: 'historian',
  configSchema: z.strictObject({}),
  capabilities: () => ({ premises: 'on', accepts: ['public', 'internal'], kinds: ['scalar', 'event'] }),
  create: idle('historian'),
};

/** An escrow archive off site that declares it takes confidential records only. */
const escrow: OutputDefinition<Record<string, never>> = {
  type: 'escrow',
  configSchema: z.strictObject({}),
  capabilities: () => ({ premises: 'off', accepts: ['confidential'] }),
  create: idle('escrow'),
};

const registry = createRegistry({ inputs: [gatewayHealth], outputs: [fileLake, historian, escrow] });

function load(lines: string[]) {
  return loadConfig({ text: `${lines.join('\n')}\n`, env: {}, registry, cwd: '/tmp' });
}

/** The problems and warnings of a config that is refused. */
function refused(lines: string[]): { problems: string[]; warnings: string[] } {
  try {
    load(lines);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigProblems);
    const { problems, warnings } = err as ConfigProblems;
    return { problems, warnings };
  }
  throw new Error('expected the config to be refused');
}

describe('an output nothing can reach is an error', () => {
  it('its classes and what its plugin accepts have nothing in common', () => {
    expect(refused(['outputs:', '  lake: { type: file-lake }', '  plant: { type: historian, classes: [sensitive, confidential] }'])).toEqual({
      problems: ['outputs.plant.classes: lists sensitive, confidential, but output "plant" (historian) accepts only public, internal: it receives nothing'],
      warnings: [],
    });
  });

  it('its kinds and the kinds its plugin takes have nothing in common', () => {
    expect(refused(['outputs:', '  lake: { type: file-lake }', '  plant: { type: historian, kinds: [frame, document] }']).problems).toEqual([
      'outputs.plant.kinds: lists frame, document, but output "plant" (historian) takes only scalar, event: it receives nothing',
    ]);
  });

  it('every class it takes is one the off-premises rule keeps on the premises', () => {
    expect(refused(['outputs:', '  lake: { type: file-lake }', '  escrow: { type: escrow }']).problems).toEqual([
      'outputs.escrow: is off premises and takes only confidential records, which never leave the premises: it receives nothing',
    ]);
  });

  it('no routing rule names it and routing.unmatched is none', () => {
    expect(
      refused([
        'outputs:',
        '  lake: { type: file-lake }',
        '  mirror: { type: file-lake, path: /srv/mirror }',
        'routing:',
        '  unmatched: none',
        '  rules:',
        '    - { name: keep-all, may: [lake] }',
      ]).problems,
    ).toEqual(['outputs.mirror: receives nothing: no routing rule names it, and routing.unmatched is none']);
  });

  it('no routing rule names it and the rules match everything it takes, so unmatched: all never applies', () => {
    expect(
      refused(['outputs:', '  lake: { type: file-lake }', '  plant: { type: historian }', 'routing:', '  rules:', '    - { name: keep-all, may: [lake] }'])
        .problems,
    ).toEqual([
      'outputs.plant: receives nothing: no routing rule names it, and every record it takes (classes public, internal; kinds scalar, event) is matched by routing rules that do not name it (routing.rules[0] (keep-all)), so routing.unmatched: all does not apply',
    ]);
  });

  it('the rules naming it only name it for records it never takes', () => {
    expect(
      refused([
        'outputs:',
        '  lake: { type: file-lake }',
        '  plant: { type: historian }',
        'routing:',
        '  unmatched: none',
        '  rules:',
        '    - { name: frames, kinds: [frame], may: [lake, plant] }',
      ]),
    ).toEqual({
      problems: [
        'outputs.plant: receives nothing: the routing rules naming it (routing.rules[0] (frames)) match none of the records it takes (classes public, internal; kinds scalar, event), and routing.unmatched is none',
        'routing.rules[0].may[1]: routing rule "frames" sends frame records to output "plant", which never takes frame records (it takes scalar, event): this route never delivers anything',
      ],
      warnings: [],
    });
  });

  it('the errors come with the warnings found beside them, in one message', () => {
    let err: unknown;
    try {
      load([
        'outputs:',
        '  lake: { type: file-lake }',
        '  plant: { type: historian, classes: [sensitive] }',
        'classification:',
        '  rules:',
        '    - { name: all-confidential, class: confidential }',
        '    - { name: kpis, signal: "kpi.*", class: public }',
      ]);
    } catch (e) {
      err = e;
    }
    expect((err as Error).message).toBe(
      [
        '(text): invalid configuration',
        '  outputs.plant.classes: lists sensitive, but output "plant" (historian) accepts only public, internal: it receives nothing',
        '(text): 1 warning',
        '  classification.rules[1] is shadowed by classification.rules[0]: rule "all-confidential" matches every record rule "kpis" matches, with a stricter class (confidential over public), so rule "kpis" never decides a class',
      ].join('\n'),
    );
  });

  it('not when it takes some of what its classes and kinds list, or a rule names it for something it takes', () => {
    const loaded = load([
      'outputs:',
      '  lake: { type: file-lake }',
      '  plant: { type: historian, classes: [public, internal], kinds: [scalar] }',
      '  mirror: { type: file-lake, path: /srv/mirror }',
      'routing:',
      '  unmatched: none',
      '  rules:',
      '    - { name: keep-all, may: [lake] }',
      '    - { name: values, classes: [public, internal], kinds: [scalar], may: [plant] }',
      '    - { name: mirror-all, may: ["*"] }',
    ]);
    expect(loaded.warnings).toEqual([]);
    expect(Object.keys(loaded.config.outputs)).toEqual(['lake', 'plant', 'mirror']);
  });
});

describe('routing rules with access patterns', () => {
  it('an output only an access-pattern rule reaches is not dead, and its rule is no dead route', () => {
    const loaded = load([
      'outputs:',
      '  lake: { type: file-lake }',
      '  training: { type: file-lake, path: /srv/training }',
      '  plant: { type: historian }',
      'routing:',
      '  unmatched: none',
      '  rules:',
      '    - { name: keep-all, may: [lake] }',
      '    - { name: training-sets, accessPatterns: [ml_training, research], may: [training] }',
      '    - { name: live-values, accessPatterns: [realtime], classes: [public, internal], kinds: [scalar], must: [plant] }',
    ]);
    expect(loaded.warnings).toEqual([]);
    expect(Object.keys(loaded.config.outputs)).toEqual(['lake', 'training', 'plant']);
  });

  it('with routing.unmatched: all, records without a pattern still reach an output a pattern rule leaves out', () => {
    // every record of a pattern is matched by the rule, but records without one are unmatched and go to "plant"
    const loaded = load([
      'outputs:',
      '  lake: { type: file-lake }',
      '  plant: { type: historian }',
      'routing:',
      '  rules:',
      '    - { name: archive, accessPatterns: [realtime, batch, ml_training, research, archive], may: [lake] }',
    ]);
    expect(loaded.warnings).toEqual([]);
  });

  it('an output that pattern rules name only for records it never takes is still dead', () => {
    expect(
      refused([
        'outputs:',
        '  lake: { type: file-lake }',
        '  plant: { type: historian }',
        'routing:',
        '  unmatched: none',
        '  rules:',
        '    - { name: keep-all, may: [lake] }',
        '    - { name: training-frames, kinds: [frame], accessPatterns: [ml_training], may: [plant] }',
      ]).problems,
    ).toEqual([
      'outputs.plant: receives nothing: the routing rules naming it (routing.rules[1] (training-frames)) match none of the records it takes (classes public, internal; kinds scalar, event), and routing.unmatched is none',
      'routing.rules[1].may[0]: routing rule "training-frames" sends frame records to output "plant", which never takes frame records (it takes scalar, event): this route never delivers anything',
    ]);
  });
});

describe('an output that takes part of what its classes or kinds list: a warning', () => {
  it('names the classes and kinds it never receives', () => {
    expect(
      load(['outputs:', '  lake: { type: file-lake }', '  plant: { type: historian, classes: [internal, sensitive], kinds: [scalar, frame] }']).warnings,
    ).toEqual([
      'outputs.plant.classes: lists sensitive, but output "plant" (historian) accepts only public, internal: it never receives sensitive records',
      'outputs.plant.kinds: lists frame, but output "plant" (historian) takes only scalar, event: it never receives frame records',
    ]);
  });
});

describe('a routing rule naming an output for records it never takes', () => {
  const outputs = ['outputs:', '  lake: { type: file-lake }', '  plant: { type: historian }', 'routing:', '  rules:'];

  it('none of what the rule routes: the route never delivers anything, an error', () => {
    expect(refused([...outputs, '    - { name: images, kinds: [frame, document], may: [plant] }']).problems).toEqual([
      'routing.rules[0].may[0]: routing rule "images" sends frame, document records to output "plant", which never takes frame or document records (it takes scalar, event): this route never delivers anything',
    ]);
    expect(refused([...outputs, '    - { name: secrets, classes: [confidential], may: [lake, plant] }']).problems).toEqual([
      'routing.rules[0].may[1]: routing rule "secrets" sends confidential records to output "plant", which never takes confidential records (it takes public, internal): this route never delivers anything',
    ]);
  });

  it('some of the kinds or classes the rule lists: partly dead, a warning', () => {
    expect(load([...outputs, '    - { name: values, kinds: [scalar, frame], classes: [internal, sensitive], may: [plant] }']).warnings).toEqual([
      'routing.rules[0].may[0]: routing rule "values" sends sensitive records to output "plant", which never takes sensitive records (it takes public, internal): those go elsewhere or nowhere',
      'routing.rules[0].may[0]: routing rule "values" sends frame records to output "plant", which never takes frame records (it takes scalar, event): those go elsewhere or nowhere',
    ]);
  });

  it('not for a rule that lists no kinds or classes (it routes whatever each output takes), nor for `*`', () => {
    expect(load([...outputs, '    - { name: everything, may: [lake, plant] }', '    - { name: frames, kinds: [frame], may: ["*"] }']).warnings).toEqual([]);
  });
});

describe('a classification rule that never decides a class: a warning', () => {
  const inputs = ['inputs:', '  health: { type: gateway-health }', '  camera: { type: gateway-health }', '  cam2: { type: gateway-health }'];

  it('an earlier rule matches every record it matches, with a stricter class', () => {
    expect(
      load([
        ...inputs,
        'classification:',
        '  rules:',
        '    - { name: frames, kind: frame, class: sensitive }',
        '    - { name: kpis, signal: "kpi.*", class: public }',
        '    - { name: health-kpis, input: health, signal: "kpi.{load,temp}", class: public }',
        '    - { name: camera-frames, input: "cam*", kind: [frame], class: internal }',
      ]).warnings,
    ).toEqual([
      'classification.rules[2] is shadowed by classification.rules[1]: rule "kpis" matches every record rule "health-kpis" matches, with the same class (public), listed first, so rule "health-kpis" never decides a class',
      'classification.rules[3] is shadowed by classification.rules[0]: rule "frames" matches every record rule "camera-frames" matches, with a stricter class (sensitive over internal), so rule "camera-frames" never decides a class',
    ]);
  });

  it('a later rule with a stricter class shadows an earlier one too: the strictest matching rule decides, whatever the order', () => {
    expect(
      load([
        ...inputs,
        'classification:',
        '  rules:',
        '    - { name: cam-load, input: camera, signal: "cam.load", class: internal }',
        '    - { name: cameras, input: "cam*", class: confidential }',
      ]).warnings,
    ).toEqual([
      'classification.rules[0] is shadowed by classification.rules[1]: rule "cameras" matches every record rule "cam-load" matches, with a stricter class (confidential over internal), so rule "cam-load" never decides a class',
    ]);
  });

  it('an input glob that matches no configured input', () => {
    expect(load([...inputs, 'classification:', '  rules:', '    - { name: plcs, input: "plc-*", class: sensitive }']).warnings).toEqual([
      'classification.rules[0].input: "plc-*" matches no configured input (inputs: health, camera, cam2, grpc): rule "plcs" never applies',
    ]);
  });

  it('not when the later rule is stricter, reaches further, or tests what the earlier one does not', () => {
    expect(
      load([
        ...inputs,
        'classification:',
        '  rules:',
        '    - { name: kpis, signal: "kpi.*", class: public }',
        // stricter than the rule covering it: it decides
        '    - { name: kpi-cost, signal: "kpi.cost", class: internal }',
        // overlaps kpis, but also matches signals kpis does not ("kpi" alone, "kpis.x")
        '    - { name: kpi-ish, signal: "kpi*", class: public }',
        // every kind, where frames matches only frames
        '    - { name: camera, input: camera, class: internal }',
        '    - { name: frames, kind: frame, class: internal }',
        // a rule that tests the build matches fewer records than one that does not, never more:
        // camera-trials never covers camera; trial-builds covers trial-kpis (the same builds, every signal)
        '    - { name: camera-trials, input: camera, build: "T-*", class: sensitive }',
        '    - { name: trial-builds, build: "T-*", class: sensitive }',
        '    - { name: trial-kpis, build: "T-{1,2}*", signal: "kpi.*", class: sensitive }',
      ]).warnings,
    ).toEqual([
      'classification.rules[7] is shadowed by classification.rules[6]: rule "trial-builds" matches every record rule "trial-kpis" matches, with the same class (sensitive), listed first, so rule "trial-kpis" never decides a class',
    ]);
  });
});

describe('no false alarms on the shipped configs', () => {
  it('config/demo.yaml and config/layergate.example.yaml load with no warning', () => {
    for (const file of ['config/demo.yaml', 'config/layergate.example.yaml']) {
      expect(loadConfig({ file: path.join(repo, file), env: {}, cwd: '/tmp' }).warnings).toEqual([]);
    }
  });
});
