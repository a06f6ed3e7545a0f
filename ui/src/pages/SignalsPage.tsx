/**
 * The signals explorer: find signals by name, kind, class and source (GET /api/v1/signals), pick
 * one or several and plot their values over a time range with the server's decimation
 * (GET /api/v1/signals/values), each with its unit, class, why (GET /api/v1/explain) and outputs.
 * Dragging across a chart zooms all charts to that range and asks the server again at it; the
 * buttons pan and zoom by keyboard too.
 */
import { useCallback, useEffect, useState } from 'preact/hooks';
import { ApiError, api } from '../api/client.js';
import type { SignalInfo, SignalList } from '../api/types.js';
import { Card } from '../components/Card.js';
import { signalKey, SignalPanel } from '../components/signals/SignalPanel.js';
import { NO_FILTER, type SignalFilter, SignalPicker } from '../components/signals/SignalPicker.js';
import { RANGE_PRESETS, rangeText, type TimeRange } from '../lib/signal-values.js';

const lastOf = (ms: number): TimeRange => {
  const to = Date.now();
  return { from: to - ms, to };
};

/** picked signals shown at most */
const MAX_PICKED = 8;

export function SignalsPage() {
  const [signals, setSignals] = useState<SignalInfo[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [filter, setFilter] = useState<SignalFilter>(NO_FILTER);
  const [picked, setPicked] = useState<string[]>([]);
  const [preset, setPreset] = useState<number>(RANGE_PRESETS[0].ms);
  const [range, setRange] = useState<TimeRange>(() => lastOf(RANGE_PRESETS[0].ms));

  const load = useCallback(() => {
    api.get<SignalList>('/api/v1/signals').then(
      (l) => {
        setSignals(l.signals);
        setError(null);
      },
      (err: unknown) => setError(err instanceof ApiError || err instanceof Error ? err.message : String(err)),
    );
  }, []);
  useEffect(load, [load]);

  const toggle = (s: SignalInfo, on: boolean): void => {
    const key = signalKey(s);
    setPicked((p) => (on ? (p.includes(key) ? p : [...p, key].slice(-MAX_PICKED)) : p.filter((k) => k !== key)));
  };
  const span = range.to - range.from;
  const pan = (fraction: number): void => setRange({ from: Math.round(range.from + span * fraction), to: Math.round(range.to + span * fraction) });
  const scale = (factor: number): void => {
    const mid = (range.from + range.to) / 2;
    const half = Math.max(50, (span * factor) / 2);
    setRange({ from: Math.round(mid - half), to: Math.round(mid + half) });
  };

  const byKey = new Map((signals ?? []).map((s) => [signalKey(s), s]));
  const shown = picked.map((k) => byKey.get(k)).filter((s): s is SignalInfo => s !== undefined);

  return (
    <>
      <h1>Signals</h1>
      <div class="grid signals-grid">
        <Card
          id="signal-find"
          title="Find signals"
          actions={
            <button type="button" class="button button-quiet" onClick={load}>
              Reload list
            </button>
          }
        >
          {error && <p class="text-bad">{error}</p>}
          {signals === null && !error ? (
            <p role="status">Loading the signals…</p>
          ) : (
            <SignalPicker signals={signals ?? []} filter={filter} onFilter={setFilter} picked={new Set(picked)} onToggle={toggle} />
          )}
        </Card>
        <Card id="signal-range" title="Time range">
          <div class="filters">
            <div class="field">
              <label for="range-preset">Range</label>
              <select
                id="range-preset"
                value={String(preset)}
                onChange={(e) => {
                  const ms = Number((e.currentTarget as HTMLSelectElement).value);
                  setPreset(ms);
                  setRange(lastOf(ms));
                }}
              >
                {RANGE_PRESETS.map((p) => (
                  <option key={p.ms} value={String(p.ms)}>
                    {p.label}
                  </option>
                ))}
              </select>
            </div>
            <button type="button" class="button" onClick={() => setRange(lastOf(preset))}>
              Now
            </button>
          </div>
          <p data-figure="range" aria-live="polite">
            {rangeText(range)}
          </p>
          <fieldset class="button-row">
            <legend class="visually-hidden">Pan and zoom</legend>
            <button type="button" class="button" onClick={() => pan(-0.5)}>
              ← Earlier
            </button>
            <button type="button" class="button" onClick={() => pan(0.5)}>
              Later →
            </button>
            <button type="button" class="button" onClick={() => scale(0.5)}>
              Zoom in
            </button>
            <button type="button" class="button" onClick={() => scale(2)}>
              Zoom out
            </button>
          </fieldset>
          <p class="hint">Drag across a chart to zoom to that stretch; the server decimates again at the new range.</p>
        </Card>
        {shown.length === 0 ? (
          <Card id="signal-none" title="Plot" wide>
            <p class="muted">Pick one or more signals to plot their values.</p>
          </Card>
        ) : (
          shown.map((s) => <SignalPanel key={signalKey(s)} info={s} range={range} onZoom={setRange} onRemove={() => toggle(s, false)} />)
        )}
      </div>
    </>
  );
}
