/**
 * Seeded randomness. Every random value the simulator produces comes from here, so a run is a pure
 * function of (seed, simulated time): two runs with the same seed emit the same bytes.
 *
 * Two kinds: `hash01(...)` gives random access (the value for a given key, no state: melt-pool noise
 * at sample time t, a pixel's texture), and `Mulberry32` gives a cheap sequential stream where the
 * order is fixed (a whole image's texture row by row).
 */

/** 32-bit integer mix (the finaliser of MurmurHash3 with a golden-ratio step); avalanches every bit. */
function mix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** A 32-bit hash of a list of integers (only the low 32 bits of each are used, plus the high part for large numbers). */
export function hash32(...keys: number[]): number {
  let h = 0x9e3779b9;
  for (const k of keys) {
    const lo = k >>> 0;
    const hi = Math.floor(k / 4294967296) >>> 0;
    h = mix32((h ^ lo) + 0x9e3779b9);
    if (hi !== 0) h = mix32((h ^ hi) + 0x7f4a7c15);
  }
  return h;
}

/** Uniform in [0, 1) for the given key. */
export function hash01(...keys: number[]): number {
  return hash32(...keys) / 4294967296;
}

/** Standard normal for the given key (Box-Muller on two hashed uniforms). */
export function hashGauss(...keys: number[]): number {
  const u1 = (hash32(...keys, 1) + 1) / 4294967297;
  const u2 = hash32(...keys, 2) / 4294967296;
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

/** A 32-bit integer from a string (FNV-1a), for seeding from names such as a build id. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** mulberry32: a small, fast, seeded 32-bit generator for sequential streams. */
export class Mulberry32 {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  nextUint32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** uniform in [0, 1) */
  next(): number {
    return this.nextUint32() / 4294967296;
  }
  /** approximately normal (sum of four uniforms, scaled): cheap enough for per-pixel use */
  nextGaussApprox(): number {
    return (this.next() + this.next() + this.next() + this.next() - 2) * 1.7320508;
  }
}
