/**
 * Operator actions of the plugins the running configuration has (plugin action routes,
 * /api/v1/plugins/<type>/<instance>/actions/<action>):
 *
 * - OPC-UA inputs: the server certificates in the input's PKI folder (`pki-list`, viewer); a
 *   rejected one is trusted (`pki-trust`, operator; the input connects at its next attempt), a
 *   trusted one rejected again (`pki-reject`).
 * - Cloud outputs: upload progress from the live status (`outputs[].sync`) and pause/resume
 *   (`sync-pause`, `sync-resume`, operator).
 *
 * Which inputs are opcua: the status does not name an instance's plugin type (only the admin's
 * GET /api/v1/config does), so each input's `pki-list` is asked once; an input that is not an opcua
 * input answers 404 "no input ... of type opcua". Cloud outputs are those with a `sync` section.
 */
import { useEffect, useState } from 'preact/hooks';
import { ApiError, api } from '../api/client.js';
import type { OutputStatus, PkiCertificate } from '../api/types.js';
import type { LiveStatus } from '../app/live-status.js';
import { roleAllows, useSession } from '../app/session.js';
import { Card } from '../components/Card.js';
import { FormMessage } from '../components/FormMessage.js';
import { messageOf } from '../components/ops/ops-api.js';
import { dateTime } from '../components/ops/when.js';
import { StateBadge } from '../components/StateBadge.js';
import { TableScroll } from '../components/TableScroll.js';
import * as fmt from '../lib/format.js';

const actions = (type: string, instance: string): string => `/api/v1/plugins/${type}/${encodeURIComponent(instance)}/actions`;

type Pki = { kind: 'not-opcua' } | { kind: 'error'; message: string } | { kind: 'list'; certificates: PkiCertificate[] };

async function readPki(input: string): Promise<Pki> {
  try {
    return { kind: 'list', certificates: await api.get<PkiCertificate[]>(`${actions('opcua', input)}/pki-list`) };
  } catch (err) {
    if (err instanceof ApiError && err.status === 404 && /of type opcua/.test(err.message)) return { kind: 'not-opcua' };
    return { kind: 'error', message: messageOf(err) };
  }
}

const WHERE_WORDS: Record<PkiCertificate['where'], string> = { own: "Gateway's own", trusted: 'Trusted', rejected: 'Waiting for trust' };

function PkiCard({ input, pki, canChange, onChanged }: { input: string; pki: Pki; canChange: boolean; onChanged(): void }) {
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const move = async (c: PkiCertificate, to: 'trust' | 'reject'): Promise<void> => {
    setBusy(c.thumbprint);
    setError(null);
    try {
      await api.post<PkiCertificate>(`${actions('opcua', input)}/pki-${to}`, { thumbprint: c.thumbprint });
      setDone(to === 'trust' ? `${c.subject} is trusted: the input connects at its next attempt.` : `${c.subject} is rejected again.`);
      onChanged();
    } catch (err) {
      setError(`Could not ${to} ${c.subject}: ${messageOf(err)}`);
    } finally {
      setBusy(null);
    }
  };
  if (pki.kind === 'not-opcua') return null;
  const certs = pki.kind === 'list' ? [...pki.certificates].sort((a, b) => order(a) - order(b)) : [];
  const waiting = certs.filter((c) => c.where === 'rejected').length;
  return (
    <Card id={`pki-${input}`} title={`OPC-UA input ${input}: server certificates`} wide>
      {pki.kind === 'error' && <FormMessage kind="error">Could not read the PKI folder: {pki.message}</FormMessage>}
      {error && <FormMessage kind="error">{error}</FormMessage>}
      {done && <FormMessage kind="success">{done}</FormMessage>}
      {pki.kind === 'list' && (
        <>
          <p class={waiting > 0 ? undefined : 'muted'}>
            {waiting > 0
              ? `${waiting} server certificate${waiting === 1 ? '' : 's'} waiting for trust. Compare the thumbprint with the one the server shows before trusting it.`
              : 'No server certificate is waiting for trust.'}
          </p>
          <TableScroll label={`Certificates of input ${input}`}>
            <table>
              <thead>
                <tr>
                  <th scope="col">Subject</th>
                  <th scope="col">State</th>
                  <th scope="col">Thumbprint (SHA-1)</th>
                  <th scope="col">Valid to</th>
                  <th scope="col">Action</th>
                </tr>
              </thead>
              <tbody>
                {certs.map((c) => (
                  <tr key={`${c.where}-${c.thumbprint}`} data-certificate={c.thumbprint}>
                    <th scope="row" class="cell-wrap">
                      {c.subject}
                    </th>
                    <td>
                      <StateBadge health={c.where === 'rejected' ? 'warning' : c.where === 'trusted' ? 'ok' : 'quiet'} label={WHERE_WORDS[c.where]} />
                    </td>
                    <td class="mono cell-wrap">{c.thumbprint}</td>
                    <td>{dateTime(c.validTo)}</td>
                    <td>
                      {c.where === 'own' || !canChange ? (
                        <span class="muted">{c.where === 'own' ? '—' : 'operators decide'}</span>
                      ) : c.where === 'rejected' ? (
                        <button
                          type="button"
                          class="button button-small"
                          disabled={busy !== null}
                          onClick={() => void move(c, 'trust')}
                          aria-label={`Trust ${c.subject}`}
                        >
                          Trust
                        </button>
                      ) : (
                        <button
                          type="button"
                          class="button button-small button-danger"
                          disabled={busy !== null}
                          onClick={() => void move(c, 'reject')}
                          aria-label={`Reject ${c.subject}`}
                        >
                          Reject
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableScroll>
        </>
      )}
    </Card>
  );
}

function order(c: PkiCertificate): number {
  return c.where === 'rejected' ? 0 : c.where === 'trusted' ? 1 : 2;
}

function SyncCard({ output, canChange }: { output: OutputStatus; canChange: boolean }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  /** the answer of the last pause/resume, until the status shows it */
  const [asked, setAsked] = useState<boolean | null>(null);
  const s = output.sync ?? null;
  const paused = s ? (asked ?? s.paused) : null;
  useEffect(() => {
    if (s && asked !== null && s.paused === asked) setAsked(null);
  }, [s, asked]);
  const flip = async (pause: boolean): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      await api.post(`${actions('cloud', output.name)}/${pause ? 'sync-pause' : 'sync-resume'}`);
      setAsked(pause);
    } catch (err) {
      setError(`Could not ${pause ? 'pause' : 'resume'} sync of ${output.name}: ${messageOf(err)}`);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Card id={`sync-${output.name}`} title={`Cloud output ${output.name}: sync`}>
      {error && <FormMessage kind="error">{error}</FormMessage>}
      {!s ? (
        <p class="muted">Its sync status is not readable yet (the output has not made its store).</p>
      ) : (
        <>
          <p>
            <StateBadge health={paused ? 'quiet' : 'ok'} label={paused ? 'Paused' : 'Uploading'} /> {fmt.count(s.queue.objects)} objects queued (
            {fmt.bytes(s.queue.bytesLeft)} left), {fmt.bytes(s.synced.bytes)} synced
            {!paused && s.etaSeconds !== null && `, done in about ${fmt.duration(s.etaSeconds)}`}.
          </p>
          {s.lastError && <p class="text-bad">Last error: {s.lastError}</p>}
          {canChange ? (
            paused ? (
              <button type="button" class="button button-primary" disabled={busy} onClick={() => void flip(false)}>
                {busy ? 'Resuming…' : 'Resume sync'}
              </button>
            ) : (
              <button type="button" class="button" disabled={busy} onClick={() => void flip(true)}>
                {busy ? 'Pausing…' : 'Pause sync'}
              </button>
            )
          ) : (
            <p class="muted">Operators pause and resume the sync.</p>
          )}
          <p class="hint">Paused, records keep being queued locally; uploads continue from the last confirmed part.</p>
        </>
      )}
    </Card>
  );
}

export function OperationsPage({ live }: { live: LiveStatus }) {
  const session = useSession();
  const canChange = roleAllows(session.role, 'operator');
  const inputs = (live.status?.inputs ?? []).map((i) => i.name);
  const inputKey = inputs.join('\0');
  const [pki, setPki] = useState<Map<string, Pki> | null>(null);
  const [round, setRound] = useState(0);
  // asked again when the set of inputs changes (inputKey) or after a change here (round), not on every status
  useEffect(() => {
    if (!live.status) return;
    let current = true;
    void Promise.all(inputs.map(async (name) => [name, await readPki(name)] as const)).then((entries) => {
      if (current) setPki(new Map(entries));
    });
    return () => {
      current = false;
    };
  }, [inputKey, round, live.status === null]);

  const clouds = (live.status?.outputs ?? []).filter((o) => o.sync !== undefined);
  const opcua = pki ? [...pki.entries()].filter(([, p]) => p.kind !== 'not-opcua') : [];
  return (
    <>
      <h1>Operations</h1>
      <p class="muted">Actions of the inputs and outputs this gateway runs: OPC-UA server certificates waiting for trust, and cloud sync.</p>
      {!live.status || !pki ? (
        <p role="status">Reading the inputs and outputs…</p>
      ) : (
        <div class="grid">
          {opcua.length === 0 && clouds.length === 0 && <p class="muted">This configuration has no OPC-UA input and no cloud output: nothing to do here.</p>}
          {opcua.map(([name, p]) => (
            <PkiCard key={name} input={name} pki={p} canChange={canChange} onChanged={() => setRound((r) => r + 1)} />
          ))}
          {clouds.map((o) => (
            <SyncCard key={o.name} output={o} canChange={canChange} />
          ))}
        </div>
      )}
    </>
  );
}
