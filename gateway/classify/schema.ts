/**
 * Config sections of the classification and routing policy (`classification:`, `routing:`), declared
 * once here and composed into the whole config schema by gateway/config/schema.ts.
 */
import { z } from 'zod';
import { ACCESS_PATTERNS, RECORD_KINDS, SENSITIVITY_CLASSES } from '../plugin-api/record.js';
import type { AccessPattern, RecordKind, SensitivityClass } from '../plugin-api/record.js';
import { compileGlob } from './glob.js';

const classSchema = z.enum(SENSITIVITY_CLASSES);
const kindSchema = z.enum(RECORD_KINDS);
const accessPatternSchema = z.enum(ACCESS_PATTERNS);
const RULE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const ruleName = z.string().regex(RULE_NAME, { message: 'expected a name of letters, digits, "_", "." or "-"' });

const glob = (what: string) =>
  z
    .string()
    .min(1)
    .refine(
      (p) => {
        try {
          compileGlob(p);
          return true;
        } catch {
          return false;
        }
      },
      { message: 'expected a glob (* ? {a,b}); "{" without "}"' },
    )
    .optional()
    .meta({ description: `glob on the ${what} (* any characters, ? one, {a,b} alternatives)` });

const oneOrMany = <T extends z.ZodType>(s: T) => z.union([s, z.array(s).min(1)]).transform((v) => (Array.isArray(v) ? v : [v]) as z.output<T>[]);

export const classificationRuleSchema = z.strictObject({
  name: ruleName.meta({ description: 'names the rule in `layergate explain`, logs and errors' }),
  input: glob('input instance name'),
  signal: glob('signal name (for MQTT inputs: the name the subscription derives from the topic)'),
  kind: oneOrMany(kindSchema).optional().meta({ description: 'record kind(s)' }),
  build: glob('job / build id of the record'),
  material: glob('material of the running job (machine context)'),
  class: classSchema.meta({ description: 'the class a record matching every given key gets' }),
  description: z.string().optional().meta({ description: 'why (shown by `layergate explain`)' }),
});
export type ClassificationRule = z.output<typeof classificationRuleSchema>;

/** Rule names identify rules in errors, `layergate explain` and the audit log: each may appear once. */
function uniqueRuleNames(rules: readonly { name: string }[], ctx: z.RefinementCtx): void {
  const seen = new Set<string>();
  rules.forEach((r, i) => {
    if (seen.has(r.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate rule name "${r.name}"` });
    seen.add(r.name);
  });
}

export const classificationSchema = z
  .strictObject({
    default: classSchema.default('internal').meta({
      description: 'class of a record no rule matches, when its input sets no `class` of its own',
    }),
    rules: z.array(classificationRuleSchema).default([]).superRefine(uniqueRuleNames).meta({
      description:
        "rules { name, input?, signal?, kind?, build?, material?, class }: a record gets the most restrictive class of the rules it matches (every given key must match); no match: its input's `class`, else `default`. A class proposed by the input and a job marking (machine context `jobClass`) are floors",
    }),
  })
  .prefault({})
  .meta({ description: 'the sensitivity class (public, internal, sensitive, confidential) each record gets at the source' });
export type ClassificationConfig = z.output<typeof classificationSchema>;

const target = z.string().min(1);
export const routingRuleSchema = z
  .strictObject({
    name: ruleName.meta({ description: 'names the rule in errors and `layergate explain`' }),
    classes: z.array(classSchema).min(1).optional().meta({ description: 'classes the rule applies to (default: all)' }),
    kinds: z.array(kindSchema).min(1).optional().meta({ description: 'record kinds the rule applies to (default: all)' }),
    accessPatterns: z.array(accessPatternSchema).min(1).optional().meta({
      description:
        "access patterns the rule applies to (the record's `access_pattern` attribute); given: only records with one of them, a record without one never matches; default: every record, with or without one",
    }),
    must: z.array(target).default([]).meta({
      description: 'outputs that must receive these records (an output that cannot take them is a config error)',
    }),
    may: z.array(target).default([]).meta({
      description: 'outputs that may receive them, if they take them (plugin and `classes`/`kinds`); `*` = every output',
    }),
  })
  .refine((r) => !r.must.includes('*'), { message: '"*" is allowed in may, not in must (name the outputs that must receive)', path: ['must'] });
export type RoutingRule = z.output<typeof routingRuleSchema>;

export const routingSchema = z
  .strictObject({
    rules: z.array(routingRuleSchema).default([]).superRefine(uniqueRuleNames).meta({
      description:
        'rules { name, classes?, kinds?, accessPatterns?, must?, may? }: a record of a class and kind (and access pattern, if it has one) goes to the union of the must and may outputs of every rule that matches all the keys it gives',
    }),
    defaultAccessPatterns: z
      .strictObject(
        Object.fromEntries(
          RECORD_KINDS.map((k) => [k, accessPatternSchema.optional().meta({ description: `access pattern of ${k} records that carry none` })]),
        ) as Record<RecordKind, z.ZodOptional<typeof accessPatternSchema>>,
      )
      .prefault({})
      .meta({
        description:
          "by record kind, the access pattern of a record that carries none (its `access_pattern` attribute) and whose input sets none (the input's `accessPattern`); default: none, so only rules without accessPatterns match it",
      }),
    unmatched: z.enum(['all', 'none']).default('all').meta({
      description:
        'a record (class, kind, access pattern) no rule matches: every output that takes it may receive it (all), or none does (none); off-premises outputs never get sensitive or confidential',
    }),
  })
  .prefault({})
  .meta({ description: 'which outputs receive which classes and kinds of records' });
export type RoutingConfig = z.output<typeof routingSchema>;

export type { AccessPattern, RecordKind, SensitivityClass };
