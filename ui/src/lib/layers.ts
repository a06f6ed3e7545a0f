/**
 * Frames (GET /api/v1/frames) grouped the way an AM engineer looks at them: builds, each build's
 * layers, each layer's images (the simulator's camera, like most powder-bed cameras, takes one after
 * recoating and one after exposure), and a layer's time window for its process values (windowOf).
 */
import type { FrameInfo } from '../api/types.js';
import type { TimeRange } from './signal-values.js';

export interface BuildSummary {
  build: string;
  frames: number;
  layers: number;
  firstLayer: number | null;
  lastLayer: number | null;
  newest: string;
}

export interface Layer {
  layer: number;
  /** oldest first */
  frames: FrameInfo[];
}

/** a frame's time in epoch ms: its source time when the camera gave one, else when it was received */
export const frameTime = (f: FrameInfo): number => Date.parse(f.sourceTime ?? f.receivedAt);

export function buildsOf(frames: readonly FrameInfo[]): BuildSummary[] {
  const by = new Map<string, FrameInfo[]>();
  for (const f of frames) {
    if (f.build === null) continue;
    let list = by.get(f.build);
    if (!list) by.set(f.build, (list = []));
    list.push(f);
  }
  return [...by.entries()]
    .map(([build, fs]) => {
      const layers = fs.map((f) => f.layer).filter((l): l is number => l !== null);
      return {
        build,
        frames: fs.length,
        layers: new Set(layers).size,
        firstLayer: layers.length > 0 ? Math.min(...layers) : null,
        lastLayer: layers.length > 0 ? Math.max(...layers) : null,
        newest:
          fs
            .map((f) => f.receivedAt)
            .sort()
            .at(-1) ?? '',
      };
    })
    .sort((a, b) => (a.newest < b.newest ? 1 : -1));
}

/** the layers of one build's frames, lowest layer first */
export function layersOf(frames: readonly FrameInfo[]): Layer[] {
  const by = new Map<number, FrameInfo[]>();
  for (const f of frames) {
    if (f.layer === null) continue;
    let list = by.get(f.layer);
    if (!list) by.set(f.layer, (list = []));
    list.push(f);
  }
  return [...by.entries()].sort((a, b) => a[0] - b[0]).map(([layer, fs]) => ({ layer, frames: fs.sort((a, b) => frameTime(a) - frameTime(b)) }));
}

/** the phases the frames carry (e.g. after-recoat, after-exposure), in order of first appearance */
export function phasesOf(layers: readonly Layer[]): string[] {
  const seen = new Set<string>();
  for (const l of layers) for (const f of l.frames) if (f.phase) seen.add(f.phase);
  return [...seen];
}

/** the layer's image of `phase` (any phase: '') or its newest; preferring one with a thumbnail */
export function frameOf(layer: Layer, phase: string): FrameInfo {
  const of = phase === '' ? layer.frames : layer.frames.filter((f) => f.phase === phase);
  const pool = of.length > 0 ? of : layer.frames;
  return [...pool].reverse().find((f) => f.thumbnailSeq !== null) ?? pool[pool.length - 1]!;
}

/**
 * the layer's time window: from the previous layer's last image (the end of its exposure) to this
 * layer's last image, so recoating and exposure are in it; without the previous layer listed, from
 * the layer's first image, or 2 s before its only one
 */
export function windowOf(layer: Layer, previous: Layer | undefined): TimeRange {
  const times = layer.frames.map(frameTime);
  const to = Math.max(...times);
  const before = previous ? Math.max(...previous.frames.map(frameTime)) : Number.NaN;
  if (Number.isFinite(before) && before < to) return { from: before, to };
  const first = Math.min(...times);
  return { from: to - first >= 50 ? first : to - 2_000, to };
}

export function describeFrame(f: FrameInfo): string {
  return `Powder bed, camera ${f.camera}${f.build ? `, build ${f.build}` : ''}${f.layer !== null ? `, layer ${f.layer}` : ''}${f.phase ? ` (${f.phase})` : ''}`;
}
