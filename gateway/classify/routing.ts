/**
 * The routing policy: which outputs receive a record of a given class and kind, computed once from
 * the `routing:` rules and the outputs into a lookup table (class -> kind -> sink names).
 *
 * - A (class, kind) gets the union of the `must` and `may` outputs of every rule matching both.
 *   `must`: the output receives them, and a config where it cannot (its plugin does not accept the
 *   class or want the kind, or its `classes`/`kinds` leave them out) is rejected. `may`: it receives
 *   them if it takes them. `*` in `may` = every output.
 * - A (class, kind) no rule matches: `unmatched: all` (default) = every output that takes it;
 *   `none` = stored and counted only.
 * - Premises: an output declares whether it is on the plant's premises (its definition's
 *   `capabilities(config).premises`; an output's config may set `premises: off`, never raise an 'off'
 *   output to 'on'); not declared = off. Sensitive and confidential records never go to an
 *   off-premises output: a rule that names one for those classes is a config error naming the rule
 *   and the output; `*` and `unmatched: all` simply leave such outputs out.
 * - The table is built once (at load and at start); `routes` returns shared arrays, never modified.
 */
import { RoutingPolicyError } from '../plugin-api/errors.js';
import { RECORD_KINDS, SENSITIVITY_CLASSES, mayLeavePremises } from '../plugin-api/record.js';
import type { RecordKind, SensitivityClass } from '../plugin-api/record.js';
import type { RoutingConfig } from './schema.js';

export type Premises = 'on' | 'off';

/** What routing knows of an output. */
export interface RouteOutput {
  /** instance name = sink name */
  name: string;
  /** plugin type (for messages) */
  type?: string | undefined;
  /** the plugin's accepted classes (undefined: all) */
  accepts?: readonly SensitivityClass[] | undefined;
  /** the plugin's wanted kinds (undefined: all) */
  wants?: readonly RecordKind[] | undefined;
  /** config narrowing */
  classes?: readonly SensitivityClass[] | undefined;
  kinds?: readonly RecordKind[] | undefined;
  premises: Premises;
}

/**
 * The effective premises of an output: 'off' unless the plugin declares 'on'; its config may lower
 * it to 'off' but not raise an 'off' (or undeclared) output, except that an output whose plugin
 * declares nothing may be declared 'on' by the config (the plant knows where it runs).
 */
export function effectivePremises(declared: Premises | undefined, configured: Premises | undefined, where: string): Premises {
  if (configured === 'off') return 'off';
  if (configured === 'on') {
    if (declared === 'off') {
      throw new RoutingPolicyError(`${where}.premises: the output declares itself off premises; the config cannot set it to on`);
    }
    return 'on';
  }
  return declared ?? 'off';
}

export interface RouteExplanation {
  routes: string[];
  /** per output: whether it receives it, and why (or why not) */
  outputs: { output: string; receives: boolean; why: string }[];
}

export class RouteTable {
  private readonly table = {} as Record<SensitivityClass, Record<RecordKind, string[]>>;
  private readonly why = new Map<string, RouteExplanation>();

  /** Build the table; throws `RoutingPolicyError` listing every problem (one per line). */
  constructor(config: Partial<RoutingConfig>, outputs: readonly RouteOutput[], where = 'routing') {
    const rules = config.rules ?? [];
    const unmatched = config.unmatched ?? 'all';
    const byName = new Map(outputs.map((o) => [o.name, o]));
    const problems = new Set<string>();
    rules.forEach((rule, i) => {
      for (const t of [...rule.must, ...rule.may]) {
        if (t !== '*' && !byName.has(t)) {
          problems.add(`${where}.rules[${i}] (${rule.name}): no output named "${t}" (outputs: ${[...byName.keys()].join(', ') || 'none'})`);
        }
      }
    });
    for (const cls of SENSITIVITY_CLASSES) {
      const byKind = {} as Record<RecordKind, string[]>;
      for (const kind of RECORD_KINDS) {
        const matching = rules
          .map((r, i) => ({ r, i }))
          .filter(({ r }) => (r.classes ?? SENSITIVITY_CLASSES).includes(cls) && (r.kinds ?? RECORD_KINDS).includes(kind));
        const receives = new Map<string, string>();
        const refused = new Map<string, string>();
        const offLimits = (o: RouteOutput) => o.premises === 'off' && !mayLeavePremises(cls);
        if (matching.length === 0) {
          for (const o of outputs) {
            if (unmatched === 'none') refused.set(o.name, 'no routing rule matches and routing.unmatched is none');
            else if (offLimits(o)) refused.set(o.name, `off premises: ${cls} records stay on premises`);
            else if (!takes(o, cls, kind)) refused.set(o.name, doesNotTake(o, cls, kind));
            else receives.set(o.name, 'no routing rule matches; routing.unmatched: all');
          }
        }
        for (const { r, i } of matching) {
          const ruleWhere = `${where}.rules[${i}] (${r.name})`;
          for (const name of r.must) {
            const o = byName.get(name);
            if (!o) continue;
            if (offLimits(o)) {
              problems.add(
                `${ruleWhere}: sends ${cls} records to output "${name}", which is off premises; sensitive and confidential records never leave the premises (limit the rule's classes to public, internal)`,
              );
            } else if (!takes(o, cls, kind)) {
              problems.add(`${ruleWhere}: output "${name}" must receive ${cls} ${kind} records, but ${doesNotTake(o, cls, kind)}`);
            } else receives.set(name, `must, by routing rule ${r.name}`);
          }
          for (const name of r.may) {
            const targets = name === '*' ? outputs : byName.has(name) ? [byName.get(name)!] : [];
            for (const o of targets) {
              if (receives.has(o.name)) continue;
              if (offLimits(o)) {
                if (name !== '*')
                  problems.add(
                    `${ruleWhere}: lets ${cls} records go to output "${o.name}", which is off premises; sensitive and confidential records never leave the premises (limit the rule's classes to public, internal)`,
                  );
                refused.set(o.name, `off premises: ${cls} records stay on premises`);
              } else if (!takes(o, cls, kind)) refused.set(o.name, doesNotTake(o, cls, kind));
              else {
                receives.set(o.name, `may, by routing rule ${r.name}`);
                refused.delete(o.name);
              }
            }
          }
        }
        // config order of the outputs, not rule order: stable sink lists
        const routes = outputs.filter((o) => receives.has(o.name)).map((o) => o.name);
        byKind[kind] = routes;
        this.why.set(`${cls}/${kind}`, {
          routes,
          outputs: outputs.map((o) => ({
            output: o.name,
            receives: receives.has(o.name),
            why:
              receives.get(o.name) ??
              refused.get(o.name) ??
              (offLimits(o) ? `off premises: ${cls} records stay on premises` : 'no matching routing rule names it'),
          })),
        });
      }
      this.table[cls] = byKind;
    }
    if (problems.size > 0) throw new RoutingPolicyError([...problems].join('\n'));
  }

  /** The sinks of a record of this class and kind (a shared array: do not modify). */
  routes(cls: SensitivityClass, kind: RecordKind): string[] {
    return this.table[cls]?.[kind] ?? NO_ROUTES;
  }

  explain(cls: SensitivityClass, kind: RecordKind): RouteExplanation {
    return this.why.get(`${cls}/${kind}`) ?? { routes: [], outputs: [] };
  }
}

const NO_ROUTES: string[] = [];

function takes(o: RouteOutput, cls: SensitivityClass, kind: RecordKind): boolean {
  return (
    (o.accepts ?? SENSITIVITY_CLASSES).includes(cls) &&
    (o.wants ?? RECORD_KINDS).includes(kind) &&
    (o.classes === undefined || o.classes.includes(cls)) &&
    (o.kinds === undefined || o.kinds.includes(kind))
  );
}

function doesNotTake(o: RouteOutput, cls: SensitivityClass, kind: RecordKind): string {
  if (!(o.accepts ?? SENSITIVITY_CLASSES).includes(cls))
    return `output "${o.name}" (${o.type ?? 'output'}) does not accept ${cls} records (it accepts ${o.accepts!.join(', ')})`;
  if (!(o.wants ?? RECORD_KINDS).includes(kind))
    return `output "${o.name}" (${o.type ?? 'output'}) does not take ${kind} records (it takes ${o.wants!.join(', ')})`;
  if (o.classes !== undefined && !o.classes.includes(cls)) return `output "${o.name}"'s classes (${o.classes.join(', ')}) leave out ${cls}`;
  return `output "${o.name}"'s kinds (${o.kinds!.join(', ')}) leave out ${kind}`;
}
