/**
 * Where data stops, for the flow picture and the tables: an input that delivered nothing for a
 * while, an output backing off, failing on its configuration, stopped or lagging.
 *
 * The thresholds are generous on purpose: a camera sends a frame per layer (tens of seconds apart
 * on a real machine) and a lake lingers before it writes, so short pauses are normal, not red.
 */
import type { InputStatus, OutputStatus } from '../api/types.js';

/** an input at 0 records/s this long is stalled */
export const INPUT_STALL_S = 60;
/** an output this far behind the newest record is lagging */
export const OUTPUT_LAG_S = 120;

export type Health = 'ok' | 'quiet' | 'stopped';

export interface EdgeHealth {
  health: Health;
  /** why, in words (shown and read out) */
  reason: string;
}

export function inputHealth(input: InputStatus, quietForS: number): EdgeHealth {
  if (input.recordsPerSecond > 0) return { health: 'ok', reason: 'receiving' };
  if (quietForS >= INPUT_STALL_S) return { health: 'stopped', reason: `no records for ${Math.round(quietForS)} s` };
  return { health: 'quiet', reason: 'no records right now' };
}

export function outputHealth(output: OutputStatus): EdgeHealth {
  if (output.configFailure) return { health: 'stopped', reason: `refused by its configuration: ${output.configFailure.message}` };
  if (output.state === 'backing-off') return { health: 'stopped', reason: `failing, retrying${output.lastError ? `: ${output.lastError.message}` : ''}` };
  if (output.state === 'stopped') return { health: 'stopped', reason: 'stopped' };
  if (output.lagSeconds >= OUTPUT_LAG_S) return { health: 'stopped', reason: `lagging ${Math.round(output.lagSeconds)} s behind` };
  if (output.sync?.paused) return { health: 'quiet', reason: 'sync paused' };
  return { health: 'ok', reason: output.state };
}
