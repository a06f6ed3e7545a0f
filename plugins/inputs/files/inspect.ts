/**
 * What can be read cheaply from a build file, CAD model or CT scan without trusting it: counts,
 * bounding boxes, dimensions and ids, each read by a bounded parser of our own (or yauzl and
 * dicom-parser, which only index the bytes). Nothing is executed, rendered, decompressed beyond the
 * zip limits (./zip.ts) or extracted to disk.
 *
 * Design constraints:
 * - Every reader checks sizes and offsets against the bytes it has: a TIFF strip, a DICOM pixel data
 *   element or a STEP file ending past the end is `truncated`; a binary STL whose triangle count does
 *   not give its size, or a vendor volume whose sidecar layout does not, is `size-mismatch`; a zip
 *   past its limits is `zip-bomb`; what does not parse is `corrupt`. Each is a `FileRejected`.
 * - DICOM: only the tags listed in `DICOM_TAGS` are read; patient fields (group 0010: name, ID,
 *   birth date, ...) and anything else naming a person are never read into the metadata.
 * - Text read out of a file into the metadata (UIDs, units, schema names) is filtered to a small
 *   alphabet and length, so a hostile file cannot put arbitrary text into a record.
 */
import path from 'node:path';
import dicomParser from 'dicom-parser';
import { FileRejected } from './file.js';
import type { FileHints } from './file.js';
import type { FileType } from './schema.js';
import { SafeZip } from './zip.js';
import type { ZipLimits } from './zip.js';

export interface Inspection {
  /** what the reader recognised: 3mf, stl, step, cli, zip, json, tiff, dicom, volume, or opaque (no reader) */
  format: string;
  contentType: string;
  /** a type the content decides (a zip of slices is a CT scan) */
  detectedType?: FileType;
  /** format-specific facts (see README.md) */
  content: Record<string, unknown>;
}

type Vec3 = [number, number, number];
export interface BoundingBox {
  min: Vec3;
  max: Vec3;
}

class Bounds {
  private readonly min: Vec3 = [Infinity, Infinity, Infinity];
  private readonly max: Vec3 = [-Infinity, -Infinity, -Infinity];
  add(x: number, y: number, z: number): void {
    if (x < this.min[0]) this.min[0] = x;
    if (y < this.min[1]) this.min[1] = y;
    if (z < this.min[2]) this.min[2] = z;
    if (x > this.max[0]) this.max[0] = x;
    if (y > this.max[1]) this.max[1] = y;
    if (z > this.max[2]) this.max[2] = z;
  }
  get box(): BoundingBox | null {
    return this.min[0] === Infinity ? null : { min: [...this.min], max: [...this.max] };
  }
}

/** a short token from a file, kept only when made of safe characters (UIDs, units, names of schemas) */
function token(v: unknown, max = 64, alphabet = /^[A-Za-z0-9._ -]*$/): string | undefined {
  if (typeof v !== 'string') return undefined;
  const t = v.replace(/\0+$/, '').trim();
  return t.length > 0 && t.length <= max && alphabet.test(t) ? t : undefined;
}

const CONTENT_TYPES: Record<string, string> = {
  '3mf': 'model/3mf',
  stl: 'model/stl',
  step: 'model/step',
  cli: 'application/octet-stream',
  zip: 'application/zip',
  json: 'application/json',
  tiff: 'image/tiff',
  dicom: 'application/dicom',
  volume: 'application/octet-stream',
  opaque: 'application/octet-stream',
};

const FORMAT_BY_EXT: Record<string, string> = {
  '.3mf': '3mf',
  '.stl': 'stl',
  '.step': 'step',
  '.stp': 'step',
  '.cli': 'cli',
  '.zip': 'zip',
  '.json': 'json',
  '.tif': 'tiff',
  '.tiff': 'tiff',
  '.dcm': 'dicom',
  '.vol': 'volume',
  '.raw': 'volume',
};

/** The reader a file name selects; `opaque` for an extension the config maps to a type but no reader knows. */
export function formatOf(name: string): string {
  return FORMAT_BY_EXT[path.extname(name).toLowerCase()] ?? 'opaque';
}

export async function inspect(name: string, bytes: Buffer, hints: FileHints, limits: ZipLimits): Promise<Inspection> {
  const format = formatOf(name);
  const done = (content: Record<string, unknown>, detectedType?: FileType): Inspection => ({
    format,
    contentType: CONTENT_TYPES[format]!,
    content,
    ...(detectedType ? { detectedType } : {}),
  });
  switch (format) {
    case 'stl':
      return done(inspectStl(bytes, name));
    case '3mf':
      return done(await inspect3mf(bytes, name, limits));
    case 'step':
      return done(inspectStep(bytes, name));
    case 'cli':
      return done(inspectCli(bytes, name));
    case 'json':
      return done(inspectJson(bytes, name));
    case 'tiff':
      return done(inspectTiff(bytes, name));
    case 'dicom':
      return done(inspectDicom(bytes, name));
    case 'volume':
      return done(inspectVolume(bytes, name, hints));
    case 'zip': {
      const z = await inspectZip(bytes, name, limits);
      return done(z.content, z.detectedType);
    }
    default:
      return done({});
  }
}

// ---- STL -------------------------------------------------------------------------------------------

/** ASCII or binary STL: triangle count and bounding box. */
export function inspectStl(bytes: Buffer, where: string): Record<string, unknown> {
  const head = bytes.subarray(0, Math.min(bytes.length, 1024)).toString('latin1');
  const binarySized = bytes.length >= 84 && bytes.length === 84 + 50 * bytes.readUInt32LE(80);
  // a binary STL may start with "solid" too: its exact size decides; an ASCII one has facets and no NUL
  const ascii = !binarySized && /^\s*solid\b/.test(head) && !head.includes('\0');
  if (!ascii) {
    if (bytes.length < 84) throw new FileRejected('truncated', `${where}: a binary STL has an 84-byte header; the file has ${bytes.length} bytes`);
    const n = bytes.readUInt32LE(80);
    if (!binarySized) {
      throw new FileRejected('size-mismatch', `${where}: binary STL header says ${n} triangles (${84 + 50 * n} bytes), the file has ${bytes.length} bytes`);
    }
    const b = new Bounds();
    for (let i = 0; i < n; i++) {
      const o = 84 + 50 * i + 12; // past the normal
      for (let v = 0; v < 3; v++) {
        const x = bytes.readFloatLE(o + v * 12);
        const y = bytes.readFloatLE(o + v * 12 + 4);
        const z = bytes.readFloatLE(o + v * 12 + 8);
        if (!Number.isFinite(x) || !Number.isFinite(y) || !Number.isFinite(z)) {
          throw new FileRejected('corrupt', `${where}: binary STL triangle ${i} has a vertex that is not a finite number`);
        }
        b.add(x, y, z);
      }
    }
    return { encoding: 'binary', triangles: n, boundingBox: b.box };
  }
  const text = bytes.toString('latin1');
  if (text.includes('\0')) throw new FileRejected('corrupt', `${where}: ASCII STL holds NUL bytes`);
  let facets = 0;
  for (const _ of text.matchAll(/\bfacet\s+normal\b/g)) facets++;
  let vertices = 0;
  const b = new Bounds();
  for (const m of text.matchAll(/\bvertex\s+(\S+)\s+(\S+)\s+(\S+)/g)) {
    const x = Number(m[1]);
    const y = Number(m[2]);
    const z = Number(m[3]);
    if (!Number.isFinite(x) || !Number.isFinite(y) || !Number.isFinite(z)) {
      throw new FileRejected('corrupt', `${where}: ASCII STL vertex ${vertices} is not three finite numbers`);
    }
    b.add(x, y, z);
    vertices++;
  }
  if (!/\bendsolid\b/.test(text.slice(-4096))) throw new FileRejected('truncated', `${where}: ASCII STL has no endsolid`);
  if (vertices !== 3 * facets) throw new FileRejected('corrupt', `${where}: ASCII STL has ${facets} facets but ${vertices} vertices`);
  return { encoding: 'ascii', triangles: facets, boundingBox: b.box };
}

// ---- 3MF -------------------------------------------------------------------------------------------

/** The longest tag the 3MF scanner holds while it waits for its `>` (a longer one is not a model). */
const MAX_TAG = 1 << 20;

/** 3MF: objects, vertices, triangles and the bounding box of every model part, streamed out of the zip. */
export async function inspect3mf(bytes: Buffer, where: string, limits: ZipLimits): Promise<Record<string, unknown>> {
  const zip = await SafeZip.open(bytes, limits, where);
  try {
    const models = zip.entries.filter((e) => /^\/?3D\/.*\.model$/i.test(e.name));
    if (models.length === 0) throw new FileRejected('corrupt', `${where}: a 3MF package needs a 3D/*.model part; none found`);
    let objects = 0;
    let vertices = 0;
    let triangles = 0;
    let unit: string | undefined;
    const b = new Bounds();
    const tag = /<(?:[A-Za-z_][\w.-]*:)?(vertex|triangle|object|model)\b([^>]*)>/g;
    const attr = /\b([xyz]|unit)\s*=\s*"([^"]*)"/g;
    for (const m of models) {
      const decoder = new TextDecoder('utf-8');
      let carry = '';
      const scan = (text: string): void => {
        for (const t of text.matchAll(tag)) {
          const kind = t[1];
          if (kind === 'triangle') triangles++;
          else if (kind === 'object') objects++;
          else if (kind === 'model') unit ??= token([...t[2]!.matchAll(attr)].find((a) => a[1] === 'unit')?.[2], 32);
          else {
            let x = Number.NaN;
            let y = Number.NaN;
            let z = Number.NaN;
            for (const a of t[2]!.matchAll(attr)) {
              if (a[1] === 'x') x = Number(a[2]);
              else if (a[1] === 'y') y = Number(a[2]);
              else if (a[1] === 'z') z = Number(a[2]);
            }
            if (!Number.isFinite(x) || !Number.isFinite(y) || !Number.isFinite(z)) {
              throw new FileRejected('corrupt', `${where}: 3MF vertex ${vertices} of ${m.name.slice(0, 200)} has no finite x, y and z`);
            }
            b.add(x, y, z);
            vertices++;
          }
        }
      };
      await zip.read(m.name, (chunk) => {
        carry += decoder.decode(chunk, { stream: true });
        const end = carry.lastIndexOf('>');
        if (end < 0) {
          if (carry.length > MAX_TAG) throw new FileRejected('corrupt', `${where}: ${m.name.slice(0, 200)} has a tag longer than ${MAX_TAG} characters`);
          return;
        }
        scan(carry.slice(0, end + 1));
        carry = carry.slice(end + 1);
        if (carry.length > MAX_TAG) throw new FileRejected('corrupt', `${where}: ${m.name.slice(0, 200)} has a tag longer than ${MAX_TAG} characters`);
      });
      scan(carry + decoder.decode());
    }
    return { modelParts: models.length, objects, vertices, triangles, unit: unit ?? 'millimeter', boundingBox: b.box, zipEntries: zip.entries.length };
  } finally {
    zip.close();
  }
}

// ---- STEP ------------------------------------------------------------------------------------------

/** STEP (ISO 10303-21): the schema names of its header; FILE_NAME (authors, organisation) is never read. */
export function inspectStep(bytes: Buffer, where: string): Record<string, unknown> {
  const head = bytes.subarray(0, Math.min(bytes.length, 65536)).toString('latin1');
  if (!/^\uFEFF?\s*ISO-10303-21\s*;/.test(head.replace(/^\xEF\xBB\xBF/, ''))) {
    throw new FileRejected('corrupt', `${where}: a STEP file starts with ISO-10303-21;`);
  }
  const tail = bytes.subarray(Math.max(0, bytes.length - 1024)).toString('latin1');
  if (!/END-ISO-10303-21\s*;\s*$/.test(tail)) throw new FileRejected('truncated', `${where}: STEP file does not end with END-ISO-10303-21;`);
  const schemaList = /FILE_SCHEMA\s*\(\s*\(([^)]*)\)/i.exec(head)?.[1] ?? '';
  const schemas = [...schemaList.matchAll(/'([^']*)'/g)]
    .map((m) => token(m[1], 64, /^[A-Za-z0-9_ {}.-]*$/))
    .filter((s): s is string => s !== undefined)
    .slice(0, 4);
  return { schemas };
}

// ---- CLI (Common Layer Interface) --------------------------------------------------------------------

/** CLI: the header's units, version, layer count and dimension (the bounding box), ASCII or binary. */
export function inspectCli(bytes: Buffer, where: string): Record<string, unknown> {
  const head = bytes.subarray(0, Math.min(bytes.length, 65536)).toString('latin1');
  const start = head.indexOf('$$HEADERSTART');
  if (start < 0) throw new FileRejected('corrupt', `${where}: a CLI file starts its header with $$HEADERSTART`);
  const end = head.indexOf('$$HEADEREND', start);
  if (end < 0) {
    throw new FileRejected(bytes.length < 65536 ? 'truncated' : 'corrupt', `${where}: CLI header has no $$HEADEREND in its first 64 KiB`);
  }
  const header = head.slice(start, end);
  const field = (k: string): string | undefined => new RegExp(`\\$\\$${k}/([^\\r\\n$]*)`).exec(header)?.[1]?.trim();
  const out: Record<string, unknown> = { encoding: /\$\$BINARY\b/.test(header) ? 'binary' : 'ascii' };
  const units = Number(field('UNITS'));
  if (Number.isFinite(units) && units > 0) out.unitsMm = units;
  const version = token(field('VERSION'), 16);
  if (version) out.version = version;
  const layers = field('LAYERS');
  if (layers !== undefined && /^\d{1,9}$/.test(layers)) out.layers = Number(layers);
  const dim = field('DIMENSION')
    ?.split(',')
    .map((s) => Number(s));
  if (dim && dim.length === 6 && dim.every(Number.isFinite)) out.boundingBox = { min: dim.slice(0, 3), max: dim.slice(3, 6) };
  return out;
}

// ---- job JSON --------------------------------------------------------------------------------------

/** A job JSON must parse; its top-level key names (at most 50, short, plain) are kept, never its values. */
export function inspectJson(bytes: Buffer, where: string): Record<string, unknown> {
  let j: unknown;
  try {
    j = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new FileRejected('corrupt', `${where}: job JSON does not parse (${(err as Error).message.slice(0, 200)})`);
  }
  if (Array.isArray(j)) return { topLevel: 'array', items: j.length };
  if (typeof j !== 'object' || j === null) return { topLevel: typeof j };
  const keys = Object.keys(j);
  return {
    topLevel: 'object',
    keys: keys
      .slice(0, 50)
      .map((k) => token(k, 64, /^[A-Za-z0-9_.-]*$/))
      .filter((k) => k !== undefined),
    keyCount: keys.length,
  };
}

// ---- TIFF ------------------------------------------------------------------------------------------

/** Every IFD of a (classic) TIFF: page count, first page's width, height, bits, samples; strips checked against the file's end. */
export function inspectTiff(bytes: Buffer, where: string): Record<string, unknown> {
  const bad = (reason: 'corrupt' | 'truncated', what: string): never => {
    throw new FileRejected(reason, `${where}: TIFF ${what}`);
  };
  if (bytes.length < 8) bad('truncated', `header needs 8 bytes, the file has ${bytes.length}`);
  const order = bytes.toString('latin1', 0, 2);
  if (order !== 'II' && order !== 'MM') bad('corrupt', 'does not start with II or MM');
  const le = order === 'II';
  const u16 = (o: number): number => (le ? bytes.readUInt16LE(o) : bytes.readUInt16BE(o));
  const u32 = (o: number): number => (le ? bytes.readUInt32LE(o) : bytes.readUInt32BE(o));
  const magic = u16(2);
  if (magic === 43) throw new FileRejected('unknown-format', `${where}: BigTIFF is not read by this input; convert to a classic TIFF stack or DICOM`);
  if (magic !== 42) bad('corrupt', `magic is ${magic}, not 42`);
  const SIZES: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8 };
  /** the values of one IFD entry (SHORT or LONG), bounded by the file */
  const values = (entry: number): number[] => {
    const type = u16(entry + 2);
    const count = u32(entry + 4);
    const size = SIZES[type];
    if (size === undefined) return [];
    if (type !== 3 && type !== 4) return [];
    const bytesNeeded = size * count;
    let at = entry + 8;
    if (bytesNeeded > 4) {
      at = u32(entry + 8);
      if (at + bytesNeeded > bytes.length) bad('truncated', `an IFD entry's values at ${at} (${bytesNeeded} bytes) end past the file (${bytes.length} bytes)`);
    }
    const out: number[] = new Array(count);
    for (let i = 0; i < count; i++) out[i] = type === 3 ? u16(at + 2 * i) : u32(at + 4 * i);
    return out;
  };
  const visited = new Set<number>();
  const pages: { width: number; height: number; bits: number; samples: number; compression: number }[] = [];
  let ifd = u32(4);
  while (ifd !== 0) {
    if (visited.has(ifd)) bad('corrupt', `IFD chain loops back to offset ${ifd}`);
    visited.add(ifd);
    if (ifd + 2 > bytes.length) bad('truncated', `IFD ${pages.length} at ${ifd} is past the file's end (${bytes.length} bytes)`);
    const n = u16(ifd);
    if (ifd + 2 + 12 * n + 4 > bytes.length) bad('truncated', `IFD ${pages.length} at ${ifd} (${n} entries) ends past the file's end (${bytes.length} bytes)`);
    const tags = new Map<number, number>();
    for (let i = 0; i < n; i++) tags.set(u16(ifd + 2 + 12 * i), ifd + 2 + 12 * i);
    const one = (tag: number): number | undefined => {
      const e = tags.get(tag);
      return e === undefined ? undefined : values(e)[0];
    };
    const width = one(256);
    const height = one(257);
    if (!width || !height) bad('corrupt', `page ${pages.length} has no width or height`);
    const offsetsTag = tags.has(273) ? 273 : tags.has(324) ? 324 : undefined;
    const countsTag = offsetsTag === 273 ? 279 : 325;
    if (offsetsTag === undefined || !tags.has(countsTag)) bad('corrupt', `page ${pages.length} has no strips or tiles`);
    const offsets = values(tags.get(offsetsTag!)!);
    const counts = values(tags.get(countsTag)!);
    if (offsets.length !== counts.length) bad('corrupt', `page ${pages.length} has ${offsets.length} strip offsets but ${counts.length} byte counts`);
    for (let i = 0; i < offsets.length; i++) {
      if (offsets[i]! + counts[i]! > bytes.length) {
        bad('truncated', `page ${pages.length}: strip ${i} (${counts[i]} bytes at ${offsets[i]}) ends past the file's end (${bytes.length} bytes)`);
      }
    }
    pages.push({ width: width!, height: height!, bits: one(258) ?? 1, samples: one(277) ?? 1, compression: one(259) ?? 1 });
    ifd = u32(ifd + 2 + 12 * n);
  }
  if (pages.length === 0) bad('corrupt', 'has no page');
  const first = pages[0]!;
  const uniform = pages.every((p) => p.width === first.width && p.height === first.height && p.bits === first.bits);
  return {
    pages: pages.length,
    width: first.width,
    height: first.height,
    bitsPerSample: first.bits,
    samplesPerPixel: first.samples,
    compression: first.compression,
    uniform,
  };
}

// ---- DICOM -----------------------------------------------------------------------------------------

/** The only DICOM tags read (never group 0010, the patient, nor any other person's name). */
export const DICOM_TAGS = {
  transferSyntaxUid: 'x00020010',
  sopClassUid: 'x00080016',
  modality: 'x00080060',
  studyInstanceUid: 'x0020000d',
  seriesInstanceUid: 'x0020000e',
  seriesNumber: 'x00200011',
  instanceNumber: 'x00200013',
  numberOfFrames: 'x00280008',
  rows: 'x00280010',
  columns: 'x00280011',
  bitsAllocated: 'x00280100',
  bitsStored: 'x00280101',
} as const;

const UID = /^[0-9.]*$/;

/** DICOM Part 10: study/series ids, modality, rows, columns, bits; the pixel data checked against the file's end. */
export function inspectDicom(bytes: Buffer, where: string): Record<string, unknown> {
  if (bytes.length < 132 || bytes.toString('latin1', 128, 132) !== 'DICM') {
    throw new FileRejected('corrupt', `${where}: not DICOM Part 10: no 128-byte preamble followed by DICM`);
  }
  let ds: ReturnType<typeof dicomParser.parseDicom>;
  try {
    ds = dicomParser.parseDicom(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (err) {
    const msg = err instanceof Error ? err.message : typeof err === 'string' ? err : ((err as { exception?: string })?.exception ?? 'unreadable');
    throw new FileRejected(
      /end of buffer|past the end|buffer overread|beyond/i.test(msg) ? 'truncated' : 'corrupt',
      `${where}: DICOM does not parse (${msg.slice(0, 200)})`,
    );
  }
  const pixels = ds.elements.x7fe00010;
  if (pixels && pixels.length > 0 && pixels.dataOffset + pixels.length > bytes.length) {
    throw new FileRejected(
      'truncated',
      `${where}: DICOM pixel data (${pixels.length} bytes at ${pixels.dataOffset}) ends past the file's end (${bytes.length} bytes)`,
    );
  }
  const text = (tag: string, alphabet?: RegExp): string | undefined => token(ds.string(tag), 64, alphabet);
  const int = (tag: string): number | undefined => {
    const v = text(tag, /^[+-]?\d+$/);
    return v === undefined ? undefined : Number(v);
  };
  const out: Record<string, unknown> = {
    studyInstanceUid: text(DICOM_TAGS.studyInstanceUid, UID),
    seriesInstanceUid: text(DICOM_TAGS.seriesInstanceUid, UID),
    sopClassUid: text(DICOM_TAGS.sopClassUid, UID),
    transferSyntaxUid: text(DICOM_TAGS.transferSyntaxUid, UID),
    modality: text(DICOM_TAGS.modality, /^[A-Z0-9_]*$/),
    seriesNumber: int(DICOM_TAGS.seriesNumber),
    instanceNumber: int(DICOM_TAGS.instanceNumber),
    numberOfFrames: int(DICOM_TAGS.numberOfFrames),
    rows: ds.uint16(DICOM_TAGS.rows),
    columns: ds.uint16(DICOM_TAGS.columns),
    bitsAllocated: ds.uint16(DICOM_TAGS.bitsAllocated),
    bitsStored: ds.uint16(DICOM_TAGS.bitsStored),
  };
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  return out;
}

// ---- vendor volume ---------------------------------------------------------------------------------

/** A vendor volume: its sidecar's layout must give the file's size exactly. */
export function inspectVolume(bytes: Buffer, where: string, hints: FileHints): Record<string, unknown> {
  const v = hints.volume;
  if (!v) throw new FileRejected('bad-sidecar', `${where}: a volume file needs a sidecar with volume: {width, height, slices, bitsPerVoxel}`);
  const expected = v.headerBytes + (v.width * v.height * v.slices * v.bitsPerVoxel) / 8;
  if (expected !== bytes.length) {
    throw new FileRejected('size-mismatch', `${where}: the sidecar's volume layout gives ${expected} bytes, the file has ${bytes.length}`);
  }
  return { width: v.width, height: v.height, slices: v.slices, bitsPerVoxel: v.bitsPerVoxel, headerBytes: v.headerBytes };
}

// ---- zip: vendor job archive or a zipped slice stack ----------------------------------------------

const SLICE = /\.(tiff?|dcm)$/i;

/** A zip: a CT slice stack when every file in it is a TIFF or DICOM slice (the first one is read), else a job archive. */
export async function inspectZip(bytes: Buffer, where: string, limits: ZipLimits): Promise<{ content: Record<string, unknown>; detectedType?: FileType }> {
  const zip = await SafeZip.open(bytes, limits, where);
  try {
    const files = zip.entries.filter((e) => !e.name.endsWith('/'));
    const expandedBytes = files.reduce((s, e) => s + e.uncompressedSize, 0);
    if (files.length > 0 && files.every((e) => SLICE.test(e.name))) {
      const dicom = files.every((e) => /\.dcm$/i.test(e.name));
      const tiff = files.every((e) => /\.tiff?$/i.test(e.name));
      if (!dicom && !tiff) throw new FileRejected('corrupt', `${where}: a slice stack holds TIFF or DICOM slices, not both`);
      const first = [...files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))[0]!;
      const chunks: Buffer[] = [];
      await zip.read(first.name, (c) => chunks.push(c));
      const slice = Buffer.concat(chunks);
      const firstSlice = dicom ? inspectDicom(slice, `${where}!${first.name.slice(0, 200)}`) : inspectTiff(slice, `${where}!${first.name.slice(0, 200)}`);
      return { content: { slices: files.length, sliceFormat: dicom ? 'dicom' : 'tiff', expandedBytes, firstSlice }, detectedType: 'ct-scan' };
    }
    const byExtension: Record<string, number> = {};
    for (const e of files) {
      const ext = token(path.extname(e.name).toLowerCase(), 16, /^\.[a-z0-9]*$/) ?? '(none)';
      byExtension[ext] = (byExtension[ext] ?? 0) + 1;
    }
    return { content: { entries: files.length, expandedBytes, byExtension } };
  } finally {
    zip.close();
  }
}
