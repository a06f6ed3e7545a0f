/**
 * The routing policy: which outputs receive a record of a given class, kind and access pattern,
 * computed once from the `routing:` rules and the outputs into a lookup table (access pattern ->
 * class -> kind -> sink names; "no pattern" is one more value of the first dimension).
 *
 * - A (class, kind, access pattern) gets the union of the `must` and `may` outputs of every rule
 *   matching all three. A rule without `accessPatterns` matches every record, with a pattern or
 *   without; a rule with them matches only records whose pattern it lists, so a record without a
 *   pattern is matched only by rules without `accessPatterns`.
 *   `must`: the output receives them, and a config where it cannot (its plugin does not accept the
 *   class or want the kind, or its `classes`/`kinds` leave them out) is rejected. `may`: it receives
 *   them if it takes them. `*` in `may` = every output.
 * - A (class, kind, access pattern) no rule matches: `unmatched: all` (default) = every output that
 *   takes it; `none` = stored and counted only.
 * - Premises: an output declares whether it is on the plant's premises (its definition's
 *   `capabilities(config).premises`; an output's config may set `premises: off`, never raise an 'off'
 *   output to 'on'); not declared = off. Sensitive and confidential records never go to an
 *   off-premises output: a rule that names one for those classes is a config error naming the rule
 *   and the output; `*` and `unmatched: all` simply leave such outputs out.
 * - Config errors are checked for every (class, kind, access pattern) but their text names no
 *   pattern, so each is reported once per rule, output and class (kind, where it matters).
 * - The table is built once (at load and at start); `routes` returns shared arrays, never modified,
 *   and equal sink lists are one array across the whole table (the buffer resolves an array to its
 *   route mask once per run of records, so records of different patterns going to the same sinks
 *   keep one run). A lookup without a pattern is the same two property reads as before patterns.
 */
import { RoutingPolicyError } from '../plugin-api/errors.js';
import { ACCESS_PATTERNS, RECORD_KINDS, SENSITIVITY_CLASSES, mayLeavePremises } from '../plugin-api/record.js';
import type { AccessPattern, RecordKind, SensitivityClass } from '../plugin-api/record.js';
import type { RoutingConfig, RoutingRule } from './schema.js';

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

type ClassKindRoutes = Record<SensitivityClass, Record<RecordKind, string[]>>;

/** every value of the access dimension: no pattern, then each pattern */
const ACCESS_DIMENSION: readonly (AccessPattern | undefined)[] = [undefined, ...ACCESS_PATTERNS];

const whyKey = (cls: SensitivityClass, kind: RecordKind, access: AccessPattern | undefined) => `${cls}/${kind}/${access ?? ''}`;

/** whether a rule applies to records of this class, kind and access pattern (undefined: the record has none) */
function ruleMatches(r: RoutingRule, cls: SensitivityClass, kind: RecordKind, access: AccessPattern | undefined): boolean {
  return (
    (r.classes ?? SENSITIVITY_CLASSES).includes(cls) &&
    (r.kinds ?? RECORD_KINDS).includes(kind) &&
    (r.accessPatterns === undefined || (access !== undefined && r.accessPatterns.includes(access)))
  );
}

export class RouteTable {
  /** records without an access pattern: the lookup of most records, kept as direct as before patterns */
  private readonly plain: ClassKindRoutes;
  /** records with one; a Map, so a value that is no pattern finds nothing rather than an Object.prototype member */
  private readonly byAccess = new Map<string, ClassKindRoutes>();
  private readonly why = new Map<string, RouteExplanation>();
  /** `routing.defaultAccessPatterns`: the pattern of a record of a kind that carries none */
  private readonly kindPatterns: Partial<Record<RecordKind, AccessPattern>>;

  /** Build the table; throws `RoutingPolicyError` listing every problem (one per line). */
  constructor(config: Partial<RoutingConfig>, outputs: readonly RouteOutput[], where = 'routing') {
    this.kindPatterns = { ...config.defaultAccessPatterns };
    const rules = config.rules ?? [];
    const unmatched = config.unmatched ?? 'all';
    const byName = new Map(outputs.map((o) => [o.name, o]));
    // a Set: the same problem found for several kinds or access patterns is one line
    const problems = new Set<string>();
    rules.forEach((rule, i) => {
      for (const t of [...rule.must, ...rule.may]) {
        if (t !== '*' && !byName.has(t)) {
          problems.add(`${where}.rules[${i}] (${rule.name}): no output named "${t}" (outputs: ${[...byName.keys()].join(', ') || 'none'})`);
        }
      }
    });
    const indexed = rules.map((r, i) => ({ r, i }));
    // one array per distinct sink list (see the module header)
    const shared = new Map<string, string[]>();
    const intern = (routes: string[]): string[] => {
      const key = JSON.stringify(routes);
      const known = shared.get(key);
      if (known) return known;
      shared.set(key, routes);
      return routes;
    };
    let plain: ClassKindRoutes | undefined;
    for (const access of ACCESS_DIMENSION) {
      const byClass = {} as ClassKindRoutes;
      for (const cls of SENSITIVITY_CLASSES) {
        const byKind = {} as Record<RecordKind, string[]>;
        for (const kind of RECORD_KINDS) {
          const matching = indexed.filter(({ r }) => ruleMatches(r, cls, kind, access));
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
          const routes = intern(outputs.filter((o) => receives.has(o.name)).map((o) => o.name));
          byKind[kind] = routes;
          this.why.set(whyKey(cls, kind, access), {
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
        byClass[cls] = byKind;
      }
      if (access === undefined) plain = byClass;
      else this.byAccess.set(access, byClass);
    }
    if (problems.size > 0) throw new RoutingPolicyError([...problems].join('\n'));
    this.plain = plain!;
  }

  /**
   * The sinks of a record of this class, kind and access pattern (undefined: the record has none);
   * a shared array: do not modify. An unknown class, kind or pattern gets none.
   */
  routes(cls: SensitivityClass, kind: RecordKind, access?: AccessPattern): string[] {
    const pattern = access ?? this.kindPatterns[kind];
    const byClass = pattern === undefined ? this.plain : this.byAccess.get(pattern);
    return byClass?.[cls]?.[kind] ?? NO_ROUTES;
  }

  explain(cls: SensitivityClass, kind: RecordKind, access?: AccessPattern): RouteExplanation {
    return this.why.get(whyKey(cls, kind, access ?? this.kindPatterns[kind])) ?? { routes: [], outputs: [] };
  }

  /** The access pattern a record of `kind` without one gets (`routing.defaultAccessPatterns`). */
  kindPattern(kind: RecordKind): AccessPattern | undefined {
    return this.kindPatterns[kind];
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
