/**
 * The quarantines (GET /api/v1/quarantine): what inputs could not parse and what sinks refused for
 * good, counted per input or output and reason, and the items newest first, narrowed to one reason
 * on request. An admin downloads an item's kept bytes (GET .../<kind>/<name>/<item>/raw, audited);
 * other roles are not offered the link (the API answers them 403). Items above the caller's class
 * are not listed: the page says how many.
 */
import { useState } from 'preact/hooks';
import type { QuarantineAnswer, QuarantineItem } from '../api/types.js';
import { roleAllows, useSession } from '../app/session.js';
import { Card } from '../components/Card.js';
import { FormMessage } from '../components/FormMessage.js';
import { useApiGet } from '../components/ops/ops-api.js';
import { dateTime } from '../components/ops/when.js';
import { TableScroll } from '../components/TableScroll.js';
import * as fmt from '../lib/format.js';

const LIMIT = 200;

function rawUrl(it: QuarantineItem): string {
  return `/api/v1/quarantine/${it.kind}/${encodeURIComponent(it.name)}/${encodeURIComponent(it.item)}/raw`;
}

const side = (kind: 'inputs' | 'outputs'): string => (kind === 'inputs' ? 'input' : 'output');

function RawCell({ it, admin }: { it: QuarantineItem; admin: boolean }) {
  if (!it.hasData) return <span class="muted">no bytes kept</span>;
  if (!admin) return <span class="muted">admins only</span>;
  if (it.kind === 'outputs' && it.sealed) return <span class="muted">sealed: read on the gateway host</span>;
  return (
    <a class="button button-small" href={rawUrl(it)} download aria-label={`Download raw bytes of ${side(it.kind)} ${it.name} item ${it.item}`}>
      Download
    </a>
  );
}

export function QuarantinePage() {
  const session = useSession();
  const admin = roleAllows(session.role, 'admin');
  const [reason, setReason] = useState('');
  const q = useApiGet<QuarantineAnswer>(`/api/v1/quarantine?limit=${LIMIT}${reason ? `&reason=${encodeURIComponent(reason)}` : ''}`);
  const data = q.data;
  const reasons = [...new Set((data?.counts ?? []).map((c) => c.reason))].sort();

  return (
    <>
      <h1>Quarantine</h1>
      <p class="muted">
        What inputs could not parse and what outputs refused for good, kept with the reason and error.
        {admin ? ' As an admin you can download the kept bytes; each download is written to the audit log.' : ' Only admins can download the kept bytes.'}
      </p>
      {q.error && <FormMessage kind="error">Could not read the quarantine: {q.error}</FormMessage>}
      {!data && !q.error && <p role="status">Loading…</p>}
      {data && (
        <div class="grid">
          <Card
            id="quarantine-counts"
            title="By reason"
            actions={
              <button type="button" class="button" onClick={q.reload} disabled={q.loading}>
                Refresh
              </button>
            }
          >
            {data.counts.length === 0 ? (
              <p class="muted">Nothing is quarantined.</p>
            ) : (
              <TableScroll label="Quarantine counts by reason">
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Where</th>
                      <th scope="col">Reason</th>
                      <th scope="col" class="num">
                        Items
                      </th>
                      <th scope="col" class="num">
                        Size
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {data.counts.map((c) => (
                      <tr key={`${c.kind}-${c.name}-${c.reason}`} data-count={`${c.kind}/${c.name}/${c.reason}`}>
                        <th scope="row">
                          {side(c.kind)} {c.name}
                        </th>
                        <td>{c.reason}</td>
                        <td class="num">{fmt.count(c.items)}</td>
                        <td class="num">{fmt.bytes(c.bytes)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </TableScroll>
            )}
            {data.hidden > 0 && <p class="muted">{fmt.count(data.hidden)} confidential items are above your access and not listed.</p>}
          </Card>
          <Card id="quarantine-items" title={`Items (${fmt.count(data.total)})`} wide>
            <div class="filter-row">
              <label for="quarantine-reason">Reason</label>
              <select id="quarantine-reason" value={reason} onChange={(e) => setReason(e.currentTarget.value)}>
                <option value="">All reasons</option>
                {reasons.map((r) => (
                  <option key={r} value={r}>
                    {r}
                  </option>
                ))}
                {reason && !reasons.includes(reason) && <option value={reason}>{reason}</option>}
              </select>
            </div>
            {data.items.length === 0 ? (
              <p class="muted">No items{reason ? ` with reason ${reason}` : ''}.</p>
            ) : (
              <TableScroll label="Quarantined items">
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Time</th>
                      <th scope="col">Where</th>
                      <th scope="col">Reason</th>
                      <th scope="col">Error</th>
                      <th scope="col" class="num">
                        Size
                      </th>
                      <th scope="col">Raw bytes</th>
                    </tr>
                  </thead>
                  <tbody>
                    {data.items.map((it) => (
                      <tr key={`${it.kind}-${it.name}-${it.item}`} data-item={it.item} data-reason={it.reason}>
                        <td>{dateTime(it.at)}</td>
                        <th scope="row">
                          {side(it.kind)} {it.name}
                          {it.where && <span class="cell-detail">{it.where}</span>}
                        </th>
                        <td>{it.reason}</td>
                        <td class="cell-wrap">{it.error.message || '—'}</td>
                        <td class="num">
                          {it.size === null ? '—' : fmt.bytes(it.size)}
                          {it.records !== null && <span class="cell-detail">{fmt.count(it.records)} records</span>}
                        </td>
                        <td>
                          <RawCell it={it} admin={admin} />
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </TableScroll>
            )}
            {data.total > data.items.length && (
              <p class="muted">
                The newest {fmt.count(data.items.length)} of {fmt.count(data.total)} are shown.
              </p>
            )}
          </Card>
        </div>
      )}
    </>
  );
}
