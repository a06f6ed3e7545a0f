/**
 * The status as a `layergate.v1.Status` message: the same content as GET /api/v1/status (../status.ts),
 * field for field; absent values (no build yet, no last error) stay unset, never zero or "".
 */
import type { Status } from '../../../wire/generated/grpc/layergate/v1/Status.js';
import type { GatewayStatus } from '../status.js';

const opt = <T>(v: T | null | undefined): T | undefined => (v === null ? undefined : v);

export function statusMessage(s: GatewayStatus): Status {
  return {
    machine: s.machine,
    startedAt: s.startedAt,
    uptimeSeconds: s.uptimeSeconds,
    ready: s.ready,
    machineContext: {
      build: opt(s.machineContext.build),
      layer: opt(s.machineContext.layer),
      state: opt(s.machineContext.state),
      material: opt(s.machineContext.material),
    },
    inputs: s.inputs.map((i) => ({
      name: i.name,
      records: i.records,
      bytes: i.bytes,
      recordsPerSecond: i.recordsPerSecond,
      bytesPerSecond: i.bytesPerSecond,
      quarantined: i.quarantined,
      quarantinedByReason: i.quarantinedByReason,
      failedEmits: i.failedEmits,
      blockedEmits: i.blockedEmits,
    })),
    buffer: {
      records: s.buffer.records,
      bytes: s.buffer.bytes,
      recordBytesLimit: s.buffer.recordBytesLimit,
      maxBytes: s.buffer.maxBytes,
      fill: s.buffer.fill,
      oldestRecordAgeSeconds: opt(s.buffer.oldestRecordAgeSeconds),
      evictedRecords: s.buffer.evictedRecords,
      removedSinks: s.buffer.removedSinks.map((r) => ({ name: r.name, lagRecords: r.lagRecords })),
    },
    outputs: s.outputs.map((o) => ({
      name: o.name,
      state: o.state,
      lagRecords: o.lagRecords,
      lagSeconds: o.lagSeconds,
      deliveredRecords: o.deliveredRecords,
      recordsPerSecond: o.recordsPerSecond,
      retries: o.retries,
      failures: o.failures,
      errorsByKind: o.errorsByKind,
      quarantinedRecords: o.quarantinedRecords,
      offPremisesRefused: o.offPremisesRefused,
      lastError: o.lastError ? { message: o.lastError.message, at: o.lastError.at } : null,
      configFailure: o.configFailure
        ? { reason: o.configFailure.reason, message: o.configFailure.message, action: o.configFailure.action, since: o.configFailure.since }
        : null,
      sync: o.sync
        ? {
            paused: o.sync.paused,
            usedBitsPerSecond: opt(o.sync.bandwidth.usedBitsPerSecond),
            capBitsPerSecond: opt(o.sync.bandwidth.capBitsPerSecond),
            queueObjects: o.sync.queue.objects,
            queueBytes: o.sync.queue.bytes,
            queueBytesLeft: o.sync.queue.bytesLeft,
            syncedObjects: o.sync.synced.objects,
            syncedBytes: o.sync.synced.bytes,
            etaSeconds: opt(o.sync.etaSeconds),
            lastError: opt(o.sync.lastError),
          }
        : null,
    })),
    alerts: s.alerts.map((a) => ({
      severity: a.severity,
      id: a.id,
      message: a.message,
      acknowledgedBy: a.acknowledged?.by,
      acknowledgedAt: a.acknowledged?.at,
    })),
  };
}
