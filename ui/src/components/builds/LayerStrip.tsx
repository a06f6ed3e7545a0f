/**
 * A build's layers as a strip of powder-bed thumbnails, lowest layer first, scrolled to the newest.
 * Thumbnails load lazily (the browser fetches those near the view). One tab stop: the current layer's
 * button; the arrow keys, Home and End move between layers (a roving tabindex), Enter opens it.
 */
import { useEffect, useRef } from 'preact/hooks';
import type { FrameInfo } from '../../api/types.js';
import { describeFrame, frameOf, type Layer } from '../../lib/layers.js';

export function LayerStrip({
  build,
  layers,
  phase,
  current,
  onSelect,
  onOpen,
}: {
  build: string;
  layers: Layer[];
  phase: string;
  current: number | null;
  onSelect(layer: number): void;
  onOpen(frame: FrameInfo): void;
}) {
  const strip = useRef<HTMLUListElement>(null);
  const scrolled = useRef<string | null>(null);

  // a new build: start at its newest layers
  useEffect(() => {
    const el = strip.current;
    if (el && scrolled.current !== build && layers.length > 0) {
      el.scrollLeft = el.scrollWidth;
      scrolled.current = build;
    }
  }, [build, layers.length]);

  const focusLayer = (layer: number): void => {
    onSelect(layer);
    requestAnimationFrame(() => strip.current?.querySelector<HTMLButtonElement>(`button[data-layer="${layer}"]`)?.focus());
  };

  const onKey = (e: KeyboardEvent): void => {
    const i = layers.findIndex((l) => l.layer === current);
    let to: number | null = null;
    if (e.key === 'ArrowRight' || e.key === 'ArrowDown') to = Math.min(layers.length - 1, i + 1);
    else if (e.key === 'ArrowLeft' || e.key === 'ArrowUp') to = Math.max(0, i - 1);
    else if (e.key === 'Home') to = 0;
    else if (e.key === 'End') to = layers.length - 1;
    if (to === null || to < 0) return;
    e.preventDefault();
    focusLayer(layers[to]!.layer);
  };

  return (
    <ul ref={strip} class="layer-strip" aria-label={`Layers of build ${build}`} onKeyDown={onKey}>
      {layers.map((l) => {
        const f = frameOf(l, phase);
        const selected = l.layer === current;
        return (
          <li key={l.layer}>
            <button
              type="button"
              class="layer-thumb"
              data-layer={l.layer}
              aria-current={selected ? 'true' : undefined}
              tabIndex={selected || (current === null && l === layers[layers.length - 1]) ? 0 : -1}
              onClick={() => (selected ? onOpen(f) : onSelect(l.layer))}
              onDblClick={() => onOpen(f)}
            >
              {f.thumbnailSeq !== null ? (
                <img src={`/api/v1/frames/${f.seq}/thumbnail`} alt={describeFrame(f)} loading="lazy" decoding="async" width={96} height={96} />
              ) : (
                <span class="layer-thumb-missing">no thumbnail</span>
              )}
              <span class="layer-thumb-label">Layer {l.layer}</span>
            </button>
          </li>
        );
      })}
    </ul>
  );
}
