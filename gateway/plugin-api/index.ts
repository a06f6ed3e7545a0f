/**
 * The plugin API: everything a plugin under plugins/ may import from the gateway, in one place.
 * Plugins import this module and wire/, nothing else of ours (enforced by the import rules in CI),
 * so the core can change behind it without touching a plugin.
 */
export * from './contract.js';
export * from './commands.js';
export * from './actions.js';
export * from './config-fragments.js';
export * from './record.js';
export * from './record-fields.js';
export * from './errors.js';
export * from '../config/units.js';
export type { Sealer } from '../crypto/sealer.js';
export * from './batching.js';
export * from './retry.js';
export * from './drop-folder.js';
export * from './upload-server.js';
