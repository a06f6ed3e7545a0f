/**
 * The buffer as the rest of the gateway imports it: openBuffer, the contract types and the limits
 * that shape its accounting. Everything else in this folder is internal to the buffer.
 */
export { openBuffer, SqliteAppendLog } from './append-log.js';
export { DISK_FULL_REASON, isStorageFull } from './disk-full.js';
export { ROW_OVERHEAD_BYTES, LEDGER_MAX_ENTRIES, MAX_SINKS, seqOrigin } from './layout.js';
export { bufferFootprint } from './footprint.js';
export type { BufferFootprint } from './footprint.js';
export { DEFAULT_INLINE_MAX_BYTES } from './state.js';
export type * from './types.js';
