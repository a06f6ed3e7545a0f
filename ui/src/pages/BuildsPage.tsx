/**
 * Builds and layers from the camera frames still in the buffer (GET /api/v1/frames): the builds,
 * a build's layers as a strip of powder-bed thumbnails, the chosen layer's image with its process
 * values and melt-pool statistics over the layer's time window, and the image at full size in a
 * dialog (Escape closes; the arrows move between layers). The lists are read again every few
 * seconds, so a running build's new layers appear.
 */
import { useCallback, useEffect, useState } from 'preact/hooks';
import { ApiError, api } from '../api/client.js';
import type { FrameInfo, FrameList, SignalInfo, SignalList } from '../api/types.js';
import { Card } from '../components/Card.js';
import { FrameViewer } from '../components/builds/FrameViewer.js';
import { LayerStrip } from '../components/builds/LayerStrip.js';
import { LayerValues } from '../components/builds/LayerValues.js';
import { count, time } from '../lib/format.js';
import { buildsOf, describeFrame, frameOf, layersOf, phasesOf, windowOf } from '../lib/layers.js';
import { rangeText } from '../lib/signal-values.js';

const REFRESH_MS = 10_000;
const LIMIT = 500;

const message = (err: unknown): string => (err instanceof ApiError || err instanceof Error ? err.message : String(err));

function useEvery(ms: number): number {
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const t = setInterval(() => setTick((n) => n + 1), ms);
    return () => clearInterval(t);
  }, [ms]);
  return tick;
}

export function BuildsPage() {
  const tick = useEvery(REFRESH_MS);
  const [all, setAll] = useState<FrameList | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [build, setBuild] = useState<string | null>(null);
  const [camera, setCamera] = useState('');
  const [frames, setFrames] = useState<FrameList | null>(null);
  const [phase, setPhase] = useState<string | null>(null);
  const [layer, setLayer] = useState<number | null>(null);
  const [viewing, setViewing] = useState<number | null>(null);
  const [signals, setSignals] = useState<SignalInfo[]>([]);

  useEffect(() => {
    let stale = false;
    api.get<FrameList>(`/api/v1/frames?limit=${LIMIT}`).then(
      (l) => {
        if (stale) return;
        setAll(l);
        setError(null);
      },
      (err: unknown) => !stale && setError(message(err)),
    );
    return () => {
      stale = true;
    };
  }, [tick]);

  useEffect(() => {
    api.get<SignalList>('/api/v1/signals').then(
      (l) => setSignals(l.signals),
      () => setSignals([]),
    );
  }, []);

  const builds = all ? buildsOf(all.frames) : [];
  const cameras = [...new Set((frames ?? all)?.frames.map((f) => f.camera) ?? [])].sort();
  const chosen = build ?? builds[0]?.build ?? null;

  const loadBuild = useCallback(() => {
    if (chosen === null) return () => undefined;
    let stale = false;
    const q = new URLSearchParams({ build: chosen, limit: String(LIMIT) });
    if (camera) q.set('camera', camera);
    api.get<FrameList>(`/api/v1/frames?${q.toString()}`).then(
      (l) => !stale && setFrames(l),
      (err: unknown) => !stale && setError(message(err)),
    );
    return () => {
      stale = true;
    };
  }, [chosen, camera]);
  useEffect(loadBuild, [loadBuild, tick]);

  const layers = frames ? layersOf(frames.frames.filter((f) => f.build === chosen)) : [];
  const phases = phasesOf(layers);
  const shownPhase = phase ?? (phases.includes('after-exposure') ? 'after-exposure' : '');
  // by default the newest layer that has the image shown (after exposure: its exposure is over, its values are in)
  const newestDone = [...layers].reverse().find((l) => shownPhase === '' || l.frames.some((f) => f.phase === shownPhase));
  const current = layer !== null && layers.some((l) => l.layer === layer) ? layer : ((newestDone ?? layers[layers.length - 1])?.layer ?? null);
  const index = layers.findIndex((l) => l.layer === current);
  const currentLayer = index >= 0 ? layers[index] : undefined;
  const frame = currentLayer ? frameOf(currentLayer, shownPhase) : null;
  const win = currentLayer ? windowOf(currentLayer, layers[index - 1]) : null;
  const viewIndex = viewing === null ? -1 : layers.findIndex((l) => l.layer === viewing);
  const viewFrame: FrameInfo | null = viewIndex >= 0 ? frameOf(layers[viewIndex]!, shownPhase) : null;

  const step = (delta: -1 | 1): void => {
    const next = layers[viewIndex + delta];
    if (!next) return;
    setViewing(next.layer);
    setLayer(next.layer);
  };

  return (
    <>
      <h1>Builds and layers</h1>
      {error && <p class="text-bad">{error}</p>}
      <div class="grid builds-grid">
        <Card id="builds" title="Builds" wide>
          {all === null ? (
            <p role="status">Loading the frames…</p>
          ) : builds.length === 0 ? (
            <p class="muted">No camera frame with a build in the buffer.</p>
          ) : (
            <>
              <div class="filters">
                <div class="field">
                  <label for="build-pick">Build</label>
                  <select
                    id="build-pick"
                    value={chosen ?? ''}
                    onChange={(e) => {
                      setBuild((e.currentTarget as HTMLSelectElement).value);
                      setLayer(null);
                      setFrames(null);
                    }}
                  >
                    {builds.map((b) => (
                      <option key={b.build} value={b.build}>
                        {b.build} — layers {b.firstLayer ?? '?'}–{b.lastLayer ?? '?'}, newest {time(b.newest)}
                      </option>
                    ))}
                  </select>
                </div>
                {cameras.length > 1 && (
                  <div class="field">
                    <label for="camera-pick">Camera</label>
                    <select id="camera-pick" value={camera} onChange={(e) => setCamera((e.currentTarget as HTMLSelectElement).value)}>
                      <option value="">All</option>
                      {cameras.map((c) => (
                        <option key={c} value={c}>
                          {c}
                        </option>
                      ))}
                    </select>
                  </div>
                )}
                {phases.length > 1 && (
                  <div class="field">
                    <label for="phase-pick">Image</label>
                    <select id="phase-pick" value={shownPhase} onChange={(e) => setPhase((e.currentTarget as HTMLSelectElement).value)}>
                      {phases.map((p) => (
                        <option key={p} value={p}>
                          {p}
                        </option>
                      ))}
                      <option value="">newest of the layer</option>
                    </select>
                  </div>
                )}
              </div>
              <p class="muted" data-figure="layer-count">
                {count(layers.length)} layers of build {chosen} in the buffer
                {frames?.truncated && frames.coveredFrom ? ` (the list is cut: it covers from ${time(frames.coveredFrom)})` : ''}. Pick a layer; Enter or a
                second click opens it full size.
              </p>
              {chosen !== null && (
                <LayerStrip
                  build={chosen}
                  layers={layers}
                  phase={shownPhase}
                  current={current}
                  onSelect={setLayer}
                  onOpen={(f) => f.layer !== null && setViewing(f.layer)}
                />
              )}
            </>
          )}
        </Card>
        {currentLayer && frame && win && (
          <Card id="layer" title={`Layer ${currentLayer.layer}`} wide>
            <div class="layer-detail">
              <figure class="frame layer-frame">
                <button
                  type="button"
                  class="layer-open"
                  onClick={() => setViewing(currentLayer.layer)}
                  aria-label={`Open layer ${currentLayer.layer} full size`}
                >
                  <img
                    src={frame.thumbnailSeq !== null ? `/api/v1/frames/${frame.seq}/thumbnail` : `/api/v1/frames/${frame.seq}/image`}
                    alt={describeFrame(frame)}
                    width={320}
                    height={320}
                  />
                </button>
                <figcaption>
                  {describeFrame(frame)}, {time(frame.receivedAt)}. Window for the values: {rangeText(win)}.
                </figcaption>
              </figure>
              {/* the newest layers' values are read again as they come in (blocks arrive after their samples) */}
              <LayerValues signals={signals} window={win} refresh={index >= layers.length - 2 ? tick : 0} />
            </div>
          </Card>
        )}
      </div>
      <FrameViewer
        frame={viewFrame}
        hasPrevious={viewIndex > 0}
        hasNext={viewIndex >= 0 && viewIndex < layers.length - 1}
        onStep={step}
        onClose={() => setViewing(null)}
      />
    </>
  );
}
