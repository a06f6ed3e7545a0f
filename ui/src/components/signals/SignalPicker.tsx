/**
 * The signal list with its filters: a name search and kind, class and source choices over
 * GET /api/v1/signals; each signal a checkbox that adds it to the plot. Only scalar signals and
 * sample blocks have values to draw; the others are listed, not offered.
 */
import type { SignalInfo } from '../../api/types.js';
import { signalKey } from './SignalPanel.js';

export interface SignalFilter {
  text: string;
  kind: string;
  cls: string;
  source: string;
}

export const NO_FILTER: SignalFilter = { text: '', kind: '', cls: '', source: '' };

/** signals shown at most (the rest: narrow the search) */
const SHOWN = 300;

export const plottable = (s: SignalInfo): boolean => s.kind === 'scalar' || s.kind === 'samples';

export function matches(s: SignalInfo, f: SignalFilter): boolean {
  const words = f.text.toLowerCase().split(/\s+/).filter(Boolean);
  const name = `${s.source} ${s.signal}`.toLowerCase();
  return (
    words.every((w) => name.includes(w)) &&
    (f.kind === '' || s.kind === f.kind) &&
    (f.cls === '' || s.class === f.cls) &&
    (f.source === '' || s.source === f.source)
  );
}

const distinct = (xs: string[]): string[] => [...new Set(xs)].sort();

function Choice({ id, label, value, options, onChange }: { id: string; label: string; value: string; options: string[]; onChange(v: string): void }) {
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <select id={id} value={value} onChange={(e) => onChange((e.currentTarget as HTMLSelectElement).value)}>
        <option value="">All</option>
        {options.map((o) => (
          <option key={o} value={o}>
            {o}
          </option>
        ))}
      </select>
    </div>
  );
}

export function SignalPicker({
  signals,
  filter,
  onFilter,
  picked,
  onToggle,
}: {
  signals: SignalInfo[];
  filter: SignalFilter;
  onFilter(f: SignalFilter): void;
  picked: ReadonlySet<string>;
  onToggle(s: SignalInfo, on: boolean): void;
}) {
  const shown = signals.filter((s) => matches(s, filter));
  return (
    <div class="signal-picker">
      <form class="filters" aria-label="Filter signals" onSubmit={(e) => e.preventDefault()}>
        <div class="field field-grow">
          <label for="signal-search">Search signals</label>
          <input
            id="signal-search"
            type="search"
            value={filter.text}
            placeholder="name or part of it"
            onInput={(e) => onFilter({ ...filter, text: (e.currentTarget as HTMLInputElement).value })}
          />
        </div>
        <Choice
          id="signal-kind"
          label="Kind"
          value={filter.kind}
          options={distinct(signals.map((s) => s.kind))}
          onChange={(kind) => onFilter({ ...filter, kind })}
        />
        <Choice
          id="signal-class"
          label="Class"
          value={filter.cls}
          options={distinct(signals.map((s) => s.class))}
          onChange={(cls) => onFilter({ ...filter, cls })}
        />
        <Choice
          id="signal-source"
          label="Source"
          value={filter.source}
          options={distinct(signals.map((s) => s.source))}
          onChange={(source) => onFilter({ ...filter, source })}
        />
      </form>
      <p class="muted" role="status">
        {shown.length} of {signals.length} signals{shown.length > SHOWN ? `, the first ${SHOWN} listed: narrow the search` : ''}; {picked.size} picked.
      </p>
      <fieldset class="signal-list">
        <legend class="visually-hidden">Signals to plot</legend>
        <ul>
          {shown.slice(0, SHOWN).map((s) => {
            const key = signalKey(s);
            const id = `pick-${key}`.replace(/[^A-Za-z0-9_-]/g, '_');
            const can = plottable(s);
            return (
              <li key={key} data-signal={s.signal}>
                <input
                  id={id}
                  type="checkbox"
                  checked={picked.has(key)}
                  disabled={!can}
                  onChange={(e) => onToggle(s, (e.currentTarget as HTMLInputElement).checked)}
                />
                <label for={id}>
                  <span class="signal-name">{s.signal}</span>{' '}
                  <span class="muted">
                    {s.source} · {s.kind} · {s.class}
                    {can ? '' : ' · no values to plot'}
                  </span>
                </label>
              </li>
            );
          })}
        </ul>
      </fieldset>
    </div>
  );
}
