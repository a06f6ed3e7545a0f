/**
 * The audit log (GET /api/v1/audit): the hash chain's check first and prominently (intact, or the
 * first altered line and seq), then the entries newest first, a page at a time (`before` = the
 * answer's `nextBefore`; the pages already seen are kept to go back).
 */
import { useState } from 'preact/hooks';
import type { AuditAnswer, AuditEntry } from '../api/types.js';
import { Card } from '../components/Card.js';
import { FormMessage } from '../components/FormMessage.js';
import { useApiGet } from '../components/ops/ops-api.js';
import { dateTime } from '../components/ops/when.js';
import { TableScroll } from '../components/TableScroll.js';
import * as fmt from '../lib/format.js';

const PAGE = 50;

/** who did it, as the entries name them */
function actorOf(e: AuditEntry): string {
  for (const k of ['by', 'user'] as const) {
    const v = e.data[k];
    if (typeof v === 'string') return v;
  }
  return '—';
}

function details(e: AuditEntry): string {
  return Object.entries(e.data)
    .filter(([k]) => k !== 'by')
    .map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' · ');
}

function ChainBanner({ chain }: { chain: AuditAnswer['chain'] }) {
  if (chain.ok) {
    return (
      <div class="chain chain-ok" role="status" data-chain="ok">
        <strong class="chain-word">Chain intact</strong>
        <span>
          All {fmt.count(chain.entries)} entries check against their hashes; no entry was altered, removed or reordered.
          {chain.head && <span class="cell-detail mono">head {chain.head.slice(0, 16)}…</span>}
        </span>
      </div>
    );
  }
  const b = chain.broken;
  return (
    <div class="chain chain-broken" role="alert" data-chain="broken">
      <strong class="chain-word">Chain broken</strong>
      <span>
        The log was altered: {b ? `line ${b.line}${b.seq !== null ? ` (seq ${b.seq})` : ''}: ${b.problem}` : 'the check failed'}. The {fmt.count(chain.entries)}{' '}
        entries before it are intact; keep the file for investigation.
      </span>
    </div>
  );
}

export function AuditPage() {
  /** the `before` of each page shown so far; the last is the current page (undefined: the newest) */
  const [pages, setPages] = useState<(number | undefined)[]>([undefined]);
  const before = pages.at(-1);
  const audit = useApiGet<AuditAnswer>(`/api/v1/audit?limit=${PAGE}${before !== undefined ? `&before=${before}` : ''}`);
  const data = audit.data;
  return (
    <>
      <h1>Audit log</h1>
      {audit.error && <FormMessage kind="error">Could not read the audit log: {audit.error}</FormMessage>}
      {!data && !audit.error && <p role="status">Loading…</p>}
      {data && (
        <>
          <ChainBanner chain={data.chain} />
          <Card
            id="audit-entries"
            title={before === undefined ? 'Newest entries' : `Entries before seq ${before}`}
            wide
            actions={
              <button type="button" class="button" onClick={audit.reload} disabled={audit.loading}>
                Refresh
              </button>
            }
          >
            {data.entries.length === 0 ? (
              <p class="muted">The audit log is empty.</p>
            ) : (
              <TableScroll label="Audit log entries">
                <table>
                  <thead>
                    <tr>
                      <th scope="col" class="num">
                        Seq
                      </th>
                      <th scope="col">Time</th>
                      <th scope="col">Event</th>
                      <th scope="col">By</th>
                      <th scope="col">Details</th>
                    </tr>
                  </thead>
                  <tbody>
                    {data.entries.map((e) => (
                      <tr key={e.seq} data-audit={e.type}>
                        <td class="num">{e.seq}</td>
                        <td>{dateTime(e.at)}</td>
                        <th scope="row">{e.type}</th>
                        <td>{actorOf(e)}</td>
                        <td class="cell-wrap">{details(e)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </TableScroll>
            )}
            {(pages.length > 1 || data.nextBefore !== null) && (
              <nav class="pager" aria-label="Audit log pages">
                <button type="button" class="button" disabled={pages.length === 1} onClick={() => setPages([undefined])}>
                  Newest
                </button>
                <button type="button" class="button" disabled={pages.length === 1} onClick={() => setPages((p) => p.slice(0, -1))}>
                  Newer
                </button>
                <button type="button" class="button" disabled={data.nextBefore === null} onClick={() => setPages((p) => [...p, data.nextBefore ?? undefined])}>
                  Older
                </button>
              </nav>
            )}
          </Card>
        </>
      )}
    </>
  );
}
