/**
 * The newest powder-bed image of each camera, as its thumbnail (GET /api/v1/frames/latest, then
 * /api/v1/frames/<seq>/thumbnail; the browser sends the session cookie with the <img> request).
 * Fetched again when the layer changes and every few seconds while shown; a gateway without a
 * camera says so instead of an empty box.
 */
import { useEffect, useState } from 'preact/hooks';
import { ApiError, api } from '../api/client.js';
import type { FrameInfo, FrameList } from '../api/types.js';
import { time } from '../lib/format.js';

const REFRESH_MS = 5_000;

export function LatestFrame({ layer }: { layer: number | null }) {
  const [frames, setFrames] = useState<FrameInfo[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [tick, setTick] = useState(0);

  useEffect(() => {
    const timer = setInterval(() => setTick((t) => t + 1), REFRESH_MS);
    return () => clearInterval(timer);
  }, []);

  // layer and tick are the reasons to read again, not inputs of the read
  useEffect(() => {
    let stale = false;
    api.get<FrameList>('/api/v1/frames/latest').then(
      (list) => {
        if (stale) return;
        setFrames(list.frames);
        setError(null);
      },
      (err: unknown) => {
        if (!stale) setError(err instanceof ApiError ? err.message : String(err));
      },
    );
    return () => {
      stale = true;
    };
  }, [layer, tick]);

  if (error) return <p class="muted">No frames: {error}</p>;
  if (frames === null) return <p class="muted">Loading…</p>;
  const shown = frames.filter((f) => f.thumbnailSeq !== null);
  if (shown.length === 0) return <p class="muted">No camera frame in the buffer yet.</p>;
  return (
    <div class="frames">
      {shown.map((f) => {
        const what = `Powder bed, camera ${f.camera}${f.build ? `, build ${f.build}` : ''}${f.layer !== null ? `, layer ${f.layer}` : ''}${f.phase ? ` (${f.phase})` : ''}`;
        return (
          <figure key={f.camera} class="frame">
            <img src={`/api/v1/frames/${f.seq}/thumbnail`} alt={what} width={f.width ?? undefined} height={f.height ?? undefined} />
            <figcaption>
              {what}, {time(f.receivedAt)}
            </figcaption>
          </figure>
        );
      })}
    </div>
  );
}
