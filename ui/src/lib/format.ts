/** Numbers as an operator reads them at arm's length: short, with units, no false precision. */

const nf0 = new Intl.NumberFormat('en', { maximumFractionDigits: 0 });
const nf1 = new Intl.NumberFormat('en', { maximumFractionDigits: 1 });

export function count(n: number): string {
  return nf0.format(n);
}

export function rate(perSecond: number): string {
  return perSecond >= 100 ? nf0.format(perSecond) : nf1.format(perSecond);
}

export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? nf0.format(v) : nf1.format(v)} ${units[i]}`;
}

export function bitsPerSecond(n: number): string {
  const units = ['bit/s', 'kbit/s', 'Mbit/s', 'Gbit/s'];
  let v = n;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${nf1.format(v)} ${units[i]}`;
}

export function percent(fraction: number): string {
  return `${nf1.format(fraction * 100)} %`;
}

/** a duration in seconds as "42 s", "3 min 5 s", "2 h 10 min" */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86_400)} d ${Math.floor((s % 86_400) / 3600)} h`;
}

export function time(iso: string): string {
  return new Date(iso).toLocaleTimeString();
}
