/**
 * Where a MongoDB URL points: on the plant's premises or off them. Pure; read by the definition's
 * `capabilities(config)`, so `check-config`, `explain` and the running gateway's routing keep sensitive
 * and confidential records away from an Atlas cluster without anyone setting `premises: off`.
 *
 * Constraint: when in doubt, off. A `mongodb+srv://` URL is a DNS seed list (Atlas's form; a plant
 * server is named by its hosts) and *.mongodb.net is Atlas: off whatever the config says. A host is on
 * the premises when it is loopback, a private or link-local address, or a name that cannot be a public
 * one (single label, .local, .lan, .internal, .home.arpa); another DNS name only when the config says
 * its hosts are the plant's own (`hostOnPremises`). Every host of a multi-host URL must be on.
 */
import { isIP } from 'node:net';

export type Premises = 'on' | 'off';

/** the hosts of a mongodb:// or mongodb+srv:// URL, lower-case, without ports or brackets */
export function urlHosts(url: string): { srv: boolean; hosts: string[] } {
  const m = /^mongodb(\+srv)?:\/\/(?:[^@/]*@)?([^/?#]*)/i.exec(url);
  if (!m) throw new Error(`not a MongoDB URL: ${url.replace(/\/\/[^@/]*@/, '//<redacted>@')}`);
  const hosts = m[2]!
    .split(',')
    .filter(Boolean)
    .map((h) => {
      const v6 = /^\[([^\]]+)\]/.exec(h);
      if (v6) return v6[1]!.toLowerCase();
      return h.replace(/:\d+$/, '').toLowerCase();
    });
  return { srv: m[1] !== undefined, hosts };
}

function privateV4(ip: string): boolean {
  const [a, b] = ip.split('.').map(Number) as [number, number];
  return a === 127 || a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 169 && b === 254);
}

function privateV6(ip: string): boolean {
  if (ip === '::1') return true;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(ip);
  if (mapped) return privateV4(mapped[1]!);
  // fc00::/7 unique local, fe80::/10 link-local
  return /^f[cd][0-9a-f]{0,2}:/.test(ip) || /^fe[89ab][0-9a-f]?:/.test(ip);
}

const LOCAL_SUFFIXES = ['.local', '.lan', '.internal', '.home.arpa', '.localhost'];

/** whether one host is on the premises by its form alone (`trustNames`: any DNS name but Atlas's) */
export function hostOnPremises(host: string, trustNames = false): boolean {
  if (host.endsWith('.mongodb.net') || host === 'mongodb.net') return false;
  const ip = isIP(host);
  if (ip === 4) return privateV4(host);
  if (ip === 6) return privateV6(host);
  if (host === 'localhost' || !host.includes('.')) return true;
  if (LOCAL_SUFFIXES.some((s) => host.endsWith(s))) return true;
  return trustNames;
}

/** The premises a MongoDB URL declares (see the module header). */
export function premisesOfUrl(url: string, trustNames = false): Premises {
  const { srv, hosts } = urlHosts(url);
  if (srv || hosts.length === 0) return 'off';
  return hosts.every((h) => hostOnPremises(h, trustNames)) ? 'on' : 'off';
}
