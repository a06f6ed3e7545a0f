/**
 * The files plugin as the registry knows it before a config names it: type, config schema and how to
 * load the implementation (./index.ts). Loaded lazily, so a gateway that does not run this plugin never
 * holds its code (zip, DICOM and image readers) in memory.
 */
import type { InputDefinition, LazyInputDefinition } from '../../../gateway/plugin-api/index.js';
import { filesConfigSchema } from './schema.js';
import type { FilesConfig } from './schema.js';

export const definition: LazyInputDefinition<FilesConfig> = {
  type: 'files',
  configSchema: filesConfigSchema,
  load: async (): Promise<InputDefinition<FilesConfig>> => (await import('./index.js')).definition,
};
