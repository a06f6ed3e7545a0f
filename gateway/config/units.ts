/**
 * Config value helpers shared by the core schema and plugin schemas: byte sizes ("8GiB"), durations
 * ("7d", "10s", "1h30m"), bit rates ("20Mbit") and secrets. Declared as zod schemas so they validate, transform and
 * document themselves in one place: a unit field carries `{ unit, unitHelp }` in its zod metadata (the
 * format's name and how to write a value), which the reference and the JSON Schema show.
 *
 * Secrets: a field built with `secret()` carries `{ secret: true }` in its zod metadata. Config dumps,
 * validation errors and log lines never show its value. Keys whose names look like credentials
 * (password, secretKey, token, ...) are treated the same way even when a schema forgot to mark them.
 */
import { z } from 'zod';

const BYTE_UNITS: Record<string, number> = {
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1000 ** 4,
  tib: 1024 ** 4,
};

/** Parse "8GiB", "500 MB", "64k", "1048576" or a number of bytes; undefined when not a size. */
export function parseBytes(v: number | string): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? Math.floor(v) : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(v);
  if (!m) return undefined;
  const unit = (m[2] ?? '').toLowerCase() || 'b';
  const mult = BYTE_UNITS[unit];
  if (mult === undefined) return undefined;
  return Math.floor(Number(m[1]) * mult);
}

/**
 * A config field that takes a number or a string with a unit, resolved by `parse` (undefined = not
 * a value of this unit); a bad value is one error naming what was expected and what was found.
 */
function unitField(parse: (v: number | string) => number | undefined, expected: string, unit: string, unitHelp: string) {
  return (
    z
      .union([z.number(), z.string()])
      .transform((v, ctx) => {
        const n = parse(v);
        if (n === undefined) {
          ctx.addIssue({ code: 'custom', message: `expected ${expected}, got ${JSON.stringify(v)}` });
          return z.NEVER;
        }
        return n;
      })
      // the format, not a description: a key's description says what the key is, and is the key's own
      .meta({ unit, unitHelp })
  );
}

/** A byte size: a number of bytes or a string with a unit (B, KB/KiB, MB/MiB, GB/GiB, TB/TiB). */
export function byteSize() {
  return unitField(parseBytes, 'a byte size like 512MiB or 8GiB', 'byte size', 'a number of bytes or a string such as "512MiB", "8GiB", "500MB"');
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Parse "7d", "10s", "1h30m", "250ms" or a number of milliseconds; undefined when not a duration. */
export function parseDuration(v: number | string): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? v : undefined;
  const s = v.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s);
  const re = /(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    matched = re.lastIndex;
  }
  return matched > 0 && matched === s.length ? total : undefined;
}

/** A duration, resolved to milliseconds: a number of ms or a string such as "10s", "7d", "1h30m". */
export function duration() {
  return unitField(parseDuration, 'a duration like 10s, 5m or 7d', 'duration', 'milliseconds, or a string such as "500ms", "10s", "5m", "1h30m", "7d"');
}

/** Parse "20Mbit", "5 Mbit/s", "500kbit", "1Gbit", "unlimited" or a number of bits per second. */
export function parseBitRate(v: number | string): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) && v > 0 ? v : undefined;
  const s = v.trim().toLowerCase();
  if (s === 'unlimited' || s === 'none') return Infinity;
  const m = /^(\d+(?:\.\d+)?)\s*(bit|kbit|mbit|gbit|bps|kbps|mbps|gbps)?(?:\/s)?$/.exec(s);
  if (!m) return undefined;
  const unit = m[2] ?? 'bit';
  const mult = unit.startsWith('k') ? 1e3 : unit.startsWith('m') ? 1e6 : unit.startsWith('g') ? 1e9 : 1;
  const n = Number(m[1]) * mult;
  return n > 0 ? n : undefined;
}

/** A bit rate: "20Mbit", "5 Mbit/s", "800kbit", a number of bits/s, or "unlimited"; resolved to bits/s (Infinity = no cap). */
export function bitRate() {
  return unitField(
    parseBitRate,
    'a bit rate like 20Mbit, 800kbit or unlimited',
    'bit rate',
    'bits per second, or a string such as "20Mbit", "800kbit", "1Gbit", "unlimited"',
  );
}

/** A secret string (password, key, token): never shown in dumps, errors or logs. */
export function secret(description = 'secret') {
  return z.string().min(1).meta({ secret: true, description });
}

/** Key names treated as secret even when the schema does not mark them. */
const SECRET_KEY = /pass(word|wd|phrase)?$|secret|token|credential|private[-_]?key|api[-_]?key|session[-_]?key/i;

export function isSecretKeyName(key: string | number | symbol): boolean {
  return typeof key === 'string' && SECRET_KEY.test(key);
}

export const REDACTED = '<redacted>';
