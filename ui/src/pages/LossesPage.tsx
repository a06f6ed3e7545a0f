/**
 * The loss ledger (GET /api/v1/losses): every undelivered record the buffer gave up, newest first,
 * with why (evicted when full, disk full, a damaged file, a dropped sink). Above it, the buffer's
 * sinks (GET /api/v1/buffer/sinks): a removed output's sink keeps its undelivered records until it
 * comes back or an admin drops it (DELETE /api/v1/buffer/sinks/<name>), after a confirmation that
 * says what is given up: those records go to the ledger as `sink-dropped`.
 */
import { useState } from 'preact/hooks';
import type { BufferSink, LossEntry, SinkDropped } from '../api/types.js';
import { roleAllows, useSession } from '../app/session.js';
import { Card } from '../components/Card.js';
import { FormMessage } from '../components/FormMessage.js';
import { ConfirmDialog } from '../components/ops/ConfirmDialog.js';
import { apiDelete, messageOf, useApiGet } from '../components/ops/ops-api.js';
import { dateTime } from '../components/ops/when.js';
import { StateBadge } from '../components/StateBadge.js';
import { TableScroll } from '../components/TableScroll.js';
import * as fmt from '../lib/format.js';

const LIMIT = 200;

function SinksCard({ admin, onDropped }: { admin: boolean; onDropped(d: SinkDropped): void }) {
  const sinks = useApiGet<BufferSink[]>('/api/v1/buffer/sinks');
  const [asked, setAsked] = useState<BufferSink | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);

  const drop = async (s: BufferSink): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      const d = await apiDelete<SinkDropped>(`/api/v1/buffer/sinks/${encodeURIComponent(s.name)}`);
      setDone(`Sink ${d.sink} dropped: ${fmt.count(d.records)} records (${fmt.bytes(d.bytes)}) written to the loss ledger.`);
      onDropped(d);
      sinks.reload();
    } catch (err) {
      setError(`Could not drop sink ${s.name}: ${messageOf(err)}`);
    } finally {
      setBusy(false);
      setAsked(null);
    }
  };

  const holding = (sinks.data ?? []).filter((s) => !s.listed && s.held);
  return (
    <Card
      id="sinks"
      title="Buffer sinks"
      wide
      actions={
        <button type="button" class="button" onClick={sinks.reload} disabled={sinks.loading}>
          Refresh
        </button>
      }
    >
      <p class="muted">
        Each output reads the buffer through its sink. A removed output's sink keeps its undelivered records (they take room in the buffer) until the output
        comes back, or an admin drops it.
      </p>
      {sinks.error && <FormMessage kind="error">Could not read the sinks: {sinks.error}</FormMessage>}
      {error && <FormMessage kind="error">{error}</FormMessage>}
      {done && <FormMessage kind="success">{done}</FormMessage>}
      {sinks.data && (
        <TableScroll label="Buffer sinks table">
          <table>
            <thead>
              <tr>
                <th scope="col">Sink</th>
                <th scope="col">State</th>
                <th scope="col" class="num">
                  Cursor
                </th>
                <th scope="col" class="num">
                  Undelivered
                </th>
                <th scope="col">Action</th>
              </tr>
            </thead>
            <tbody>
              {sinks.data.map((s) => (
                <tr key={s.name} data-sink={s.name}>
                  <th scope="row">{s.name}</th>
                  <td>
                    {s.listed ? (
                      <StateBadge health="ok" label="Output" />
                    ) : s.held ? (
                      <StateBadge health="warning" label="Removed output, holding records" />
                    ) : (
                      <StateBadge health="quiet" label="Removed output, dropped" />
                    )}
                  </td>
                  <td class="num">{fmt.count(s.cursor)}</td>
                  <td class="num">
                    {fmt.count(s.lagRecords)} rec · {fmt.bytes(s.lagBytes)}
                  </td>
                  <td>
                    {!s.listed && s.held && admin ? (
                      <button type="button" class="button button-danger" onClick={() => setAsked(s)} aria-label={`Drop sink ${s.name}`}>
                        Drop…
                      </button>
                    ) : !s.listed && s.held ? (
                      <span class="muted">admins can drop it</span>
                    ) : (
                      <span class="muted">—</span>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableScroll>
      )}
      {sinks.data && holding.length === 0 && <p class="muted">No removed output holds records.</p>}
      {asked && (
        <ConfirmDialog
          id="drop-sink"
          title={`Drop sink ${asked.name}?`}
          confirmLabel={`Drop sink ${asked.name}`}
          busy={busy}
          onCancel={() => setAsked(null)}
          onConfirm={() => void drop(asked)}
        >
          <p>
            Output <strong>{asked.name}</strong> is no longer configured. Dropping its sink gives up the <strong>{fmt.count(asked.lagRecords)} records</strong>{' '}
            ({fmt.bytes(asked.lagBytes)}) it has not received: they are never delivered to it, and are written to the loss ledger as <code>sink-dropped</code>.
          </p>
          <p>This cannot be undone.</p>
        </ConfirmDialog>
      )}
    </Card>
  );
}

export function LossesPage() {
  const session = useSession();
  const losses = useApiGet<LossEntry[]>(`/api/v1/losses?limit=${LIMIT}`);
  const total = (losses.data ?? []).reduce((n, l) => n + l.records, 0);
  return (
    <>
      <h1>Losses</h1>
      <div class="grid">
        <SinksCard admin={roleAllows(session.role, 'admin')} onDropped={() => losses.reload()} />
        <Card
          id="ledger"
          title="Loss ledger"
          wide
          actions={
            <button type="button" class="button" onClick={losses.reload} disabled={losses.loading}>
              Refresh
            </button>
          }
        >
          <p class="muted">Every undelivered record the buffer gave up, newest first, with its seq range and the sinks that had not received it.</p>
          {losses.error && <FormMessage kind="error">Could not read the loss ledger: {losses.error}</FormMessage>}
          {!losses.data && !losses.error && <p role="status">Loading…</p>}
          {losses.data && losses.data.length === 0 && (
            <p class="message message-success" role="status">
              No losses: every record the buffer stored is delivered or still waiting.
            </p>
          )}
          {losses.data && losses.data.length > 0 && (
            <>
              <p>
                {fmt.count(losses.data.length)} entries{losses.data.length >= LIMIT ? ` (the newest ${LIMIT})` : ''}, {fmt.count(total)} records.
              </p>
              <TableScroll label="Loss ledger table">
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Time</th>
                      <th scope="col">Reason</th>
                      <th scope="col">Source / signal</th>
                      <th scope="col">Class</th>
                      <th scope="col" class="num">
                        Records
                      </th>
                      <th scope="col" class="num">
                        Seqs
                      </th>
                      <th scope="col">Sinks</th>
                    </tr>
                  </thead>
                  <tbody>
                    {losses.data.map((l) => (
                      <tr key={l.id} data-loss={l.reason}>
                        <td>{dateTime(l.at)}</td>
                        <th scope="row">{l.reason}</th>
                        <td class="cell-wrap">
                          {l.source}
                          <span class="cell-detail">{l.signal}</span>
                        </td>
                        <td>{l.class}</td>
                        <td class="num">
                          {fmt.count(l.records)}
                          <span class="cell-detail">{fmt.bytes(l.bytes)}</span>
                        </td>
                        <td class="num">
                          {l.firstSeq}–{l.lastSeq}
                        </td>
                        <td>{l.sinks.join(', ') || '—'}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </TableScroll>
            </>
          )}
        </Card>
      </div>
    </>
  );
}
