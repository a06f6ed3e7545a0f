/**
 * The running gateway's status as the API serves it (JSON and the server-sent event stream): per
 * input, the buffer, per output, the machine context and the alerts that follow from them.
 *
 * Constraints:
 * - Read from counters the gateway keeps anyway (pipeline and forwarder stats, the buffer's
 *   in-memory stats): a status costs no buffer scan, so 20 clients polling every second cost
 *   nothing measurable on ingest.
 * - A section a plugin keeps outside those counters (a cloud output's sync progress, read from its
 *   `sync-status` action, gateway/plugin-api/actions.ts) is read by the sampler at the status
 *   interval, one read at a time, never per request.
 * - Rates (records/s, bytes/s) are differences between two samples taken by one sampler at the
 *   status interval, not per request, so every client sees the same figures.
 * - Only numbers, states and names: never a record body or a secret. 64-bit values are JSON
 *   numbers (counts stay far below 2^53).
 */
import { z } from 'zod';
import { type SyncSection, syncSectionSchema } from '../plugin-api/actions.js';

/** What the status is read from: the running gateway (gateway/runtime/gateway.ts) or a stand-in that is one. */
export interface StatusSource {
  machine: string;
  startedAtMs: number;
  machineContext(): { build?: string | undefined; layer?: number | undefined; state?: string | undefined; material?: string | undefined };
  inputs(): Record<
    string,
    {
      records: number;
      bytes: number;
      emits: number;
      quarantined: number;
      quarantinedByReason: Record<string, number>;
      failedEmits: number;
      blockedEmits: number;
    }
  >;
  buffer(): {
    records: number;
    bytes: number;
    maxBytes: number;
    recordBytesLimit: number;
    fill: number;
    oldestReceiveTimeNs: bigint | null;
    evictions: { records: number }[];
  };
  outputs(): {
    sink: string;
    state: string;
    lagRecords: number;
    lagSeconds: number;
    sentRecords: number;
    sentBytes: number;
    retries: number;
    failures: number;
    errorsByKind: Record<string, number>;
    quarantinedRecords: number;
    offPremisesRefused: number;
    lastError: { message: string; atMs: number } | null;
    configFailure: { reason: string; message: string; action: string; sinceMs: number } | null;
  }[];
  ready(): boolean;
  /** the sinks of removed outputs that still hold undelivered records (until an admin drops them); absent: none */
  removedSinks?(): { name: string; lagRecords: number }[];
  /**
   * Sections of outputs read from their plugins' actions (./plugin-actions.ts), by output name: read
   * at the status interval, one read at a time; absent: outputs have no sections.
   */
  outputSections?(): Promise<ReadonlyMap<string, { sync?: SyncSection | null }>>;
}

const inputStatus = z.object({
  name: z.string(),
  records: z.number(),
  bytes: z.number(),
  recordsPerSecond: z.number(),
  bytesPerSecond: z.number(),
  quarantined: z.number(),
  /** quarantined items by reason (out-of-range, malformed, unclassifiable, ...) */
  quarantinedByReason: z.record(z.string(), z.number()),
  failedEmits: z.number(),
  blockedEmits: z.number(),
});

const outputStatus = z.object({
  name: z.string(),
  state: z.string(),
  lagRecords: z.number(),
  lagSeconds: z.number(),
  deliveredRecords: z.number(),
  recordsPerSecond: z.number(),
  retries: z.number(),
  failures: z.number(),
  errorsByKind: z.record(z.string(), z.number()),
  quarantinedRecords: z.number(),
  offPremisesRefused: z.number(),
  lastError: z.object({ message: z.string(), at: z.string() }).nullable(),
  configFailure: z.object({ reason: z.string(), message: z.string(), action: z.string(), since: z.string() }).nullable(),
  /**
   * An output that syncs off the premises (cloud): paused, bandwidth used against the cap, queue,
   * ETA, as its `sync-status` action read them at the last status interval; null when that read
   * failed (no sync store yet). Absent for other outputs, and before the first read.
   */
  sync: syncSectionSchema.nullable().optional(),
});

const alert = z.object({
  severity: z.enum(['warning', 'critical']),
  /** stable, for acknowledging and for tests: `<kind>:<subject>` */
  id: z.string(),
  message: z.string(),
  /** an operator saw it (`POST /api/v1/alerts/<id>/ack`); it stays listed while its cause lasts */
  acknowledged: z.object({ by: z.string(), at: z.string() }).nullable(),
});

export const statusSchema = z.object({
  machine: z.string(),
  startedAt: z.string(),
  uptimeSeconds: z.number(),
  ready: z.boolean(),
  machineContext: z.object({ build: z.string().nullable(), layer: z.number().nullable(), state: z.string().nullable(), material: z.string().nullable() }),
  inputs: z.array(inputStatus),
  buffer: z.object({
    records: z.number(),
    bytes: z.number(),
    recordBytesLimit: z.number(),
    maxBytes: z.number(),
    fill: z.number(),
    oldestRecordAgeSeconds: z.number().nullable(),
    evictedRecords: z.number(),
    /** sinks of removed outputs still holding undelivered records for them (DELETE /api/v1/buffer/sinks/<name> gives them up) */
    removedSinks: z.array(z.object({ name: z.string(), lagRecords: z.number() })),
  }),
  outputs: z.array(outputStatus),
  alerts: z.array(alert),
});

export type GatewayStatus = z.infer<typeof statusSchema>;

interface Sample {
  atMs: number;
  inputs: Map<string, { records: number; bytes: number }>;
  outputs: Map<string, number>;
}

/** Buffer fill at which an alert is raised (the buffer then evicts or blocks soon). */
const FILL_WARNING = 0.8;

export class StatusSampler {
  private prev: Sample | undefined;
  private last: Sample | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** the outputs' sections as last read, and whether a read is under way */
  private sections: ReadonlyMap<string, { sync?: SyncSection | null }> = new Map();
  private readingSections = false;

  constructor(
    private readonly source: StatusSource,
    intervalMs: number,
    /** the acknowledgements of the active alerts (given their ids) */
    private readonly acks: (active: readonly string[]) => Map<string, { by: string; at: string }> = () => new Map(),
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private withAcks(alerts: Alert[]): GatewayStatus['alerts'] {
    const acks = this.acks(alerts.map((a) => a.id));
    return alerts.map((a) => ({ ...a, acknowledged: acks.get(a.id) ?? null }));
  }

  private sample(): void {
    const inputs = new Map(Object.entries(this.source.inputs()).map(([k, v]) => [k, { records: v.records, bytes: v.bytes }]));
    const outputs = new Map(this.source.outputs().map((o) => [o.sink, o.sentRecords]));
    this.prev = this.last;
    this.last = { atMs: Date.now(), inputs, outputs };
    const read = this.source.outputSections;
    if (read && !this.readingSections) {
      this.readingSections = true;
      read
        .call(this.source)
        .then(
          (m) => {
            this.sections = m;
          },
          () => undefined,
        )
        .finally(() => {
          this.readingSections = false;
        });
    }
  }

  status(now = Date.now()): GatewayStatus {
    const s = this.source;
    const dt = this.prev && this.last ? (this.last.atMs - this.prev.atMs) / 1000 : 0;
    const rate = (cur: number | undefined, before: number | undefined): number =>
      dt > 0 && cur !== undefined && before !== undefined ? Math.max(0, (cur - before) / dt) : 0;
    const m = s.machineContext();
    const inputs = Object.entries(s.inputs()).map(([name, c]) => ({
      name,
      records: c.records,
      bytes: c.bytes,
      recordsPerSecond: rate(this.last?.inputs.get(name)?.records, this.prev?.inputs.get(name)?.records),
      bytesPerSecond: rate(this.last?.inputs.get(name)?.bytes, this.prev?.inputs.get(name)?.bytes),
      quarantined: c.quarantined,
      quarantinedByReason: c.quarantinedByReason,
      failedEmits: c.failedEmits,
      blockedEmits: c.blockedEmits,
    }));
    const b = s.buffer();
    const outputs = s.outputs().map((o) => ({
      name: o.sink,
      state: o.state,
      lagRecords: o.lagRecords,
      lagSeconds: o.lagSeconds,
      deliveredRecords: o.sentRecords,
      recordsPerSecond: rate(this.last?.outputs.get(o.sink), this.prev?.outputs.get(o.sink)),
      retries: o.retries,
      failures: o.failures,
      errorsByKind: o.errorsByKind,
      quarantinedRecords: o.quarantinedRecords,
      offPremisesRefused: o.offPremisesRefused,
      lastError: o.lastError && { message: o.lastError.message, at: new Date(o.lastError.atMs).toISOString() },
      configFailure: o.configFailure && {
        reason: o.configFailure.reason,
        message: o.configFailure.message,
        action: o.configFailure.action,
        since: new Date(o.configFailure.sinceMs).toISOString(),
      },
      ...this.sections.get(o.sink),
    }));
    const evicted = b.evictions.reduce((n, e) => n + e.records, 0);
    const buffer = {
      records: b.records,
      bytes: b.bytes,
      recordBytesLimit: b.recordBytesLimit,
      maxBytes: b.maxBytes,
      fill: b.fill,
      oldestRecordAgeSeconds: b.oldestReceiveTimeNs === null ? null : Math.max(0, (now - Number(b.oldestReceiveTimeNs / 1_000_000n)) / 1000),
      evictedRecords: evicted,
      removedSinks: s.removedSinks?.() ?? [],
    };
    return {
      machine: s.machine,
      startedAt: new Date(s.startedAtMs).toISOString(),
      uptimeSeconds: Math.round((now - s.startedAtMs) / 1000),
      ready: s.ready(),
      machineContext: { build: m.build ?? null, layer: m.layer ?? null, state: m.state ?? null, material: m.material ?? null },
      inputs,
      buffer,
      outputs,
      alerts: this.withAcks(alertsOf(buffer, outputs)),
    };
  }
}

type Alert = Omit<GatewayStatus['alerts'][number], 'acknowledged'>;

function alertsOf(buffer: GatewayStatus['buffer'], outputs: GatewayStatus['outputs']): Alert[] {
  const alerts: Alert[] = [];
  if (buffer.fill >= FILL_WARNING) {
    alerts.push({
      severity: buffer.fill >= 1 ? 'critical' : 'warning',
      id: 'buffer-fill:buffer',
      message: `the buffer is ${(buffer.fill * 100).toFixed(0)} % full: records are evicted (or inputs wait) when it is full; find the output that lags`,
    });
  }
  if (buffer.evictedRecords > 0) {
    alerts.push({ severity: 'critical', id: 'evictions:buffer', message: `${buffer.evictedRecords} undelivered records were evicted; see the loss ledger` });
  }
  for (const r of buffer.removedSinks) {
    alerts.push({
      severity: 'warning',
      id: `removed-sink:${r.name}`,
      message: `output ${r.name} was removed, but the buffer keeps its ${r.lagRecords} undelivered records for it (they take room until then): add it back, or drop its sink to give them up`,
    });
  }
  for (const o of outputs) {
    if (o.configFailure)
      alerts.push({ severity: 'critical', id: `sink-config:${o.name}`, message: `output ${o.name}: ${o.configFailure.message} (${o.configFailure.action})` });
    else if (o.state === 'backing-off')
      alerts.push({
        severity: 'warning',
        id: `sink-failing:${o.name}`,
        message: `output ${o.name} is failing and retrying: ${o.lastError?.message ?? 'unknown error'}`,
      });
  }
  return alerts;
}
