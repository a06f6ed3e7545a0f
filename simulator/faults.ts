/**
 * Faults (what goes wrong between a machine and the gateway) and defects (what goes wrong in the
 * build itself, visible in the camera images), both switchable at run time through CLI flags and
 * the control API. A switchboard holds which are on and with which parameters; the generators and
 * transports consult it. Faults that pick "every n-th message" key on the message's sequence number,
 * so with the same seed and the same switching the same messages are hit.
 */
import { SimulatorRequestError as ConditionError } from './errors.js';
import { hash32 } from './prng.js';

export interface ParamSpec {
  type: 'number' | 'string' | 'boolean';
  default: number | string | boolean | undefined;
  description: string;
}
export interface ConditionSpec {
  description: string;
  /** one-shot: switching it on performs an action once (a restart) instead of a lasting condition */
  oneShot?: boolean;
  /** the parameter a bare value (`--fault clock-skew=5000`) sets */
  primary?: string;
  params: Record<string, ParamSpec>;
}

const every = (n: number, what: string): ParamSpec => ({ type: 'number', default: n, description: `hit every n-th ${what} (by sequence number)` });

export const FAULTS: Record<string, ConditionSpec> = {
  'sensor-dropout': {
    description:
      'sensors stop delivering: melt-pool blocks are not sent (a time gap, seq stays contiguous), OPC-UA process values go Bad (BadNoCommunication), Sparkplug metrics are sent as null',
    params: {},
  },
  nan: {
    description: 'NaN values: every n-th melt-pool sample and every n-th process-value sample is NaN (null in JSON)',
    primary: 'every',
    params: { every: every(50, 'sample') },
  },
  'out-of-range': {
    description: 'physically impossible values: every n-th sample is out of range (negative O2, 1e6 V photodiode, -300 °C)',
    primary: 'every',
    params: { every: every(50, 'sample') },
  },
  malformed: {
    description:
      'malformed payloads: every n-th melt-pool message is truncated to half its bytes (mode=truncate) or has its first 16 bytes overwritten (mode=garbage)',
    primary: 'every',
    params: { every: every(10, 'message'), mode: { type: 'string', default: 'truncate', description: 'truncate | garbage' } },
  },
  duplicate: {
    description: 'every n-th melt-pool message is published twice (same bytes, same seq)',
    primary: 'every',
    params: { every: every(10, 'message') },
  },
  'out-of-order': {
    description: 'every n-th melt-pool message is held back and published after the next one',
    primary: 'every',
    params: { every: every(10, 'message') },
  },
  'clock-skew': {
    description: 'source timestamps (melt-pool blocks, events, process values, image metadata) are offset by offsetMs',
    primary: 'offsetMs',
    params: { offsetMs: { type: 'number', default: 5000, description: 'offset added to source timestamps, ms (may be negative)' } },
  },
  burst: {
    description: 'the melt-pool sample rate (and so the message rate and bytes) is multiplied by factor',
    primary: 'factor',
    params: { factor: { type: 'number', default: 10, description: 'rate multiplier' } },
  },
  'opcua-restart': {
    description: 'the OPC-UA server shuts down and comes back after downMs (one-shot)',
    oneShot: true,
    primary: 'downMs',
    params: { downMs: { type: 'number', default: 2000, description: 'wall ms the server stays down' } },
  },
  'mqtt-disconnect': {
    description: 'the MQTT connection drops abruptly (socket destroyed, so the broker fires the Sparkplug NDEATH will) and reconnects after downMs (one-shot)',
    oneShot: true,
    primary: 'downMs',
    params: { downMs: { type: 'number', default: 2000, description: 'wall ms the connection stays down' } },
  },
  'corrupt-image': {
    description: 'images are written with corrupted bytes (a span inside the image data overwritten; the PNG signature stays)',
    params: {},
  },
  'half-written-image': {
    description: 'images are written straight to their final name and only the first half of the bytes is ever written (a camera that died mid-write)',
    params: {},
  },
};

export const DEFECTS: Record<string, ConditionSpec> = {
  'recoater-streak': {
    description: 'a groove along the recoater travel (a nicked blade): a dark line in the after-recoating image',
    primary: 'yMm',
    params: {
      yMm: { type: 'number', default: 125, description: 'position across the plate, mm' },
      widthMm: { type: 'number', default: 1.2, description: 'streak width, mm' },
    },
  },
  'short-feed': {
    description: 'not enough powder dosed: the far end of the plate is left uncovered (previous layer shows through)',
    primary: 'fraction',
    params: { fraction: { type: 'number', default: 0.25, description: 'fraction of the plate left uncovered' } },
  },
  spatter: {
    description: 'spatter particles around the exposed parts: bright specks in the after-exposure image',
    primary: 'count',
    params: { count: { type: 'number', default: 400, description: 'particles per layer' } },
  },
  'warped-part': {
    description: 'a part curls up at its edges: a bright rim sticks out of the fresh powder in the after-recoating image, and the recoater force spikes',
    primary: 'part',
    params: { part: { type: 'number', default: 0, description: 'index of the warped part' } },
  },
};

export type ParamValues = Record<string, number | string | boolean>;

export interface ConditionState {
  name: string;
  on: boolean;
  params: ParamValues;
}

/** LG_SIM_BAD_REQUEST: an unknown fault/defect or a bad parameter, named in the message */
export { SimulatorRequestError as ConditionError } from './errors.js';

/** Which conditions are on, with their parameters. */
export class Switchboard {
  private readonly active = new Map<string, ParamValues>();
  private readonly listeners: ((name: string, on: boolean, params: ParamValues) => void)[] = [];

  constructor(
    readonly kind: 'fault' | 'defect',
    readonly specs: Record<string, ConditionSpec>,
  ) {}

  /** Switch a condition on or off; unknown names and bad parameters throw a ConditionError naming them. */
  set(name: string, on: boolean, params: Record<string, unknown> = {}): ConditionState {
    const spec = this.specs[name];
    if (!spec) throw new ConditionError(`unknown ${this.kind} "${name}"; known: ${Object.keys(this.specs).join(', ')}`);
    const values: ParamValues = {};
    for (const [key, p] of Object.entries(spec.params)) if (p.default !== undefined) values[key] = p.default;
    for (const [key, raw] of Object.entries(params)) {
      const p = spec.params[key];
      if (!p) throw new ConditionError(`${this.kind} "${name}" has no parameter "${key}"; known: ${Object.keys(spec.params).join(', ') || '(none)'}`);
      values[key] = coerce(`${this.kind} "${name}" parameter "${key}"`, p, raw);
    }
    if (typeof values.every === 'number' && !(values.every >= 1)) throw new ConditionError(`${this.kind} "${name}" parameter "every" must be >= 1`);
    if (typeof values.factor === 'number' && !(values.factor >= 1)) throw new ConditionError(`${this.kind} "${name}" parameter "factor" must be >= 1`);
    if (on && !spec.oneShot) this.active.set(name, values);
    else this.active.delete(name);
    for (const l of this.listeners) l(name, on, values);
    return { name, on: on && !spec.oneShot, params: values };
  }

  isOn(name: string): boolean {
    return this.active.has(name);
  }
  params(name: string): ParamValues | undefined {
    return this.active.get(name);
  }
  num(name: string, key: string): number {
    const v = this.active.get(name)?.[key];
    return typeof v === 'number' ? v : Number(this.specs[name]?.params[key]?.default);
  }
  list(): ConditionState[] {
    return Object.keys(this.specs).map((name) => ({ name, on: this.active.has(name), params: this.active.get(name) ?? {} }));
  }
  /** A frozen copy (for work that runs later but must see the state of when it was asked for). */
  snapshot(): Switchboard {
    const copy = new Switchboard(this.kind, this.specs);
    for (const [name, params] of this.active) copy.active.set(name, { ...params });
    return copy;
  }
  onChange(l: (name: string, on: boolean, params: ParamValues) => void): void {
    this.listeners.push(l);
  }
}

function coerce(where: string, p: ParamSpec, raw: unknown): number | string | boolean {
  if (p.type === 'number') {
    const n = typeof raw === 'number' ? raw : Number(raw);
    if (!Number.isFinite(n)) throw new ConditionError(`${where} must be a number (got ${JSON.stringify(raw)})`);
    return n;
  }
  if (p.type === 'boolean') {
    if (raw === true || raw === 'true' || raw === '1') return true;
    if (raw === false || raw === 'false' || raw === '0') return false;
    throw new ConditionError(`${where} must be true or false (got ${JSON.stringify(raw)})`);
  }
  return String(raw);
}

/**
 * Parse a CLI flag value: `name`, `name=value` (the primary parameter) or `name=key:value,key:value`.
 */
export function parseConditionFlag(flag: string, specs: Record<string, ConditionSpec>, kind: string): { name: string; params: Record<string, string> } {
  const eq = flag.indexOf('=');
  const name = eq < 0 ? flag : flag.slice(0, eq);
  const rest = eq < 0 ? '' : flag.slice(eq + 1);
  const spec = specs[name];
  if (!spec) throw new ConditionError(`unknown ${kind} "${name}" in "--${kind} ${flag}"; known: ${Object.keys(specs).join(', ')}`);
  const params: Record<string, string> = {};
  if (rest === '') return { name, params };
  if (!rest.includes(':')) {
    if (!spec.primary) throw new ConditionError(`${kind} "${name}" takes no value (in "--${kind} ${flag}")`);
    params[spec.primary] = rest;
    return { name, params };
  }
  for (const pair of rest.split(',')) {
    const c = pair.indexOf(':');
    if (c < 1) throw new ConditionError(`bad parameter "${pair}" in "--${kind} ${flag}": expected key:value`);
    params[pair.slice(0, c)] = pair.slice(c + 1);
  }
  return { name, params };
}

export interface OutMessage {
  topic: string;
  payload: Buffer;
  /** the stream's sequence number of this message */
  seq: number;
  qos: 0 | 1;
  retain?: boolean;
}

/**
 * Applies the message-level faults (malformed, duplicate, out-of-order) to a stream of outgoing
 * messages, in order. Stateful only for the one message out-of-order holds back.
 */
export class MessageFaults {
  /** out-of-order holds one message per topic (each format is its own stream) */
  private readonly held = new Map<string, OutMessage>();
  constructor(
    private readonly faults: Switchboard,
    private readonly seed: number,
  ) {}

  apply(msgs: OutMessage[]): OutMessage[] {
    const out: OutMessage[] = [];
    for (let m of msgs) {
      if (this.faults.isOn('malformed') && m.seq % this.faults.num('malformed', 'every') === 0)
        m = { ...m, payload: corrupt(m.payload, String(this.faults.params('malformed')?.mode), this.seed, m.seq) };
      const dup = this.faults.isOn('duplicate') && m.seq % this.faults.num('duplicate', 'every') === 0;
      const held = this.held.get(m.topic);
      if (this.faults.isOn('out-of-order') && !held && m.seq % this.faults.num('out-of-order', 'every') === 0) {
        this.held.set(m.topic, m);
        continue;
      }
      out.push(m);
      if (dup) out.push(m);
      if (held) {
        out.push(held);
        this.held.delete(m.topic);
      }
    }
    return out;
  }

  /** The held-back messages, if any (at shutdown or when the fault is switched off). */
  flush(): OutMessage[] {
    const h = [...this.held.values()];
    this.held.clear();
    return h;
  }
}

function corrupt(payload: Buffer, mode: string, seed: number, seq: number): Buffer {
  if (mode === 'garbage') {
    const b = Buffer.from(payload);
    for (let i = 0; i < Math.min(16, b.length); i++) b[i] = hash32(seed, seq, i) & 0xff;
    return b;
  }
  return Buffer.from(payload.subarray(0, Math.floor(payload.length / 2)));
}
