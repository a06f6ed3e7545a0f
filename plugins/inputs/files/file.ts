/**
 * What the files input knows about a file besides its bytes, and why it may refuse one: the
 * `FileRejected` error and its reasons, the file type by extension, and the sidecar (`<file>.json`).
 *
 * Design constraints:
 * - A bad sidecar rejects its file (`bad-sidecar`): a file stored under a wrong build is worse than
 *   one set aside for a person to look at. Only the sidecar keys below are read; any other key is
 *   ignored, never copied into a record (a sidecar may name people).
 * - Every rejection carries a kebab-case `reason` it is counted and quarantined under.
 */
import path from 'node:path';
import { MAX_BUILD_LENGTH, MalformedInputError } from '../../../gateway/plugin-api/index.js';
import type { DraftQuarantineReason } from '../../../gateway/plugin-api/index.js';
import { DEFAULT_EXTENSIONS, FILE_TYPES } from './schema.js';
import type { FileType } from './schema.js';

/**
 * Why a file was rejected; the counters are keyed by it. The pipeline's reasons
 * (`DraftQuarantineReason`) are those of a file whose record it quarantined.
 */
export const REJECT_REASONS = [
  'too-large',
  'unknown-format',
  'corrupt',
  'truncated',
  'zip-bomb',
  'size-mismatch',
  'bad-sidecar',
  'out-of-range',
  'unclassifiable',
  'unstorable',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

export class FileRejected extends MalformedInputError {
  constructor(
    override readonly reason: RejectReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A file whose record the pipeline quarantined (it holds the record already: not quarantined twice). */
export class FileRecordQuarantined extends FileRejected {
  constructor(reason: DraftQuarantineReason, message: string) {
    super(reason, message);
  }
}

/** A vendor volume's layout, from its sidecar: the file must be exactly header + w x h x slices x bits/8 bytes. */
export interface VolumeLayout {
  width: number;
  height: number;
  slices: number;
  bitsPerVoxel: 8 | 16 | 32;
  headerBytes: number;
}

/** What a sidecar or the upload headers may say about a file. */
export interface FileHints {
  build?: string;
  type?: FileType;
  sourceTimeMs?: number;
  volume?: VolumeLayout;
}

/** `part.3mf` -> `part.3mf.json` (the sidecar keeps the whole name, so `job.json` has `job.json.json`). */
export function sidecarName(name: string): string {
  return `${name}.json`;
}

/** The type a name's extension gives, with the config's extensions over the defaults; undefined when unknown. */
export function typeByExtension(name: string, extensions: Readonly<Record<string, FileType>>): FileType | undefined {
  const ext = path.extname(name).toLowerCase();
  return extensions[ext] ?? DEFAULT_EXTENSIONS[ext];
}

/**
 * A sidecar of another file: `<name>.json` whose `<name>` has a known extension (`part.stl.json`);
 * `job.json` itself is a job file, not a sidecar.
 */
export function isSidecarName(name: string, extensions: Readonly<Record<string, FileType>>): boolean {
  if (!name.toLowerCase().endsWith('.json')) return false;
  const stem = name.slice(0, -'.json'.length);
  return path.extname(stem) !== '' && typeByExtension(stem, extensions) !== undefined;
}

const MAX_TIME_MS = 9_223_372_036_854; // the latest ms a record's ns timestamp holds (2262)
const MAX_VOLUME_SIDE = 1_000_000;

/** A build id: 1..MAX_BUILD_LENGTH characters, or a non-negative integer. */
export function checkBuild(v: unknown): string | undefined {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return String(v);
  if (typeof v === 'string' && v.length > 0 && v.length <= MAX_BUILD_LENGTH) return v;
  return undefined;
}

export function checkType(v: unknown): FileType | undefined {
  return typeof v === 'string' && (FILE_TYPES as readonly string[]).includes(v) ? (v as FileType) : undefined;
}

/** Parse a sidecar: `build`, `type`, `timestampMs`, and for volume files `volume: {width, height, slices, bitsPerVoxel, headerBytes?}`. */
export function parseSidecar(text: string, where: string): FileHints {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch (err) {
    throw new FileRejected('bad-sidecar', `${where}: sidecar is not JSON (${(err as Error).message})`);
  }
  if (typeof j !== 'object' || j === null || Array.isArray(j)) throw new FileRejected('bad-sidecar', `${where}: sidecar must be a JSON object`);
  const o = j as Record<string, unknown>;
  const bad = (what: string): never => {
    throw new FileRejected('bad-sidecar', `${where}: sidecar ${what}`);
  };
  const out: FileHints = {};
  if (o.build !== undefined) out.build = checkBuild(o.build) ?? bad(`build must be a string of 1..${MAX_BUILD_LENGTH} characters or a non-negative integer`);
  if (o.type !== undefined) out.type = checkType(o.type) ?? bad(`type must be one of ${FILE_TYPES.join(', ')}`);
  if (o.timestampMs !== undefined) {
    const t = o.timestampMs;
    out.sourceTimeMs = typeof t === 'number' && Number.isFinite(t) && t >= 0 && t <= MAX_TIME_MS ? t : bad('timestampMs must be ms since the epoch');
  }
  if (o.volume !== undefined) {
    const v = o.volume as Record<string, unknown>;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return bad('volume must be an object');
    const side = (x: unknown): boolean => Number.isInteger(x) && (x as number) >= 1 && (x as number) <= MAX_VOLUME_SIDE;
    if (!side(v.width) || !side(v.height) || !side(v.slices)) bad(`volume width, height and slices must be integers in 1..${MAX_VOLUME_SIDE}`);
    const bits = v.bitsPerVoxel ?? 16;
    if (bits !== 8 && bits !== 16 && bits !== 32) bad('volume bitsPerVoxel must be 8, 16 or 32');
    const headerBytes = v.headerBytes ?? 0;
    if (!Number.isSafeInteger(headerBytes) || (headerBytes as number) < 0) bad('volume headerBytes must be a non-negative integer');
    out.volume = {
      width: v.width as number,
      height: v.height as number,
      slices: v.slices as number,
      bitsPerVoxel: bits as 8 | 16 | 32,
      headerBytes: headerBytes as number,
    };
  }
  return out;
}
