/**
 * Gaps in the OPC-UA data, recorded as `opcua.gap` event records: OPC-UA cannot redeliver, so the gap
 * itself is the record.
 *
 * Design constraints:
 * - Every interval without data between two subscriptions is a gap (opened when a subscribed session
 *   ends, closed when the next subscription is active): counted, logged at warn and recorded.
 * - Lost notification messages inside a subscription (sequence-number jumps) are counted the same way.
 */
import type { NotificationMessage } from 'node-opcua';
import type { Logger } from 'pino';
import { CONTENT_TYPES } from '../../../gateway/plugin-api/index.js';
import type { RecordDraft } from '../../../gateway/plugin-api/index.js';

export interface GapCounters {
  /** intervals without data between subscriptions, plus sequence-number jumps inside one */
  gaps: number;
  gapMs: number;
  lostNotificationMessages: number;
}

export class GapTracker {
  private openGap: { fromMs: number; reason: string } | undefined;
  private lastSeq = 0;

  constructor(
    private readonly s: GapCounters,
    /** where gap records go (the group commit) */
    private readonly push: (d: RecordDraft) => void,
    private readonly log: () => Logger,
  ) {}

  /** A new subscription: its sequence numbers start over. */
  resetSequence(): void {
    this.lastSeq = 0;
  }

  /** Count the notification messages a sequence-number jump skipped (keep-alives carry no data). */
  onNotificationMessage(m: NotificationMessage): void {
    if (!m.notificationData || m.notificationData.length === 0) return; // keep-alive
    const seq = m.sequenceNumber;
    if (this.lastSeq > 0 && seq > this.lastSeq + 1) {
      const lost = seq - this.lastSeq - 1;
      this.s.lostNotificationMessages += lost;
      this.s.gaps++;
      this.log().warn({ lost, after: this.lastSeq, seq }, 'opcua: notification messages lost inside the subscription');
      this.push(gapEvent('lost-notifications', Date.now(), Date.now(), { lost }));
    }
    if (seq > this.lastSeq) this.lastSeq = seq;
  }

  /** The data stopped at `fromMs` (a subscribed session ended); the first reason given is kept. */
  open(fromMs: number, reason: string): void {
    this.openGap ??= { fromMs, reason };
  }

  /** Data flows again: record the open gap, if any. */
  close(): void {
    const g = this.openGap;
    if (!g) return;
    this.openGap = undefined;
    const to = Date.now();
    this.s.gaps++;
    this.s.gapMs += to - g.fromMs;
    this.log().warn(
      { from: new Date(g.fromMs).toISOString(), to: new Date(to).toISOString(), ms: to - g.fromMs, reason: g.reason },
      'opcua: gap in the data (no subscription)',
    );
    this.push(gapEvent(g.reason, g.fromMs, to));
  }
}

function gapEvent(reason: string, fromMs: number, toMs: number, extra: Record<string, unknown> = {}): RecordDraft {
  return {
    signal: 'opcua.gap',
    kind: 'event',
    contentType: CONTENT_TYPES.event,
    body: Buffer.from(
      JSON.stringify({ type: 'gap', reason, from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString(), ms: toMs - fromMs, ...extra }),
    ),
    sourceTimeNs: BigInt(fromMs) * 1_000_000n,
  };
}
