/**
 * Parts of a config that validate but can never take effect: an output that receives nothing, a
 * classification rule that never decides a class, a routing rule that names an output for records
 * that output never takes. Found once at load (after the policy is built), so `check-config` reports
 * them and the gateway refuses to start on the errors and logs the warnings.
 *
 * Error or warning, as a plant admin reads it: a part that can never deliver anything (an output
 * nothing reaches, a route that never carries a record) is an error, the config says something it
 * will never do; a part that is partly dead (a rule listing a kind its output never takes beside
 * kinds it does, a rule another one always overrides) is a warning, the rest of it still works.
 *
 * Design constraints:
 * - No false alarms: a part is reported only when it is dead for every record. Classes a record may
 *   get later (an input's proposal, a job marking) are not guessed at: an output is dead only when
 *   the route table gives it no (class, kind) at all, whatever the classifier decides. Likewise
 *   access patterns: a record may carry any of them or none, so an output is dead only when no
 *   (class, kind, access pattern or none) reaches it, and a rule with `accessPatterns` covers only
 *   the records of those patterns, never those without one.
 * - Every message names the config paths involved, in the wording of the other config problems.
 */
import { ACCESS_PATTERNS, RECORD_KINDS, SENSITIVITY_CLASSES, classRank, mayLeavePremises } from '../plugin-api/record.js';
import type { AccessPattern, RecordKind, SensitivityClass } from '../plugin-api/record.js';
import { compileGlob, globCovers } from './glob.js';
import type { RouteOutput, RouteTable } from './routing.js';
import type { ClassificationConfig, ClassificationRule, RoutingConfig } from './schema.js';

export interface DeadParts {
  /** parts that never deliver anything: the config is refused */
  errors: string[];
  /** parts that are partly dead: the config loads, and these are shown */
  warnings: string[];
}

/** What the checks read: the config's policy sections, the configured inputs, and the policy built from them. */
export interface DeadPartsInput {
  classification: ClassificationConfig;
  routing: RoutingConfig;
  inputNames: readonly string[];
  outputs: readonly RouteOutput[];
  routes: RouteTable;
}

export function findDeadParts(input: DeadPartsInput): DeadParts {
  const found: DeadParts = { errors: [], warnings: [] };
  checkOutputs(input, found);
  checkRoutingTargets(input, found);
  checkClassificationRules(input, found);
  return found;
}

/** the classes an output can be sent: its plugin's, narrowed by its `classes`, none that must stay on premises if it is off */
function classesTaken(o: RouteOutput): SensitivityClass[] {
  return SENSITIVITY_CLASSES.filter(
    (c) => (o.accepts ?? SENSITIVITY_CLASSES).includes(c) && (o.classes ?? SENSITIVITY_CLASSES).includes(c) && (o.premises === 'on' || mayLeavePremises(c)),
  );
}

/** the kinds an output can be sent: its plugin's, narrowed by its `kinds` */
function kindsTaken(o: RouteOutput): RecordKind[] {
  return RECORD_KINDS.filter((k) => (o.wants ?? RECORD_KINDS).includes(k) && (o.kinds ?? RECORD_KINDS).includes(k));
}

const ruleRef = (i: number, name: string) => `routing.rules[${i}] (${name})`;

/** what a record may carry: no access pattern, or any one of them */
const ACCESS_DIMENSION: readonly (AccessPattern | undefined)[] = [undefined, ...ACCESS_PATTERNS];

/** An output nothing can reach is an error; one whose `classes`/`kinds` list some its plugin never takes, a warning. */
function checkOutputs(input: DeadPartsInput, found: DeadParts): void {
  const rules = input.routing.rules;
  for (const o of input.outputs) {
    const where = `outputs.${o.name}`;
    const named = `output "${o.name}" (${o.type ?? 'output'})`;
    const accepted = o.accepts ?? SENSITIVITY_CLASSES;
    const wanted = o.wants ?? RECORD_KINDS;
    let dead = false;
    if (o.classes !== undefined) {
      const refused = o.classes.filter((c) => !accepted.includes(c));
      if (refused.length === o.classes.length) {
        found.errors.push(`${where}.classes: lists ${o.classes.join(', ')}, but ${named} accepts only ${accepted.join(', ')}: it receives nothing`);
        dead = true;
      } else if (refused.length > 0) {
        found.warnings.push(
          `${where}.classes: lists ${refused.join(', ')}, but ${named} accepts only ${accepted.join(', ')}: it never receives ${refused.join(' or ')} records`,
        );
      }
    }
    if (o.kinds !== undefined) {
      const refused = o.kinds.filter((k) => !wanted.includes(k));
      if (refused.length === o.kinds.length) {
        found.errors.push(`${where}.kinds: lists ${o.kinds.join(', ')}, but ${named} takes only ${wanted.join(', ')}: it receives nothing`);
        dead = true;
      } else if (refused.length > 0) {
        found.warnings.push(
          `${where}.kinds: lists ${refused.join(', ')}, but ${named} takes only ${wanted.join(', ')}: it never receives ${refused.join(' or ')} records`,
        );
      }
    }
    if (dead) continue;
    const classes = classesTaken(o);
    const kinds = kindsTaken(o);
    if (classes.length === 0) {
      // what the plugin and the config let through is all sensitive or confidential, and the output is off premises
      const onPremisesOnly = SENSITIVITY_CLASSES.filter((c) => accepted.includes(c) && (o.classes ?? SENSITIVITY_CLASSES).includes(c));
      found.errors.push(`${where}: is off premises and takes only ${onPremisesOnly.join(', ')} records, which never leave the premises: it receives nothing`);
      continue;
    }
    if (kinds.length === 0) {
      found.errors.push(`${where}: ${named} takes no record kind: it receives nothing`);
      continue;
    }
    if (classes.some((c) => kinds.some((k) => ACCESS_DIMENSION.some((a) => input.routes.routes(c, k, a).includes(o.name))))) continue;
    // the route table gives it nothing: say which rules took what it would take
    const takes = `classes ${classes.join(', ')}; kinds ${kinds.join(', ')}`;
    const matchesTaken = (r: RoutingConfig['rules'][number]) =>
      (r.classes ?? SENSITIVITY_CLASSES).some((c) => classes.includes(c)) && (r.kinds ?? RECORD_KINDS).some((k) => kinds.includes(k));
    const indexed = rules.map((r, i) => ({ r, i }));
    const naming = indexed.filter(({ r }) => r.must.includes(o.name) || r.may.includes(o.name) || r.may.includes('*'));
    const covering = indexed.filter(({ r }) => matchesTaken(r));
    const byNaming =
      naming.length === 0
        ? 'no routing rule names it'
        : `the routing rules naming it (${naming.map(({ r, i }) => ruleRef(i, r.name)).join(', ')}) match none of the records it takes (${takes})`;
    const byUnmatched =
      input.routing.unmatched === 'none'
        ? 'routing.unmatched is none'
        : `every record it takes${naming.length === 0 ? ` (${takes})` : ''} is matched by routing rules that do not name it (${covering.map(({ r, i }) => ruleRef(i, r.name)).join(', ')}), so routing.unmatched: all does not apply`;
    found.errors.push(`${where}: receives nothing: ${byNaming}, and ${byUnmatched}`);
  }
}

/**
 * A `may` target named for records it never takes. (`must` is checked where the route table is built:
 * any record a must-output cannot take is an error there; `*` means "whichever take them".)
 */
function checkRoutingTargets(input: DeadPartsInput, found: DeadParts): void {
  const byName = new Map(input.outputs.map((o) => [o.name, o]));
  input.routing.rules.forEach((rule, i) => {
    rule.may.forEach((target, t) => {
      const o = byName.get(target);
      if (o === undefined) return;
      const classes = classesTaken(o);
      const kinds = kindsTaken(o);
      // an output that takes nothing at all is reported once, as that output's error
      if (classes.length === 0 || kinds.length === 0) return;
      const where = `routing.rules[${i}].may[${t}]`;
      const ruleClasses = rule.classes ?? SENSITIVITY_CLASSES;
      const ruleKinds = rule.kinds ?? RECORD_KINDS;
      const classesLeft = ruleClasses.filter((c) => !classes.includes(c));
      const kindsLeft = ruleKinds.filter((k) => !kinds.includes(k));
      const neverClasses = `${classesLeft.join(', ')} records to output "${o.name}", which never takes ${classesLeft.join(' or ')} records (it takes ${classes.join(', ')})`;
      const neverKinds = `${kindsLeft.join(', ')} records to output "${o.name}", which never takes ${kindsLeft.join(' or ')} records (it takes ${kinds.join(', ')})`;
      if (classesLeft.length === ruleClasses.length) {
        found.errors.push(`${where}: routing rule "${rule.name}" sends ${neverClasses}: this route never delivers anything`);
      } else if (kindsLeft.length === ruleKinds.length) {
        found.errors.push(`${where}: routing rule "${rule.name}" sends ${neverKinds}: this route never delivers anything`);
      } else {
        // only what the rule lists itself: a rule for all kinds is not meant to reach each output with each kind
        if (rule.classes !== undefined && classesLeft.length > 0) {
          found.warnings.push(`${where}: routing rule "${rule.name}" sends ${neverClasses}: those go elsewhere or nowhere`);
        }
        if (rule.kinds !== undefined && kindsLeft.length > 0) {
          found.warnings.push(`${where}: routing rule "${rule.name}" sends ${neverKinds}: those go elsewhere or nowhere`);
        }
      }
    });
  });
}

/**
 * A classification rule that never decides a class: one matching no configured input, or one another
 * rule overrides for every record it matches. The most restrictive matching rule decides (a tie goes
 * to the first listed), so rule A shadows rule B when A matches every record B matches and A's class
 * is stricter, or the same with A listed first; A may come after B.
 */
function checkClassificationRules(input: DeadPartsInput, found: DeadParts): void {
  const rules = input.classification.rules;
  // which configured inputs each rule can see: a record's input is always one of them
  const inputsOf = rules.map((r) => {
    if (r.input === undefined) return input.inputNames;
    const glob = compileGlob(r.input);
    return input.inputNames.filter((n) => glob.test(n));
  });
  rules.forEach((rule, j) => {
    if (inputsOf[j]!.length === 0) {
      // an exact name that is not configured is a config error already (a typo); a glob may simply match nothing yet
      if (/[*?{]/.test(rule.input ?? '')) {
        found.warnings.push(
          `classification.rules[${j}].input: "${rule.input}" matches no configured input (inputs: ${input.inputNames.join(', ') || 'none'}): rule "${rule.name}" never applies`,
        );
      }
      return;
    }
    const shadow = rules.findIndex((other, i) => i !== j && beats(other, i, rule, j) && covers(other, inputsOf[i]!, rule, inputsOf[j]!));
    if (shadow < 0) return;
    const by = rules[shadow]!;
    const how =
      classRank(by.class) > classRank(rule.class)
        ? `with a stricter class (${by.class} over ${rule.class})`
        : `with the same class (${by.class}), listed first`;
    found.warnings.push(
      `classification.rules[${j}] is shadowed by classification.rules[${shadow}]: rule "${by.name}" matches every record rule "${rule.name}" matches, ${how}, so rule "${rule.name}" never decides a class`,
    );
  });
}

/** `a` (at index i) decides over `b` (at index j) when both match: stricter, or as strict and listed first */
function beats(a: ClassificationRule, i: number, b: ClassificationRule, j: number): boolean {
  const ra = classRank(a.class);
  const rb = classRank(b.class);
  return ra > rb || (ra === rb && i < j);
}

/** every record rule `b` matches, rule `a` matches too */
function covers(a: ClassificationRule, aInputs: readonly string[], b: ClassificationRule, bInputs: readonly string[]): boolean {
  if (!bInputs.every((n) => aInputs.includes(n))) return false;
  if (a.kind !== undefined && (b.kind === undefined || !b.kind.every((k) => a.kind!.includes(k)))) return false;
  // an absent glob matches everything, also a record without that value (no build, no material)
  for (const key of ['signal', 'build', 'material'] as const) {
    const outer = a[key];
    const inner = b[key];
    if (outer !== undefined && (inner === undefined || !globCovers(outer, inner))) return false;
  }
  return true;
}
