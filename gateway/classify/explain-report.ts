/**
 * What `layergate explain` prints, in one place for its two sources: the policy it builds from the
 * config file (a stopped gateway) and the running gateway's answer (`GET /api/v1/explain`, the policy
 * in force and the job markings the running pipeline holds; gateway/cli/running-gateway.ts).
 *
 * - `explainAnswer`: the JSON of `layergate explain --json` for a question, from a policy; the API
 *   route answers the same object (plus the job marking it holds).
 * - `explainJson` / `explainText`: the two printed forms. `explainJson` builds the object key by key,
 *   so an answer that went through the API's schema prints exactly as one made here.
 */
import type { AccessPattern, RecordKind, SensitivityClass } from '../plugin-api/record.js';
import type { Policy } from './index.js';

/** The record asked about, as `layergate explain`'s options and the API's query name it. */
export interface ExplainQuery {
  /** the input instance (config key) */
  input: string;
  signal: string;
  kind: RecordKind;
  /** the record's job / build id (empty: none) */
  build?: string | undefined;
  /** how the job is marked (machine context `jobClass`, raw, e.g. `confidential` or `yes`) */
  jobClass?: string | undefined;
  /** the class the input proposes for the record */
  class?: SensitivityClass | undefined;
  /** the running job's material */
  material?: string | undefined;
  /** the record's access pattern (its `access_pattern` attribute); absent: a record without one */
  accessPattern?: AccessPattern | undefined;
}

/** `accessPattern` is present only when the question gave one, so answers without one print as before. */
export type ExplainAnswer = { input: string; signal: string; kind: RecordKind; build: string | null; accessPattern?: AccessPattern } & ReturnType<
  Policy['explain']
>;

/** The policy's answer for the record `q` names: `layergate explain --json`. */
export function explainAnswer(policy: Pick<Policy, 'explain'>, q: ExplainQuery): ExplainAnswer {
  const e = policy.explain(
    { source: q.input, signal: q.signal, kind: q.kind, ...(q.build ? { build: q.build } : {}), ...(q.class ? { class: q.class } : {}) },
    {
      ...(q.jobClass !== undefined ? { jobClass: q.jobClass } : {}),
      ...(q.material !== undefined ? { material: q.material } : {}),
      ...(q.accessPattern !== undefined ? { accessPattern: q.accessPattern } : {}),
    },
  );
  // the pattern the record is routed by: the one asked about, else its input's or its kind's default
  const { accessPattern, ...rest } = e;
  return {
    input: q.input,
    signal: q.signal,
    kind: q.kind,
    build: q.build ?? null,
    ...(accessPattern !== undefined ? { accessPattern } : {}),
    ...rest,
  };
}

/** The answer as `--json` prints it (keys in the order the policy makes them). */
export function explainJson(a: ExplainAnswer): ExplainAnswer {
  const c = a.classification;
  return {
    input: a.input,
    signal: a.signal,
    kind: a.kind,
    build: a.build,
    ...(a.accessPattern !== undefined ? { accessPattern: a.accessPattern } : {}),
    classification: {
      class: c.class,
      rule: c.rule,
      matched: c.matched.map((m) => ({ rule: m.rule, class: m.class, ...(m.description !== undefined ? { description: m.description } : {}) })),
      base: { class: c.base.class, from: c.base.from },
      floors: c.floors.map((f) => ({ from: f.from, class: f.class })),
    },
    routing: { routes: [...a.routing.routes], outputs: a.routing.outputs.map((o) => ({ output: o.output, receives: o.receives, why: o.why })) },
    premises: { ...a.premises },
  };
}

/** The answer as text, one fact a line. */
export function explainText(a: ExplainAnswer): string {
  const c = a.classification;
  const lines = [
    `record       input ${a.input}, signal ${a.signal}, kind ${a.kind}${a.build ? `, build ${a.build}` : ''}${a.accessPattern ? `, access pattern ${a.accessPattern}` : ''}`,
    `class        ${c.class}  (${c.rule})`,
    `rules        ${c.matched.length === 0 ? 'none match' : c.matched.map((m) => `${m.rule} -> ${m.class}`).join('; ')}`,
    `base         ${c.base.class}  (${c.base.from})`,
    ...c.floors.map((f) => `floor        ${f.class}  (${f.from})`),
    `routes       ${a.routing.routes.length === 0 ? 'none (stored and counted only)' : a.routing.routes.join(', ')}`,
    ...a.routing.outputs.map((o) => `  ${o.output.padEnd(16)} ${o.receives ? 'yes' : 'no '}  ${o.why}  [premises ${a.premises[o.output]}]`),
  ];
  return `${lines.join('\n')}\n`;
}
