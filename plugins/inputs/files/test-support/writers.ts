/**
 * Small writers of the files the files input reads, for tests only: a zip (stored or deflated
 * entries, with sizes that may lie), binary and ASCII STL, a 3MF package, a multi-page TIFF
 * (uncompressed, 16-bit grey) and a DICOM Part 10 file (explicit VR little endian). Each writes the
 * minimum its format needs, so a test controls every byte.
 */
import { crc32, deflateRawSync } from 'node:zlib';

export interface ZipEntry {
  name: string;
  data: Buffer;
  /** deflate the entry (default: store) */
  deflate?: boolean;
}

/** A zip with the given entries (no zip64, no data descriptors). */
export function writeZip(entries: ZipEntry[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, 'utf8');
    const body = e.deflate ? deflateRawSync(e.data) : e.data;
    const crc = crc32(e.data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x0800, 6); // utf-8 names
    local.writeUInt16LE(e.deflate ? 8 : 0, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(e.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt16LE(e.deflate ? 8 : 0, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(body.length, 20);
    central.writeUInt32LE(e.data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, body);
    centrals.push(central, name);
    offset += local.length + name.length + body.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

type Tri = [[number, number, number], [number, number, number], [number, number, number]];

/** A unit-ish tetrahedron scaled by `s` and moved by `at`: 4 triangles. */
export function tetra(s = 10, at: [number, number, number] = [0, 0, 0]): Tri[] {
  const p = (x: number, y: number, z: number): [number, number, number] => [at[0] + x * s, at[1] + y * s, at[2] + z * s];
  const a = p(0, 0, 0);
  const b = p(1, 0, 0);
  const c = p(0, 1, 0);
  const d = p(0, 0, 1);
  return [
    [a, c, b],
    [a, b, d],
    [a, d, c],
    [b, c, d],
  ];
}

/** A binary STL; `header` is put into the 80-byte header (e.g. a marker), `claim` overrides the triangle count. */
export function binaryStl(tris: Tri[], header = 'layergate test', claim?: number): Buffer {
  const b = Buffer.alloc(84 + 50 * tris.length);
  b.write(header.slice(0, 80), 0, 'latin1');
  b.writeUInt32LE(claim ?? tris.length, 80);
  tris.forEach((t, i) => {
    const o = 84 + 50 * i;
    for (const [j, v] of t.entries()) for (const [k, x] of v.entries()) b.writeFloatLE(x, o + 12 + j * 12 + k * 4);
  });
  return b;
}

export function asciiStl(tris: Tri[], name = 'part'): Buffer {
  const lines = [`solid ${name}`];
  for (const t of tris) {
    lines.push('  facet normal 0 0 0', '    outer loop');
    for (const v of t) lines.push(`      vertex ${v[0]} ${v[1]} ${v[2]}`);
    lines.push('    endloop', '  endfacet');
  }
  lines.push(`endsolid ${name}`);
  return Buffer.from(lines.join('\n'));
}

/** The model XML of a 3MF with one object per mesh; `comment` lands in the XML (e.g. a marker). */
export function modelXml(meshes: Tri[][], comment = ''): string {
  const objects = meshes.map((tris, id) => {
    const verts: string[] = [];
    const triangles: string[] = [];
    for (const t of tris) {
      const idx = t.map((v) => {
        verts.push(`<vertex x="${v[0]}" y="${v[1]}" z="${v[2]}"/>`);
        return verts.length - 1;
      });
      triangles.push(`<triangle v1="${idx[0]}" v2="${idx[1]}" v3="${idx[2]}"/>`);
    }
    return `<object id="${id + 1}" type="model"><mesh><vertices>${verts.join('')}</vertices><triangles>${triangles.join('')}</triangles></mesh></object>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>\n<!-- ${comment} -->\n<model unit="millimeter" xmlns="http://schemas.microsoft.com/3dmanufacturing/core/2015/02"><resources>${objects.join('')}</resources><build>${meshes.map((_, i) => `<item objectid="${i + 1}"/>`).join('')}</build></model>`;
}

/** A 3MF package: content types, the root relationship and the model part. */
export function threeMf(xml: string, opts: { deflate?: boolean } = {}): Buffer {
  return writeZip([
    {
      name: '[Content_Types].xml',
      data: Buffer.from(
        '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="model" ContentType="application/vnd.ms-package.3dmanufacturing-3dmodel+xml"/></Types>',
      ),
    },
    {
      name: '_rels/.rels',
      data: Buffer.from(
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Target="/3D/3dmodel.model" Id="rel0" Type="http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel"/></Relationships>',
      ),
    },
    { name: '3D/3dmodel.model', data: Buffer.from(xml), deflate: opts.deflate ?? true },
  ]);
}

/** A multi-page, uncompressed, 16-bit grey little-endian TIFF: one strip per page. */
export function tiffStack(width: number, height: number, pages: number, fill: (page: number, x: number, y: number) => number = (p) => p * 100): Buffer {
  const parts: Buffer[] = [];
  const header = Buffer.alloc(8);
  header.write('II', 0, 'latin1');
  header.writeUInt16LE(42, 2);
  parts.push(header);
  let offset = 8;
  const n = 9;
  const ifdSize = 2 + 12 * n + 4;
  for (let p = 0; p < pages; p++) {
    const pixels = Buffer.alloc(width * height * 2);
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) pixels.writeUInt16LE(fill(p, x, y) & 0xffff, 2 * (y * width + x));
    const ifdAt = offset;
    const dataAt = ifdAt + ifdSize;
    const ifd = Buffer.alloc(ifdSize);
    ifd.writeUInt16LE(n, 0);
    const entries: [number, number, number][] = [
      [256, 4, width],
      [257, 4, height],
      [258, 3, 16],
      [259, 3, 1],
      [262, 3, 1],
      [273, 4, dataAt],
      [277, 3, 1],
      [278, 4, height],
      [279, 4, pixels.length],
    ];
    entries.forEach(([tag, type, value], i) => {
      const o = 2 + 12 * i;
      ifd.writeUInt16LE(tag, o);
      ifd.writeUInt16LE(type, o + 2);
      ifd.writeUInt32LE(1, o + 4);
      if (type === 3) ifd.writeUInt16LE(value, o + 8);
      else ifd.writeUInt32LE(value, o + 8);
    });
    const next = p === pages - 1 ? 0 : dataAt + pixels.length;
    ifd.writeUInt32LE(next, 2 + 12 * n);
    if (p === 0) header.writeUInt32LE(ifdAt, 4);
    parts.push(ifd, pixels);
    offset = dataAt + pixels.length;
  }
  return Buffer.concat(parts);
}

interface DicomElement {
  group: number;
  element: number;
  vr: string;
  value: Buffer;
}

const str = (s: string): Buffer => {
  const b = Buffer.from(s, 'latin1');
  return b.length % 2 === 0 ? b : Buffer.concat([b, Buffer.from(' ')]);
};
const uid = (s: string): Buffer => {
  const b = Buffer.from(s, 'latin1');
  return b.length % 2 === 0 ? b : Buffer.concat([b, Buffer.from([0])]);
};
const us = (n: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return b;
};

function element(e: DicomElement): Buffer {
  const long = ['OB', 'OW', 'OF', 'SQ', 'UT', 'UN'].includes(e.vr);
  const h = Buffer.alloc(long ? 12 : 8);
  h.writeUInt16LE(e.group, 0);
  h.writeUInt16LE(e.element, 2);
  h.write(e.vr, 4, 'latin1');
  if (long) h.writeUInt32LE(e.value.length, 8);
  else h.writeUInt16LE(e.value.length, 6);
  return Buffer.concat([h, e.value]);
}

export interface DicomSlice {
  studyUid: string;
  seriesUid: string;
  instance: number;
  rows: number;
  columns: number;
  patientName: string;
  patientId: string;
  /** leave the 128-byte preamble and DICM out */
  noPreamble?: boolean;
}

/** A CT slice: DICOM Part 10, explicit VR little endian, 16-bit pixels. */
export function dicomSlice(s: DicomSlice): Buffer {
  const sopUid = `${s.seriesUid}.${s.instance}`;
  const dataset = [
    { group: 0x0008, element: 0x0016, vr: 'UI', value: uid('1.2.840.10008.5.1.4.1.1.2') },
    { group: 0x0008, element: 0x0018, vr: 'UI', value: uid(sopUid) },
    { group: 0x0008, element: 0x0060, vr: 'CS', value: str('CT') },
    { group: 0x0010, element: 0x0010, vr: 'PN', value: str(s.patientName) },
    { group: 0x0010, element: 0x0020, vr: 'LO', value: str(s.patientId) },
    { group: 0x0010, element: 0x0030, vr: 'DA', value: str('19700101') },
    { group: 0x0020, element: 0x000d, vr: 'UI', value: uid(s.studyUid) },
    { group: 0x0020, element: 0x000e, vr: 'UI', value: uid(s.seriesUid) },
    { group: 0x0020, element: 0x0013, vr: 'IS', value: str(String(s.instance)) },
    { group: 0x0028, element: 0x0010, vr: 'US', value: us(s.rows) },
    { group: 0x0028, element: 0x0011, vr: 'US', value: us(s.columns) },
    { group: 0x0028, element: 0x0100, vr: 'US', value: us(16) },
    { group: 0x0028, element: 0x0101, vr: 'US', value: us(12) },
    { group: 0x7fe0, element: 0x0010, vr: 'OW', value: Buffer.alloc(s.rows * s.columns * 2, s.instance) },
  ].map(element);
  const metaElements = [
    { group: 0x0002, element: 0x0001, vr: 'OB', value: Buffer.from([0, 1]) },
    { group: 0x0002, element: 0x0002, vr: 'UI', value: uid('1.2.840.10008.5.1.4.1.1.2') },
    { group: 0x0002, element: 0x0003, vr: 'UI', value: uid(sopUid) },
    { group: 0x0002, element: 0x0010, vr: 'UI', value: uid('1.2.840.10008.1.2.1') },
  ].map(element);
  const metaBody = Buffer.concat(metaElements);
  const groupLength = element({ group: 0x0002, element: 0x0000, vr: 'UL', value: Buffer.from(Uint32Array.of(metaBody.length).buffer) });
  const body = Buffer.concat([groupLength, metaBody, ...dataset]);
  return s.noPreamble ? body : Buffer.concat([Buffer.alloc(128), Buffer.from('DICM'), body]);
}
