export { openBuffer, SqliteRingBuffer, ROW_OVERHEAD_BYTES, LEDGER_MAX_ENTRIES, DEFAULT_INLINE_MAX_BYTES, MAX_SINKS } from './append-log.js';
export type * from './types.js';
