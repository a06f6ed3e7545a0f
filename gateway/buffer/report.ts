/**
 * The buffer's figures as JSON: what `layergate buffer stats --json` and `buffer losses --json` print
 * and what the API's `GET /api/v1/buffer` and `GET /api/v1/losses` answer (gateway/api/routes/buffer.ts),
 * one shape for both. 64-bit nanosecond times are decimal strings (JSON numbers would round them),
 * with an ISO time beside them.
 *
 * And back: the CLI turns the API's answer into the buffer's own types again (`statsFromJson`,
 * `lossFromJson`), so that it prints a running gateway's figures with the same code, in the same
 * key order, as the figures of a buffer it opened itself.
 */
import type { BufferStats, LossEntry } from './types.js';

export function nsToIso(ns: bigint | null): string | null {
  return ns === null ? null : new Date(Number(ns / 1_000_000n)).toISOString();
}

export function statsJson(s: BufferStats) {
  return {
    ...s,
    oldestReceiveTimeNs: s.oldestReceiveTimeNs?.toString() ?? null,
    newestReceiveTimeNs: s.newestReceiveTimeNs?.toString() ?? null,
    oldestReceiveTime: nsToIso(s.oldestReceiveTimeNs),
    newestReceiveTime: nsToIso(s.newestReceiveTimeNs),
  };
}

export type BufferStatsJson = ReturnType<typeof statsJson>;

export function lossJson(e: LossEntry) {
  return { ...e, atNs: e.atNs.toString(), at: nsToIso(e.atNs) };
}

export type LossEntryJson = ReturnType<typeof lossJson>;

function ns(v: string | null): bigint | null {
  return v === null ? null : BigInt(v);
}

/** The stats again, with their keys in the order the buffer makes them (../buffer/read.ts). */
export function statsFromJson(j: BufferStatsJson): BufferStats {
  return {
    path: j.path,
    records: j.records,
    bytes: j.bytes,
    maxBytes: j.maxBytes,
    recordBytesLimit: j.recordBytesLimit,
    fill: j.fill,
    oldestSeq: j.oldestSeq,
    newestSeq: j.newestSeq,
    oldestReceiveTimeNs: ns(j.oldestReceiveTimeNs),
    newestReceiveTimeNs: ns(j.newestReceiveTimeNs),
    spoolBlobs: j.spoolBlobs,
    spoolBytes: j.spoolBytes,
    sinks: j.sinks.map((k) => ({ sink: k.sink, cursor: k.cursor, lagRecords: k.lagRecords, lagBytes: k.lagBytes })),
    evictions: j.evictions.map((e) => ({ source: e.source, class: e.class, records: e.records, bytes: e.bytes })),
    missingBlobs: j.missingBlobs,
  };
}

/** A loss ledger entry again, with its keys in the order the buffer makes them. */
export function lossFromJson(j: LossEntryJson): LossEntry {
  return {
    id: j.id,
    atNs: BigInt(j.atNs),
    source: j.source,
    signal: j.signal,
    class: j.class,
    firstSeq: j.firstSeq,
    lastSeq: j.lastSeq,
    records: j.records,
    bytes: j.bytes,
    reason: j.reason,
    sinks: [...j.sinks],
  };
}
