/**
 * The active alerts, most severe first. Operators and admins get an Acknowledge button (POST
 * /api/v1/alerts/<id>/ack); a viewer is not offered one (the API would refuse it: 403). An
 * acknowledged alert stays listed with who saw it, while its cause lasts.
 */
import { useState } from 'preact/hooks';
import { ApiError, api } from '../api/client.js';
import type { Alert } from '../api/types.js';
import { time } from '../lib/format.js';
import { FormMessage } from './FormMessage.js';
import { StateBadge } from './StateBadge.js';

export function AlertList({ alerts, canAcknowledge }: { alerts: Alert[]; canAcknowledge: boolean }) {
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  /** acknowledged here and not yet in a status event */
  const [acked, setAcked] = useState<Record<string, { by: string; at: string }>>({});

  if (alerts.length === 0) return <p class="muted">No active alerts.</p>;
  const sorted = [...alerts].sort((a, b) => (a.severity === b.severity ? 0 : a.severity === 'critical' ? -1 : 1));

  const acknowledge = async (id: string): Promise<void> => {
    setBusy(id);
    setError(null);
    try {
      const answer = await api.post<{ id: string; acknowledged: { by: string; at: string } }>(`/api/v1/alerts/${encodeURIComponent(id)}/ack`);
      setAcked((a) => ({ ...a, [id]: answer.acknowledged }));
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    } finally {
      setBusy(null);
    }
  };

  return (
    <>
      {error && <FormMessage kind="error">Could not acknowledge: {error}</FormMessage>}
      <ul class="alerts">
        {sorted.map((a) => {
          const ack = a.acknowledged ?? acked[a.id] ?? null;
          return (
            <li key={a.id} class={`alert alert-${a.severity}`}>
              <StateBadge health={a.severity} label={a.severity === 'critical' ? 'Critical' : 'Warning'} />
              <span class="alert-message">{a.message}</span>
              {ack ? (
                <span class="muted alert-ack">
                  Acknowledged by {ack.by} at {time(ack.at)}
                </span>
              ) : canAcknowledge ? (
                <button type="button" class="button" disabled={busy === a.id} onClick={() => void acknowledge(a.id)} aria-label={`Acknowledge: ${a.message}`}>
                  {busy === a.id ? 'Acknowledging…' : 'Acknowledge'}
                </button>
              ) : null}
            </li>
          );
        })}
      </ul>
    </>
  );
}
