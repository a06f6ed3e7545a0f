/**
 * The classification rule engine: which sensitivity class a record gets, decided at the source,
 * before it is stored, and why.
 *
 * Order of decision (classes ordered public < internal < sensitive < confidential):
 *  1. every rule whose given keys all match (input, signal, kind: globs/lists on the record; build:
 *     the record's job id; material: the running job's, from the machine context) is a candidate;
 *     the most restrictive candidate wins (on a tie, the first listed);
 *  2. no rule matches: the input's own `class` when its config sets one, else `classification.default`;
 *  3. floors, never lowered by 1 or 2: the class the input proposed for the record (e.g. the frames
 *     input proposes `sensitive`), and the class its job is marked with (a job marked confidential
 *     makes every record of that job confidential).
 *
 * Design constraints:
 * - `classify` runs once per record on the ingest path (tens of thousands per second): globs are
 *   compiled once; the part of the decision that depends only on (input, signal, kind) is cached
 *   per that triple, so a record costs one map lookup plus the rules that test job metadata (build,
 *   material), which are the only ones evaluated per record. The cache is bounded (cleared when full).
 * - `explain` gives the same answer with every matching rule listed, for `layergate explain` and the API.
 */
import { SENSITIVITY_CLASSES, classRank } from '../plugin-api/record.js';
import type { RecordKind, SensitivityClass } from '../plugin-api/record.js';
import { compileGlob } from './glob.js';
import type { Glob } from './glob.js';
import type { ClassificationConfig, ClassificationRule } from './schema.js';

/** What the engine looks at in a record. */
export interface ClassifyInput {
  /** the input instance name */
  source: string;
  signal: string;
  kind: RecordKind;
  /** the class the input proposed (a floor) */
  class?: SensitivityClass | undefined;
  build?: string | undefined;
}

/** What the engine knows beside the record. */
export interface ClassifyContext {
  /** the input's configured `class` (undefined: the global default applies) */
  inputClass?: SensitivityClass | undefined;
  /** the class the record's job is marked with (a floor) */
  jobClass?: SensitivityClass | undefined;
  /** material of the running job (machine context) */
  material?: string | undefined;
}

export interface Classification {
  class: SensitivityClass;
  /** what decided it: `rule <name>`, `input <name> class`, `default`, `proposed by input <name>`, `job <build> marked <class>` */
  rule: string;
}

export interface Explanation extends Classification {
  /** every rule that matched, in config order, with its class */
  matched: { rule: string; class: SensitivityClass; description?: string }[];
  /** the class before the floors (rules, or the input's class, or the default) */
  base: { class: SensitivityClass; from: string };
  floors: { from: string; class: SensitivityClass }[];
}

interface CompiledRule {
  name: string;
  cls: SensitivityClass;
  rank: number;
  input?: Glob;
  signal?: Glob;
  kinds?: ReadonlySet<RecordKind>;
  build?: Glob;
  material?: Glob;
  /** tests job metadata: evaluated per record, not cached */
  dynamic: boolean;
  /** position in the config (ties between rules of one class go to the first listed) */
  index: number;
  description?: string;
}

/** the (input, signal, kind)-only part of a decision */
interface StaticPart {
  /** best static match, or undefined */
  best?: CompiledRule;
  /** dynamic rules whose static keys match, in config order */
  dynamic: CompiledRule[];
}

const CACHE_MAX = 100_000;

/**
 * How a machine marks a job, as an input reports it (`MachineContext.jobClass`), as a class floor:
 * a class name gives that class; `true`/`yes`/`1` mean confidential; `false`/`no`/`0`/`none`/empty
 * mean no marking. Anything else is read as confidential (a marking the gateway does not understand
 * must not leave the job's data less protected); `unknown` says so for the log.
 */
export function jobClassOf(raw: string | undefined): { class?: SensitivityClass; unknown?: boolean } {
  if (raw === undefined) return {};
  const v = raw.trim().toLowerCase();
  if ((SENSITIVITY_CLASSES as readonly string[]).includes(v)) return { class: v as SensitivityClass };
  if (['true', 'yes', '1', 'on'].includes(v)) return { class: 'confidential' };
  if (['', 'false', 'no', '0', 'off', 'none'].includes(v)) return {};
  return { class: 'confidential', unknown: true };
}

export class Classifier {
  readonly defaultClass: SensitivityClass;
  private readonly rules: CompiledRule[];
  /** source -> kind -> signal -> the static part of the decision */
  private readonly cache = new Map<string, Map<RecordKind, Map<string, StaticPart>>>();
  private cached = 0;

  constructor(config: Partial<ClassificationConfig> = {}) {
    this.defaultClass = config.default ?? 'internal';
    this.rules = (config.rules ?? []).map((r, i) => compileRule(r, i));
  }

  /** The class of one record and what decided it. */
  classify(r: ClassifyInput, ctx: ClassifyContext = {}): Classification {
    const best = this.bestRule(r.source, r.signal, r.kind, r.build, ctx.material);
    let cls: SensitivityClass;
    let rule: string;
    if (best) {
      cls = best.cls;
      rule = `rule ${best.name}`;
    } else if (ctx.inputClass !== undefined) {
      cls = ctx.inputClass;
      rule = `input ${r.source} class`;
    } else {
      cls = this.defaultClass;
      rule = 'default';
    }
    if (r.class !== undefined && r.class !== cls && classRank(r.class) > classRank(cls)) {
      cls = r.class;
      rule = `proposed by input ${r.source}`;
    }
    if (ctx.jobClass !== undefined && ctx.jobClass !== cls && classRank(ctx.jobClass) > classRank(cls)) {
      cls = ctx.jobClass;
      rule = `job ${r.build ?? '(unknown)'} marked ${ctx.jobClass}`;
    }
    return { class: cls, rule };
  }

  /**
   * The class alone, with no allocation: the pipeline's per-record call (same decision as `classify`).
   * `proposed` and `jobClass` are the floors.
   */
  classOf(
    source: string,
    signal: string,
    kind: RecordKind,
    build: string | undefined,
    proposed: SensitivityClass | undefined,
    inputClass: SensitivityClass | undefined,
    jobClass: SensitivityClass | undefined,
    material: string | undefined,
  ): SensitivityClass {
    const best = this.bestRule(source, signal, kind, build, material);
    let cls = best ? best.cls : (inputClass ?? this.defaultClass);
    if (proposed !== undefined && proposed !== cls && classRank(proposed) > classRank(cls)) cls = proposed;
    if (jobClass !== undefined && jobClass !== cls && classRank(jobClass) > classRank(cls)) cls = jobClass;
    return cls;
  }

  private bestRule(source: string, signal: string, kind: RecordKind, build: string | undefined, material: string | undefined): CompiledRule | undefined {
    const part = this.staticPart(source, signal, kind);
    let best = part.best;
    const dyn = part.dynamic;
    for (let i = 0; i < dyn.length; i++) {
      const d = dyn[i]!;
      if ((best === undefined || beats(d, best)) && matchesDynamic(d, build, material)) best = d;
    }
    return best;
  }

  /** The same decision with every matching rule and floor listed. */
  explain(r: ClassifyInput, ctx: ClassifyContext = {}): Explanation {
    const decided = this.classify(r, ctx);
    const matched = this.rules
      .filter((rule) => matchesStatic(rule, r.source, r.signal, r.kind) && (!rule.dynamic || matchesDynamic(rule, r.build, ctx.material)))
      .map((rule) => ({ rule: rule.name, class: rule.cls, ...(rule.description ? { description: rule.description } : {}) }));
    const top = matched.reduce<(typeof matched)[number] | undefined>((a, m) => (a === undefined || classRank(m.class) > classRank(a.class) ? m : a), undefined);
    const base = top
      ? { class: top.class, from: `rule ${top.rule}` }
      : ctx.inputClass !== undefined
        ? { class: ctx.inputClass, from: `input ${r.source} class` }
        : { class: this.defaultClass, from: 'default' };
    const floors: Explanation['floors'] = [];
    if (r.class !== undefined) floors.push({ from: `proposed by input ${r.source}`, class: r.class });
    if (ctx.jobClass !== undefined) floors.push({ from: `job ${r.build ?? '(unknown)'} marked ${ctx.jobClass}`, class: ctx.jobClass });
    return { ...decided, matched, base, floors };
  }

  private staticPart(source: string, signal: string, kind: RecordKind): StaticPart {
    let byKind = this.cache.get(source);
    let bySignal = byKind?.get(kind);
    let part = bySignal?.get(signal);
    if (part !== undefined) return part;
    if (this.cached >= CACHE_MAX) {
      this.cache.clear();
      this.cached = 0;
      byKind = undefined;
      bySignal = undefined;
    }
    if (byKind === undefined) this.cache.set(source, (byKind = new Map()));
    if (bySignal === undefined) byKind.set(kind, (bySignal = new Map()));
    part = { dynamic: [] };
    for (const rule of this.rules) {
      if (!matchesStatic(rule, source, signal, kind)) continue;
      if (rule.dynamic) {
        // a dynamic rule that cannot beat the best static one is never worth testing
        part.dynamic.push(rule);
      } else if (part.best === undefined || beats(rule, part.best)) part.best = rule;
    }
    if (part.best) part.dynamic = part.dynamic.filter((d) => beats(d, part.best!));
    bySignal.set(signal, part);
    this.cached++;
    return part;
  }
}

/** `a` decides over `b`: stricter, or as strict and listed first */
function beats(a: CompiledRule, b: CompiledRule): boolean {
  return a.rank > b.rank || (a.rank === b.rank && a.index < b.index);
}

function compileRule(rule: ClassificationRule, index: number): CompiledRule {
  const c: CompiledRule = {
    index,
    name: rule.name,
    cls: rule.class,
    rank: classRank(rule.class),
    dynamic: rule.build !== undefined || rule.material !== undefined,
  };
  if (rule.input !== undefined) c.input = compileGlob(rule.input);
  if (rule.signal !== undefined) c.signal = compileGlob(rule.signal);
  if (rule.kind !== undefined) c.kinds = new Set(rule.kind);
  if (rule.build !== undefined) c.build = compileGlob(rule.build);
  if (rule.material !== undefined) c.material = compileGlob(rule.material);
  if (rule.description !== undefined) c.description = rule.description;
  return c;
}

function matchesStatic(rule: CompiledRule, source: string, signal: string, kind: RecordKind): boolean {
  return (
    (rule.kinds === undefined || rule.kinds.has(kind)) &&
    (rule.input === undefined || rule.input.test(source)) &&
    (rule.signal === undefined || rule.signal.test(signal))
  );
}

function matchesDynamic(rule: CompiledRule, build: string | undefined, material: string | undefined): boolean {
  if (rule.build !== undefined && (build === undefined || !rule.build.test(build))) return false;
  if (rule.material !== undefined && (material === undefined || !rule.material.test(material))) return false;
  return true;
}
