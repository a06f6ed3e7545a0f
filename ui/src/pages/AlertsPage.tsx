/**
 * The active alerts, live from the status stream, most severe first: an operator (or admin)
 * acknowledges one (POST /api/v1/alerts/<id>/ack) and it stays listed, marked with who saw it and
 * when, while its cause lasts. A viewer sees them without the button (the API would answer 403).
 */
import type { LiveStatus } from '../app/live-status.js';
import { roleAllows, useSession } from '../app/session.js';
import { AlertList } from '../components/AlertList.js';
import { Card } from '../components/Card.js';

export function AlertsPage({ live }: { live: LiveStatus }) {
  const session = useSession();
  const alerts = live.status?.alerts ?? null;
  const open = alerts?.filter((a) => a.acknowledged === null).length ?? 0;
  const canAck = roleAllows(session.role, 'operator');
  return (
    <>
      <h1>Alerts</h1>
      <p class="muted">
        Alerts are raised from the gateway's status (buffer filling, records evicted, an output failing or misconfigured, a removed output holding records) and
        clear by themselves when their cause ends.
        {canAck ? ' Acknowledge one to tell the others you are on it.' : ' Operators acknowledge them.'}
      </p>
      {alerts === null ? (
        <p role="status">Waiting for the gateway's status…</p>
      ) : (
        <Card id="active-alerts" title={`Active alerts (${alerts.length}, ${open} not acknowledged)`} wide>
          <AlertList alerts={alerts} canAcknowledge={canAck} />
        </Card>
      )}
    </>
  );
}
