/**
 * Store calls committed together: the drafts of the Store calls that arrive within one turn of the
 * event loop go to the buffer in one emit (one transaction), as an input commits a batch of messages,
 * instead of one transaction per call. Each call still gets its own answer: its record's seq, class
 * and routes, or its own refusal.
 *
 * Constraints:
 * - A batch is at most `MAX_DRAFTS` drafts and `MAX_BYTES` of bodies (a large payload goes alone);
 *   what does not fit waits for the next turn.
 * - The emit keeps the drafts' order, committed or quarantined, so the committed records (reported by
 *   `onCommitted`, possibly in several commits when the buffer refused one record) are matched to
 *   the calls that were not quarantined, in order.
 * - A failure of the whole emit (the buffer full under `block`, the gateway stopping) fails every call
 *   of the batch with it; nothing of the batch was stored.
 */
import type { InputContext, QuarantinedDraft, RecordDraft } from '../../plugin-api/contract.js';
import type { RecordInput } from '../../plugin-api/record.js';

const MAX_DRAFTS = 512;
const MAX_BYTES = 16 * 1024 * 1024;

export type Stored = { ok: true; record: RecordInput; seq: number } | { ok: false; quarantined: QuarantinedDraft };

interface Pending {
  draft: RecordDraft;
  resolve(s: Stored): void;
  reject(err: unknown): void;
}

export class StoreQueue {
  private queue: Pending[] = [];
  private scheduled = false;

  constructor(private readonly input: InputContext) {}

  /** Commit `draft` with the others of this turn; resolves with what became of it. */
  store(draft: RecordDraft): Promise<Stored> {
    return new Promise((resolve, reject) => {
      this.queue.push({ draft, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    let bytes = 0;
    let n = 0;
    while (n < this.queue.length && n < MAX_DRAFTS) {
      const size = this.queue[n]!.draft.body.length;
      if (n > 0 && bytes + size > MAX_BYTES) break;
      bytes += size;
      n++;
    }
    const batch = this.queue.splice(0, n);
    if (this.queue.length > 0) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
    if (batch.length > 0) void this.commit(batch);
  }

  private async commit(batch: Pending[]): Promise<void> {
    const committed: { record: RecordInput; seq: number }[] = [];
    try {
      const result = await this.input.emit(
        batch.map((p) => p.draft),
        {
          waitForRoom: false,
          onCommitted: (records, firstSeq) => {
            for (let i = 0; i < records.length; i++) committed.push({ record: records[i]!, seq: firstSeq + i });
          },
        },
      );
      const quarantined = new Map(result.quarantined.map((q) => [q.index, q]));
      let next = 0;
      batch.forEach((p, i) => {
        const q = quarantined.get(i);
        if (q !== undefined) p.resolve({ ok: false, quarantined: q });
        else {
          const c = committed[next++];
          if (c === undefined) p.reject(new Error('store queue: a committed record is missing from the commit report'));
          else p.resolve({ ok: true, ...c });
        }
      });
    } catch (err) {
      for (const p of batch) p.reject(err);
    }
  }
}
