/**
 * The parts on the build plate: simple solids whose slice at height z is what the lasers melt in
 * that layer, so the after-exposure image reveals part geometry (which is why the gateway must
 * treat powder-bed images as sensitive). Placement and sizes are a pure function of the seed.
 */
import type { SimConfig } from './config.js';
import { Mulberry32 } from './prng.js';

export type PartShape = 'cylinder' | 'cube' | 'lattice';

export interface Part {
  index: number;
  shape: PartShape;
  /** centre on the plate, mm from the plate's corner (x along the recoater's travel, y across) */
  cx: number;
  cy: number;
  /** half size in x/y (cylinder: radius), mm */
  half: number;
  /** height, mm */
  heightMm: number;
  /** lattice cell size and strut half-width, mm */
  cellMm: number;
  strutMm: number;
}

const SHAPES: PartShape[] = ['cylinder', 'cube', 'lattice'];

/** Lay out `partCount` parts on a grid over the plate; sizes and heights vary with the seed. */
export function layoutParts(cfg: SimConfig): Part[] {
  const rng = new Mulberry32(cfg.seed ^ 0x5a17);
  const n = cfg.job.partCount;
  const cols = Math.ceil(Math.sqrt(n));
  const rows = Math.ceil(n / cols);
  const margin = cfg.camera.plateMm * 0.08;
  const cellW = (cfg.camera.plateMm - 2 * margin) / cols;
  const cellH = (cfg.camera.plateMm - 2 * margin) / rows;
  const buildHeightMm = (cfg.job.totalLayers * cfg.job.layerThicknessUm) / 1000;
  const parts: Part[] = [];
  for (let i = 0; i < n; i++) {
    const col = i % cols;
    const row = Math.floor(i / cols);
    const half = Math.min(cellW, cellH) * (0.22 + 0.12 * rng.next());
    const jitter = Math.min(cellW, cellH) * 0.1;
    parts.push({
      index: i,
      shape: SHAPES[i % SHAPES.length] as PartShape,
      cx: margin + (col + 0.5) * cellW + (rng.next() - 0.5) * jitter,
      cy: margin + (row + 0.5) * cellH + (rng.next() - 0.5) * jitter,
      half,
      heightMm: buildHeightMm * (i === 0 ? 1 : 0.55 + 0.45 * rng.next()),
      cellMm: Math.max(half / 2.5, 1),
      strutMm: Math.max(half / 14, 0.3),
    });
  }
  return parts;
}

/** Is the point (x, y) inside part p's slice at height z (all mm)? */
export function partContains(p: Part, x: number, y: number, zMm: number): boolean {
  if (zMm < 0 || zMm > p.heightMm) return false;
  const dx = x - p.cx;
  const dy = y - p.cy;
  switch (p.shape) {
    case 'cylinder':
      return dx * dx + dy * dy <= p.half * p.half;
    case 'cube':
      return Math.abs(dx) <= p.half && Math.abs(dy) <= p.half;
    case 'lattice': {
      if (Math.abs(dx) > p.half || Math.abs(dy) > p.half) return false;
      // a cubic strut lattice: struts run along x, y and z through the cell centres; a solid skin at the bottom and top
      if (zMm < p.cellMm * 0.5 || zMm > p.heightMm - p.cellMm * 0.5) return true;
      const near = (u: number) => Math.abs((((u % p.cellMm) + p.cellMm) % p.cellMm) - p.cellMm / 2) <= p.strutMm;
      const nx = near(dx + p.half);
      const ny = near(dy + p.half);
      const nz = near(zMm);
      return (nx && ny) || (nx && nz) || (ny && nz);
    }
  }
}

/** Height of layer n's top surface in mm. */
export function layerZmm(cfg: SimConfig, layer: number): number {
  return (layer * cfg.job.layerThicknessUm) / 1000;
}

/** Parts with material in layer n. */
export function partsInLayer(parts: Part[], zMm: number): Part[] {
  return parts.filter((p) => zMm <= p.heightMm);
}
