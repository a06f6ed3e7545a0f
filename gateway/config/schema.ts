/**
 * The configuration schema: one YAML file, declared once here as a zod schema and validated at
 * load. The core sections (gateway, buffer, log) are fixed; `inputs` and `outputs` are maps of
 * instance name -> plugin config, where each plugin contributes its own `configSchema` through the
 * registry (gateway/runtime/registry.ts) and the gateway adds the envelope keys every instance has
 * (`type`, and `class` for inputs, `classes`/`kinds` for outputs).
 *
 * Design constraints:
 * - Every object is strict: an unknown key is an error, never silently ignored (a typo in a
 *   retention or class setting must not fall back to a default unnoticed).
 * - Defaults make an absent file a working gateway: the gateway-health input feeding the file-lake
 *   output under ./var (or $LAYERGATE_DATA_DIR). Defaults are parsed through the schema (`prefault`),
 *   so plugin defaults apply to them too.
 * - Secret fields are marked (`secret()` in ./units.ts); see ./report.ts for how they are hidden.
 */
import os from 'node:os';
import { z } from 'zod';
import { ACCESS_PATTERNS, RECORD_KINDS, SENSITIVITY_CLASSES } from '../plugin-api/record.js';
import type { SensitivityClass } from '../plugin-api/record.js';
import type { PluginRegistry } from '../runtime/registry.js';
import { byteSize, duration } from './units.js';
import { classificationSchema, routingSchema } from '../classify/schema.js';
import { encryptionSchema } from '../crypto/schema.js';
import { auditSchema } from '../audit/schema.js';
import { apiSchema } from '../api/schema.js';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** instance names become sink names, file and folder names: keep them plain */
const INSTANCE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
const instanceName = z.string().regex(INSTANCE_NAME, {
  message: 'expected a name of letters, digits, "_" or "-" (at most 64, starting with a letter or digit)',
});

const classSchema = z.enum(SENSITIVITY_CLASSES);
const kindSchema = z.enum(RECORD_KINDS);

/**
 * What every configured input has, whatever its type. `type` is narrowed to each plugin's literal
 * when the entry schemas are built; this generic form is what the gateway reads and what the
 * reference lists.
 */
export const inputEnvelopeSchema = z.strictObject({
  type: z.string().meta({ description: 'input plugin type: which plugin reads this input' }),
  class: classSchema.optional().meta({
    description: "class of this input's records no classification rule matches (default: classification.default)",
  }),
  accessPattern: z.enum(ACCESS_PATTERNS).optional().meta({
    description:
      "how this input's records are used (realtime, batch, ml_training, research, archive), for routing rules' accessPatterns; a record's own `access_pattern` attribute wins (default: routing.defaultAccessPatterns by kind)",
  }),
});
export type InputEnvelope = z.output<typeof inputEnvelopeSchema>;

/**
 * What every configured output has, whatever its type: the routing restrictions and the
 * forwarder settings. A plugin may declare any of these keys itself (same meaning); its
 * declaration then wins and the key is passed on to it.
 */
export const outputEnvelopeSchema = z.strictObject({
  type: z.string().meta({ description: 'output plugin type: which plugin this sink is' }),
  classes: z.array(classSchema).min(1).optional().meta({
    description: 'only route these classes here (within what the plugin accepts); default: all it accepts',
  }),
  kinds: z.array(kindSchema).min(1).optional().meta({
    description: 'only route these record kinds here (within what the plugin wants); default: all it wants',
  }),
  premises: z.enum(['on', 'off']).optional().meta({
    description:
      "whether this sink is on the plant's premises (default: what the plugin declares; undeclared = off); off may lower an on-premises plugin, never the reverse; off-premises sinks never get sensitive or confidential records",
  }),
  linger: duration().optional().meta({
    description:
      "forwarder linger: a partial batch waits until its oldest record is this old (or a full batch is there) before it is sent; fewer, larger batches for sinks that make a file or object per batch (default: the plugin's preference, else 0)",
  }),
  batchRecords: z.number().int({ message: 'expected a whole number > 0' }).positive({ message: 'expected a whole number > 0' }).optional().meta({
    description: "most records per send (default: the plugin's preference, else 500)",
  }),
  batchBytes: byteSize()
    .pipe(z.number().positive({ message: 'expected a byte size > 0' }))
    .optional()
    .meta({
      description: "most record body bytes per send; one record always fits (default: the plugin's preference, else 8MiB)",
    }),
});
export type OutputEnvelope = z.output<typeof outputEnvelopeSchema>;

/** keys the gateway consumes and does not pass to the plugin's factory */
export const INPUT_ENVELOPE_KEYS = ['type', 'class', 'accessPattern'] as const;
/** `classes`/`kinds` are passed on too: an output may use them to tell what it accepts */
export const OUTPUT_ENVELOPE_KEYS = ['type', 'premises'] as const;
/**
 * Forwarder settings the gateway adds to every output. They are the gateway's, not passed to the
 * plugin, unless the plugin's own schema declares a key of the same name (then it is passed on and
 * the gateway reads it too, in the same meaning).
 */
export const FORWARDER_KEYS = ['linger', 'batchRecords', 'batchBytes'] as const;

/** The keys of an output entry the plugin does not get: `type` and the forwarder keys it does not declare. */
export function outputEnvelopeKeys(pluginSchema: z.ZodType): string[] {
  const shape = pluginSchema instanceof z.ZodObject ? pluginSchema.shape : {};
  return [...OUTPUT_ENVELOPE_KEYS, ...FORWARDER_KEYS.filter((k) => !(k in shape))];
}

export type InputEntry = InputEnvelope & Record<string, unknown>;
export type OutputEntry = OutputEnvelope & Record<string, unknown>;

/** Environment-dependent defaults (read once, when the schema is built). */
export interface SchemaDefaults {
  machine: string;
  dataDir: string;
}

export function defaultsFromEnv(env: NodeJS.ProcessEnv = process.env): SchemaDefaults {
  return { machine: os.hostname(), dataDir: env.LAYERGATE_DATA_DIR || './var' };
}

export const DEFAULT_INPUTS = { health: { type: 'gateway-health' } };
export const DEFAULT_OUTPUTS = { lake: { type: 'file-lake' } };

function asObjectSchema(kind: 'input' | 'output', type: string, s: z.ZodType): z.ZodObject {
  if (!(s instanceof z.ZodObject)) {
    throw new TypeError(`${kind} plugin "${type}": configSchema must be a z.object (the gateway adds the envelope keys to it)`);
  }
  return s;
}

function inputEntrySchema(registry: PluginRegistry): z.ZodType<InputEntry> {
  const options = [...registry.inputs.values()].map((def) =>
    asObjectSchema('input', def.type, def.configSchema)
      .safeExtend({ ...inputEnvelopeSchema.shape, type: z.literal(def.type).meta({ description: inputEnvelopeSchema.shape.type.description }) })
      .strict(),
  );
  return discriminated(options) as unknown as z.ZodType<InputEntry>;
}

function outputEntrySchema(registry: PluginRegistry): z.ZodType<OutputEntry> {
  const options = [...registry.outputs.values()].map((def) => {
    const own = asObjectSchema('output', def.type, def.configSchema);
    // a plugin may declare an envelope key itself (same meaning); its declaration wins
    const envelope = Object.fromEntries(Object.entries(outputEnvelopeSchema.shape).filter(([key]) => !(key in own.shape)));
    return own.safeExtend({ ...envelope, type: z.literal(def.type).meta({ description: outputEnvelopeSchema.shape.type.description }) }).strict();
  });
  return discriminated(options) as unknown as z.ZodType<OutputEntry>;
}

function discriminated(options: z.ZodObject[]): z.ZodType {
  if (options.length === 0) return z.never();
  if (options.length === 1) return z.discriminatedUnion('type', [options[0]!]);
  return z.discriminatedUnion('type', options as [z.ZodObject, z.ZodObject, ...z.ZodObject[]]);
}

function coreSchema(defaults: SchemaDefaults) {
  const gateway = z
    .strictObject({
      machine: z.string().min(1).default(defaults.machine).meta({
        description: 'name of the machine this gateway serves; used in partition paths and keys (default: the host name)',
      }),
      dataDir: z.string().min(1).default(defaults.dataDir).meta({
        description:
          'folder for the buffer, spool, file lake and quarantine; relative paths resolve from the working directory (default: $LAYERGATE_DATA_DIR or ./var)',
      }),
      shutdownGraceMs: duration().prefault(10_000).meta({
        description: 'on SIGTERM/SIGINT, how long forwarders may keep delivering before outputs are stopped',
      }),
      deliveryThread: z.boolean().default(true).meta({
        description:
          "run the outputs and their forwarders (reading the buffer, encoding for each sink, the sinks' clients) on a thread of their own, so that ingest and delivery each have a CPU core; false runs them on the main thread beside the inputs",
      }),
      quarantineMaxBytes: byteSize().prefault('64MiB').meta({
        description:
          'cap on the quarantine folder of each input (what does not fit is counted, not kept) and of each output (records a sink refused for good that do not fit stay in the buffer and are retried)',
      }),
    })
    .prefault({})
    .meta({ description: 'the gateway itself: which machine it serves, where its data lives, how it shuts down' });
  const buffer = z
    .strictObject({
      maxBytes: byteSize().prefault('1GiB').meta({
        description:
          "bound on the buffer folder's disk use: row bodies + spooled blobs, and 1/8 of it (at most 64 MiB) for the SQLite WAL and the disk-full reserve",
      }),
      maxAge: duration().optional().meta({
        description: 'records older than this are evicted; undelivered ones are counted as lost (default: no age limit)',
      }),
      inlineMaxBytes: byteSize().prefault('64KiB').meta({ description: 'bodies larger than this go to the spool instead of the row' }),
      synchronous: z.enum(['FULL', 'NORMAL']).default('FULL').meta({
        description: 'SQLite synchronous: FULL survives power loss after each commit; NORMAL may lose the last commits on power loss',
      }),
      fullPolicy: z
        .strictObject(
          Object.fromEntries(
            SENSITIVITY_CLASSES.map((c) => [
              c,
              z
                .enum(['drop-oldest', 'block'])
                .default('drop-oldest')
                .meta({
                  description: `when the buffer is full and a record of class ${c} arrives: evict the oldest records (counted as lost), or make the input wait for room`,
                }),
            ]),
          ) as Record<SensitivityClass, z.ZodDefault<z.ZodEnum<{ 'drop-oldest': 'drop-oldest'; block: 'block' }>>>,
        )
        .prefault({})
        .meta({ description: 'per class, when the buffer is full: drop-oldest, or block (inputs wait for room)' }),
    })
    .prefault({})
    .meta({ description: 'the durable record buffer (SQLite, with a spool folder for large bodies) between inputs and outputs' });
  const log = z
    .strictObject({ level: z.enum(LOG_LEVELS).default('info').meta({ description: 'pino log level' }) })
    .prefault({})
    .meta({ description: "the gateway's own log (JSON lines on stdout)" });
  return {
    gateway,
    buffer,
    log,
    classification: classificationSchema,
    routing: routingSchema,
    encryption: encryptionSchema,
    audit: auditSchema,
    api: apiSchema,
  };
}

/** Build the whole config schema from the core sections and the registry's plugin schemas. */
export function buildConfigSchema(registry: PluginRegistry, defaults: SchemaDefaults = defaultsFromEnv()) {
  const core = coreSchema(defaults);
  return z.strictObject({
    ...core,
    inputs: z.record(instanceName, inputEntrySchema(registry)).prefault(DEFAULT_INPUTS).meta({
      description: 'Input instances: a map of instance name (letters, digits, `_`, `-`) to { type, class?, ...plugin settings }',
    }),
    outputs: z.record(instanceName, outputEntrySchema(registry)).prefault(DEFAULT_OUTPUTS).meta({
      description:
        'Output instances (sinks): a map of instance name (letters, digits, `_`, `-`) to { type, classes?, kinds?, premises?, linger?, batchRecords?, batchBytes?, ...plugin settings }',
    }),
  });
}

export type ConfigSchema = ReturnType<typeof buildConfigSchema>;

/**
 * The validated configuration, as the gateway uses it: exactly what the schema produces (units
 * resolved, defaults applied). The loader makes `gateway.dataDir` absolute.
 */
export type Config = z.output<ConfigSchema>;

/** The plugin's own settings of an instance: the entry without the gateway's envelope keys. */
export function pluginSettings(entry: Record<string, unknown>, envelope: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(entry).filter(([k]) => !envelope.includes(k)));
}
