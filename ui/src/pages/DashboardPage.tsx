/**
 * The dashboard: the machine's context, the data path (inputs -> buffer -> outputs) as a picture
 * and as tables, throughput charts, cloud sync, the newest powder-bed image and the alerts, all
 * live from the status stream (no reloads, no polling of the status).
 */
import type { GatewayStatus, OutputStatus } from '../api/types.js';
import { inputKey, type LiveStatus, outputKey } from '../app/live-status.js';
import { useMediaQuery } from '../app/media.js';
import { roleAllows, useSession } from '../app/session.js';
import { AlertList } from '../components/AlertList.js';
import { Card } from '../components/Card.js';
import { FlowDiagram, type FlowNode } from '../components/FlowDiagram.js';
import { LatestFrame } from '../components/LatestFrame.js';
import { RateChart } from '../components/RateChart.js';
import { StateBadge } from '../components/StateBadge.js';
import { TableScroll } from '../components/TableScroll.js';
import { useTheme } from '../app/theme.js';
import * as fmt from '../lib/format.js';
import { type EdgeHealth, inputHealth, outputHealth } from '../lib/flow-health.js';
import type { RateHistory } from '../lib/rate-history.js';

function healthLabel(h: EdgeHealth, flowing: string): string {
  return h.health === 'ok' ? flowing : h.health === 'stopped' ? 'Stopped' : 'Quiet';
}

function MachineCard({ status }: { status: GatewayStatus }) {
  const m = status.machineContext;
  return (
    <Card id="machine" title="Machine">
      <dl class="figures figures-large">
        <div>
          <dt>Build</dt>
          <dd data-figure="build">{m.build ?? '—'}</dd>
        </div>
        <div>
          <dt>Layer</dt>
          <dd data-figure="layer">{m.layer ?? '—'}</dd>
        </div>
        <div>
          <dt>State</dt>
          <dd data-figure="state">{m.state ?? '—'}</dd>
        </div>
        <div>
          <dt>Material</dt>
          <dd data-figure="material">{m.material ?? '—'}</dd>
        </div>
      </dl>
    </Card>
  );
}

function InputsCard({ status, health }: { status: GatewayStatus; health: Map<string, EdgeHealth> }) {
  return (
    <Card id="inputs" title="Inputs">
      <TableScroll label="Inputs table">
        <table>
          <thead>
            <tr>
              <th scope="col">Input</th>
              <th scope="col">State</th>
              <th scope="col" class="num">
                Records/s
              </th>
              <th scope="col" class="num">
                Records
              </th>
              <th scope="col" class="num">
                Quarantined
              </th>
            </tr>
          </thead>
          <tbody>
            {status.inputs.map((i) => {
              const h = health.get(i.name)!;
              return (
                <tr key={i.name} data-input={i.name}>
                  <th scope="row">{i.name}</th>
                  <td>
                    <StateBadge health={h.health} label={healthLabel(h, 'Receiving')} title={h.reason} />
                  </td>
                  <td class="num" data-figure="records-per-second">
                    {fmt.rate(i.recordsPerSecond)}
                  </td>
                  <td class="num" data-figure="records">
                    {fmt.count(i.records)}
                  </td>
                  <td class="num">{fmt.count(i.quarantined)}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </TableScroll>
    </Card>
  );
}

function BufferCard({ status }: { status: GatewayStatus }) {
  const b = status.buffer;
  return (
    <Card id="buffer" title="Buffer">
      <label for="buffer-fill" class="meter-label">
        Fill: {fmt.percent(b.fill)} of {fmt.bytes(b.maxBytes)}
      </label>
      <meter id="buffer-fill" min={0} max={1} low={0.6} high={0.8} optimum={0} value={b.fill}>
        {fmt.percent(b.fill)}
      </meter>
      <dl class="figures">
        <div>
          <dt>Records</dt>
          <dd data-figure="buffer-records">{fmt.count(b.records)}</dd>
        </div>
        <div>
          <dt>Size</dt>
          <dd>{fmt.bytes(b.bytes)}</dd>
        </div>
        <div>
          <dt>Oldest record</dt>
          <dd>{b.oldestRecordAgeSeconds === null ? '—' : `${fmt.duration(b.oldestRecordAgeSeconds)} old`}</dd>
        </div>
        <div>
          <dt>Evicted undelivered</dt>
          <dd class={b.evictedRecords > 0 ? 'text-bad' : undefined}>{fmt.count(b.evictedRecords)}</dd>
        </div>
      </dl>
      {b.removedSinks.length > 0 && (
        <>
          <h3>Removed outputs still holding records</h3>
          <ul>
            {b.removedSinks.map((r) => (
              <li key={r.name}>
                {r.name}: {fmt.count(r.lagRecords)} undelivered records
              </li>
            ))}
          </ul>
        </>
      )}
    </Card>
  );
}

function errorsOf(o: OutputStatus): string {
  const kinds = Object.entries(o.errorsByKind)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k} ${fmt.count(n)}`);
  return kinds.length > 0 ? kinds.join(', ') : fmt.count(o.failures);
}

function OutputsCard({ status, health }: { status: GatewayStatus; health: Map<string, EdgeHealth> }) {
  return (
    <Card id="outputs" title="Outputs">
      <TableScroll label="Outputs table">
        <table>
          <thead>
            <tr>
              <th scope="col">Output</th>
              <th scope="col">State</th>
              <th scope="col" class="num">
                Records/s
              </th>
              <th scope="col" class="num">
                Lag
              </th>
              <th scope="col" class="num">
                Errors
              </th>
            </tr>
          </thead>
          <tbody>
            {status.outputs.map((o) => {
              const h = health.get(o.name)!;
              return (
                <tr key={o.name} data-output={o.name}>
                  <th scope="row">{o.name}</th>
                  <td>
                    <StateBadge health={h.health} label={h.health === 'ok' ? o.state : healthLabel(h, o.state)} title={h.reason} />
                  </td>
                  <td class="num">{fmt.rate(o.recordsPerSecond)}</td>
                  <td class="num">
                    {fmt.count(o.lagRecords)} rec · {fmt.duration(o.lagSeconds)}
                  </td>
                  <td class="num">{errorsOf(o)}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </TableScroll>
      {status.outputs
        .filter((o) => o.lastError || o.configFailure)
        .map((o) => (
          <p key={`err-${o.name}`} class="text-bad">
            {o.name}: {o.configFailure ? `${o.configFailure.message} (${o.configFailure.action})` : `${o.lastError!.message} at ${fmt.time(o.lastError!.at)}`}
          </p>
        ))}
    </Card>
  );
}

function SyncCard({ outputs }: { outputs: OutputStatus[] }) {
  return (
    <Card id="sync" title="Cloud sync">
      {outputs.map((o) => {
        const s = o.sync;
        if (!s) {
          return (
            <p key={o.name} class="muted">
              {o.name}: sync status not readable yet.
            </p>
          );
        }
        const total = s.synced.bytes + s.queue.bytesLeft;
        const done = total > 0 ? s.synced.bytes / total : 1;
        return (
          <div key={o.name} class="sync">
            <h3>
              {o.name} {s.paused && <StateBadge health="quiet" label="Paused" />}
            </h3>
            <label for={`sync-${o.name}`} class="meter-label">
              Progress: {fmt.percent(done)} ({fmt.bytes(s.synced.bytes)} synced, {fmt.bytes(s.queue.bytesLeft)} left)
            </label>
            <meter id={`sync-${o.name}`} min={0} max={1} value={done}>
              {fmt.percent(done)}
            </meter>
            <dl class="figures">
              <div>
                <dt>Bandwidth</dt>
                <dd>
                  {s.bandwidth.usedBitsPerSecond === null ? '—' : fmt.bitsPerSecond(s.bandwidth.usedBitsPerSecond)} of{' '}
                  {s.bandwidth.capBitsPerSecond === null ? 'unlimited' : fmt.bitsPerSecond(s.bandwidth.capBitsPerSecond)}
                </dd>
              </div>
              <div>
                <dt>Queued</dt>
                <dd>{fmt.count(s.queue.objects)} objects</dd>
              </div>
              <div>
                <dt>ETA</dt>
                <dd>{s.paused ? 'paused' : s.etaSeconds === null ? 'unknown' : fmt.duration(s.etaSeconds)}</dd>
              </div>
            </dl>
            {s.lastError && <p class="text-bad">Last error: {s.lastError}</p>}
          </div>
        );
      })}
    </Card>
  );
}

function ChartsCard({ status, history, version }: { status: GatewayStatus; history: RateHistory; version: number }) {
  const { theme } = useTheme();
  return (
    <Card id="throughput" title="Throughput, last 5 minutes" wide>
      <div class="charts">
        {status.inputs.map((i) => (
          <RateChart
            key={`${theme}-in-${i.name}`}
            id={`chart-in-${i.name}`}
            label={`Input ${i.name}`}
            series={history.get(inputKey(i.name))}
            version={version}
          />
        ))}
        {status.outputs.map((o) => (
          <RateChart
            key={`${theme}-out-${o.name}`}
            id={`chart-out-${o.name}`}
            label={`Output ${o.name}`}
            series={history.get(outputKey(o.name))}
            version={version}
          />
        ))}
      </div>
    </Card>
  );
}

export function DashboardPage({ live }: { live: LiveStatus }) {
  const session = useSession();
  const narrow = useMediaQuery('(max-width: 700px)');
  const { status, history, receivedAt } = live;
  if (!status) {
    return (
      <>
        <h1>Dashboard</h1>
        <p role="status">Waiting for the gateway's status…</p>
      </>
    );
  }
  const inHealth = new Map(status.inputs.map((i) => [i.name, inputHealth(i, history.quietFor(inputKey(i.name), receivedAt))]));
  const outHealth = new Map(status.outputs.map((o) => [o.name, outputHealth(o)]));
  const flowIn: FlowNode[] = status.inputs.map((i) => ({ name: i.name, recordsPerSecond: i.recordsPerSecond, edge: inHealth.get(i.name)! }));
  const flowOut: FlowNode[] = status.outputs.map((o) => ({ name: o.name, recordsPerSecond: o.recordsPerSecond, edge: outHealth.get(o.name)! }));
  const syncing = status.outputs.filter((o) => o.sync !== undefined);
  return (
    <>
      <h1>Dashboard</h1>
      <div class="grid">
        <MachineCard status={status} />
        <Card id="alerts" title={`Alerts (${status.alerts.length})`}>
          <AlertList alerts={status.alerts} canAcknowledge={roleAllows(session.role, 'operator')} />
        </Card>
        <Card id="flow" title="Data flow" wide>
          <FlowDiagram
            vertical={narrow}
            inputs={flowIn}
            outputs={flowOut}
            bufferDetail={`${fmt.percent(status.buffer.fill)} full · ${fmt.count(status.buffer.records)} rec`}
          />
        </Card>
        <InputsCard status={status} health={inHealth} />
        <BufferCard status={status} />
        <OutputsCard status={status} health={outHealth} />
        {syncing.length > 0 && <SyncCard outputs={syncing} />}
        <Card id="frame" title="Latest powder-bed image">
          <LatestFrame layer={status.machineContext.layer} />
        </Card>
        <ChartsCard status={status} history={history} version={receivedAt} />
      </div>
    </>
  );
}
