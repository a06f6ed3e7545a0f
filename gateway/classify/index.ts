/**
 * The classification and routing policy as one object, built from a validated config: the
 * classifier, the route table and the effective premises of every output. Built from the plugins'
 * definitions (`OutputDefinition.capabilities`, computed from each output's config), at load and at
 * start alike, so `check-config` and `layergate explain` see the same policy as the running gateway.
 */
import { recordSources } from '../config/sources.js';
import { outputEnvelopeKeys, pluginSettings } from '../config/schema.js';
import type { Config, OutputEntry } from '../config/schema.js';
import type { OutputCapabilities } from '../plugin-api/contract.js';
import { RoutingPolicyError } from '../plugin-api/errors.js';
import { mayLeavePremises } from '../plugin-api/record.js';
import type { AccessPattern, RecordKind, SensitivityClass } from '../plugin-api/record.js';
import type { PluginRegistry } from '../runtime/registry.js';
import { Classifier, jobClassOf } from './classifier.js';
import type { ClassifyInput, Explanation } from './classifier.js';
import { RouteTable, effectivePremises } from './routing.js';
import type { Premises, RouteExplanation, RouteOutput } from './routing.js';

export { Classifier, jobClassOf, RouteTable, effectivePremises };
export type { Classification, ClassifyContext, ClassifyInput, Explanation } from './classifier.js';
export type { Premises, RouteExplanation, RouteOutput } from './routing.js';

/** What is known of an output when the policy is built (its definition's capabilities). */
export interface OutputFacts {
  type: string;
  premises?: Premises | undefined;
  accepts?: readonly SensitivityClass[] | undefined;
  kinds?: readonly RecordKind[] | undefined;
}

export class Policy {
  readonly classifier: Classifier;
  readonly routes: RouteTable;
  readonly outputs: readonly RouteOutput[];
  private readonly inputClasses: ReadonlyMap<string, SensitivityClass | undefined>;
  private readonly inputPatterns: ReadonlyMap<string, AccessPattern | undefined>;

  /** Throws `RoutingPolicyError` (all problems, one per line). */
  constructor(config: Pick<Config, 'classification' | 'routing' | 'inputs' | 'outputs'>, facts: (name: string) => OutputFacts) {
    this.classifier = new Classifier(config.classification);
    const problems: string[] = [];
    // a rule naming an input exactly (no glob) that is not configured is a typo, not a rule for later
    const inputNames = recordSources(config);
    config.classification.rules.forEach((rule, i) => {
      if (rule.input !== undefined && !/[*?{]/.test(rule.input) && !inputNames.includes(rule.input)) {
        problems.push(`classification.rules[${i}] (${rule.name}).input: no input named "${rule.input}" (inputs: ${inputNames.join(', ') || 'none'})`);
      }
    });
    const outputs: RouteOutput[] = [];
    for (const [name, entry] of Object.entries(config.outputs)) {
      const f = facts(name);
      let premises: Premises = 'off';
      try {
        premises = effectivePremises(f.premises, entry.premises, `outputs.${name}`);
      } catch (err) {
        problems.push((err as Error).message);
      }
      const kept = premises === 'off' ? (entry.classes ?? []).filter((c) => !mayLeavePremises(c)) : [];
      if (kept.length > 0) {
        problems.push(
          `outputs.${name}.classes: lists ${kept.join(', ')}, but output "${name}" is off premises; sensitive and confidential records never leave the premises`,
        );
      }
      outputs.push({ name, type: entry.type, accepts: f.accepts, wants: f.kinds, classes: entry.classes, kinds: entry.kinds, premises });
    }
    this.outputs = outputs;
    let routes: RouteTable | undefined;
    try {
      routes = new RouteTable(config.routing, outputs);
    } catch (err) {
      if (!(err instanceof RoutingPolicyError)) throw err;
      problems.push(...err.message.split('\n'));
    }
    if (problems.length > 0) throw new RoutingPolicyError(problems.join('\n'));
    this.routes = routes!;
    this.inputClasses = new Map(Object.entries(config.inputs).map(([n, e]) => [n, e.class]));
    this.inputPatterns = new Map(Object.entries(config.inputs).map(([n, e]) => [n, e.accessPattern]));
  }

  /** The access pattern a record is routed by: its own, else its input's, else its kind's default (`routing.defaultAccessPatterns`). */
  accessPatternOf(source: string, kind: RecordKind, own?: AccessPattern): AccessPattern | undefined {
    return own ?? this.inputPatterns.get(source) ?? this.routes.kindPattern(kind);
  }

  /** Which rule gives which class, and where a record of it (with `accessPattern`, if given) is routed. */
  explain(
    r: ClassifyInput,
    opts: { jobClass?: string; material?: string; accessPattern?: AccessPattern } = {},
  ): { classification: Explanation; routing: RouteExplanation; premises: Record<string, Premises>; accessPattern?: AccessPattern } {
    const job = jobClassOf(opts.jobClass);
    const classification = this.classifier.explain(r, {
      inputClass: this.inputClasses.get(r.source),
      ...(job.class ? { jobClass: job.class } : {}),
      ...(opts.material !== undefined ? { material: opts.material } : {}),
    });
    const accessPattern = this.accessPatternOf(r.source, r.kind, opts.accessPattern);
    return {
      classification,
      routing: this.routes.explain(classification.class, r.kind, accessPattern),
      premises: Object.fromEntries(this.outputs.map((o) => [o.name, o.premises])),
      ...(accessPattern !== undefined ? { accessPattern } : {}),
    };
  }
}

/**
 * What an output takes, as its definition declares it for this config entry (the plugin's own settings,
 * exactly what `create` gets); undefined for an unknown type (the schema has refused it already).
 */
export function outputCapabilities(entry: OutputEntry, registry: PluginRegistry): OutputCapabilities | undefined {
  const def = registry.outputs.get(entry.type);
  return def?.capabilities(pluginSettings(entry, outputEnvelopeKeys(def.configSchema)));
}

/** The policy as the config implies it, from the plugin definitions (no plugin is created). */
export function policyFromDefinitions(config: Pick<Config, 'classification' | 'routing' | 'inputs' | 'outputs'>, registry: PluginRegistry): Policy {
  return new Policy(config, (name) => {
    const entry = config.outputs[name]!;
    const caps = outputCapabilities(entry, registry);
    return { type: entry.type, premises: caps?.premises, accepts: caps?.accepts, kinds: caps?.kinds };
  });
}
