/**
 * Enforcement in depth at the sink: an off-premises sink never gets a sensitive or confidential
 * record, whatever routed it there (routing already leaves such sinks out; only a misconfiguration or
 * a routing bug gets them here).
 *
 * Design constraints:
 * - Refused records are never sent or retried: the batch's ack moves the cursor past them. They are
 *   counted, logged at error and reported once per batch (`onRefused`: the audit log).
 * - A batch without such records is returned as it is (no copy): this runs for every batch.
 */
import type { Logger } from 'pino';
import { OffPremisesRefusedError } from '../plugin-api/errors.js';
import { mayLeavePremises } from '../plugin-api/record.js';
import type { StoredRecord } from '../plugin-api/record.js';

/** A run of records an off-premises sink was handed and refused. */
export interface OffPremisesRefusal {
  sink: string;
  records: number;
  firstSeq: number;
  lastSeq: number;
  /** records per class */
  classes: Partial<Record<string, number>>;
  sources: string[];
}

/**
 * The records of `batch` an off-premises sink may receive (public, internal). The others are counted
 * in `counters.offPremisesRefused`, logged and reported (see the module header).
 */
export function refuseOffPremises(
  batch: StoredRecord[],
  sink: string,
  log: Logger,
  counters: { offPremisesRefused: number },
  onRefused: ((refusal: OffPremisesRefusal) => void) | undefined,
): StoredRecord[] {
  let refused: StoredRecord[] | undefined;
  for (const r of batch) if (!mayLeavePremises(r.class)) (refused ??= []).push(r);
  if (refused === undefined) return batch;
  const classes: Partial<Record<string, number>> = {};
  for (const r of refused) classes[r.class] = (classes[r.class] ?? 0) + 1;
  const refusal: OffPremisesRefusal = {
    sink,
    records: refused.length,
    firstSeq: refused[0]!.seq,
    lastSeq: refused[refused.length - 1]!.seq,
    classes,
    sources: [...new Set(refused.map((r) => r.source))],
  };
  counters.offPremisesRefused += refused.length;
  log.error(
    {
      err: new OffPremisesRefusedError(
        `sink ${sink} is off premises: refused ${refused.length} sensitive/confidential records (seq ${refusal.firstSeq}..${refusal.lastSeq})`,
      ),
      ...refusal,
      offPremisesRefused: counters.offPremisesRefused,
    },
    'off-premises sink was handed sensitive or confidential records: refused, not sent',
  );
  try {
    onRefused?.(refusal);
  } catch (err) {
    log.error({ err }, 'could not report the refused records (audit)');
  }
  return batch.filter((r) => mayLeavePremises(r.class));
}
