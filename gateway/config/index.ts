/**
 * The config subsystem: schema (./schema.ts), loading (./load.ts), reporting and redaction
 * (./report.ts), the generated reference (./docs.ts) and JSON Schema (./json-schema.ts).
 */
export { loadConfig, interpolate, ConfigProblems, formatWarnings } from './load.js';
export type { LoadOptions, LoadedConfig } from './load.js';
export {
  buildConfigSchema,
  defaultsFromEnv,
  pluginSettings,
  outputEnvelopeKeys,
  INPUT_ENVELOPE_KEYS,
  OUTPUT_ENVELOPE_KEYS,
  FORWARDER_KEYS,
  LOG_LEVELS,
} from './schema.js';
export type { Config, ConfigSchema, InputEntry, OutputEntry, InputEnvelope, OutputEnvelope, LogLevel } from './schema.js';
export { configJsonSchema } from './json-schema.js';
export { redactConfig, formatIssues, formatPath, isSecretPath, collectSecretValues, scrub } from './report.js';
export { byteSize, duration, secret, parseBytes, parseDuration, isSecretKeyName, REDACTED } from './units.js';
