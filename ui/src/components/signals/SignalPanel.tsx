/**
 * A picked signal: its chart over the page's time range (values decimated by the server to about
 * one bucket per two pixels of width), its unit, type, class, the rule that gave the class and the
 * outputs it goes to (GET /api/v1/explain for the signal's input), and for a sample block (melt
 * pool) the channel to draw.
 */
import { useEffect, useState } from 'preact/hooks';
import { ApiError, api } from '../../api/client.js';
import { useTheme } from '../../app/theme.js';
import type { ExplainAnswer, SignalInfo, SignalValues } from '../../api/types.js';
import { count } from '../../lib/format.js';
import { statsOf, type TimeRange, valuesPath, valueText } from '../../lib/signal-values.js';
import { SignalChart } from './SignalChart.js';

const POINTS = 600;

const message = (err: unknown): string => (err instanceof ApiError || err instanceof Error ? err.message : String(err));

export const signalKey = (s: Pick<SignalInfo, 'source' | 'signal'>): string => `${s.source}\n${s.signal}`;

function Explain({ info }: { info: SignalInfo }) {
  const [answer, setAnswer] = useState<ExplainAnswer | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let stale = false;
    const q = new URLSearchParams({ input: info.source, signal: info.signal, kind: info.kind });
    api.get<ExplainAnswer>(`/api/v1/explain?${q.toString()}`).then(
      (a) => !stale && setAnswer(a),
      (err: unknown) => !stale && setError(message(err)),
    );
    return () => {
      stale = true;
    };
  }, [info.source, info.signal, info.kind]);
  if (error) return <p class="muted">Why: {error}</p>;
  if (!answer) return <p class="muted">Asking the policy why…</p>;
  const c = answer.classification;
  return (
    <div class="signal-why">
      <p>
        Class <strong>{c.class}</strong> by <code>{c.rule}</code>
        {c.matched.length > 0 && <> (matched: {c.matched.map((m) => `${m.rule} → ${m.class}`).join(', ')})</>}; base {c.base.class} from {c.base.from}
        {c.floors.length > 0 && <>; floors: {c.floors.map((f) => `${f.class} from ${f.from}`).join(', ')}</>}
        {answer.jobMark && <>; job marked {answer.jobMark}</>}.
      </p>
      {answer.routing.outputs.length > 0 ? (
        <ul class="signal-outputs" aria-label={`Outputs of ${info.signal}`}>
          {answer.routing.outputs.map((o) => (
            <li key={o.output} class={o.receives ? 'receives' : 'skips'}>
              <strong>{o.output}</strong>: {o.receives ? 'receives it' : 'does not receive it'} <span class="muted">({o.why})</span>
            </li>
          ))}
        </ul>
      ) : (
        <p class="muted">No output is configured.</p>
      )}
    </div>
  );
}

export function SignalPanel({ info, range, onZoom, onRemove }: { info: SignalInfo; range: TimeRange; onZoom(range: TimeRange): void; onRemove(): void }) {
  const [answer, setAnswer] = useState<SignalValues | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [channel, setChannel] = useState<string | null>(null);
  const { theme } = useTheme();
  const id = `sig-${info.source}-${info.signal}`.replace(/[^A-Za-z0-9_-]/g, '_');

  useEffect(() => {
    let stale = false;
    setLoading(true);
    api.get<SignalValues>(valuesPath({ source: info.source, signal: info.signal, range, points: POINTS, channel })).then(
      (a) => {
        if (stale) return;
        setAnswer(a);
        setError(null);
        setLoading(false);
      },
      (err: unknown) => {
        if (stale) return;
        setError(message(err));
        setLoading(false);
      },
    );
    return () => {
      stale = true;
    };
  }, [info.source, info.signal, range.from, range.to, channel]);

  const stats = answer ? statsOf(answer.buckets) : null;
  return (
    <section class="card card-wide signal-panel" aria-labelledby={`${id}-title`} data-signal={info.signal} aria-busy={loading}>
      <div class="card-head">
        <h2 id={`${id}-title`}>
          {info.signal} <span class="muted signal-source">{info.source}</span>
        </h2>
        <button type="button" class="button button-quiet" onClick={onRemove} aria-label={`Remove ${info.signal} from the plot`}>
          Remove
        </button>
      </div>
      <dl class="figures">
        <div>
          <dt>Unit</dt>
          <dd data-figure="unit">{answer?.unit ?? '—'}</dd>
        </div>
        <div>
          <dt>Type</dt>
          <dd>{answer?.type ?? info.kind}</dd>
        </div>
        <div>
          <dt>Class</dt>
          <dd data-figure="class">{info.class}</dd>
        </div>
        <div>
          <dt>Routes</dt>
          <dd>{info.routes.length > 0 ? info.routes.join(', ') : 'none'}</dd>
        </div>
      </dl>
      {info.kind === 'samples' && answer?.channels && answer.channels.length > 0 && (
        <p class="form-inline">
          <label for={`${id}-channel`}>Channel</label>
          <select id={`${id}-channel`} value={answer.channel ?? ''} onChange={(e) => setChannel((e.currentTarget as HTMLSelectElement).value)}>
            {answer.channels.map((c) => (
              <option key={c} value={c}>
                {c}
              </option>
            ))}
          </select>
        </p>
      )}
      <figure class="signal-chart" aria-labelledby={`${id}-caption`}>
        {/* made again with the theme (uPlot draws its colours on a canvas); the answer is kept */}
        <SignalChart key={theme} id={`${id}-chart`} label={info.signal} answer={answer} range={range} onZoom={onZoom} />
        <figcaption id={`${id}-caption`}>
          {error ? (
            <span class="text-bad">{error}</span>
          ) : !answer ? (
            'Loading…'
          ) : answer.buckets.length === 0 ? (
            'No values in this range.'
          ) : (
            <>
              {info.signal}
              {answer.channel ? ` (${answer.channel})` : ''}: {count(answer.samples ?? answer.records)} {answer.samples !== undefined ? 'samples' : 'values'} in{' '}
              {count(answer.buckets.length)} buckets, min {valueText(stats?.min ?? null)}, max {valueText(stats?.max ?? null)}, last {valueText(stats?.last)}
              {answer.unit ? ` ${answer.unit}` : ''}
              {answer.truncated && answer.coveredFrom && <> — truncated: covers from {new Date(answer.coveredFrom).toLocaleTimeString()}</>}
              {!answer.numeric && ' — not numeric: drawn as 0/1 or not at all'}
            </>
          )}
        </figcaption>
      </figure>
      <h3>Why this class and these outputs</h3>
      <Explain info={info} />
    </section>
  );
}
