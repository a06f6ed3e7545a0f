/**
 * Sparkplug B (spBv1.0) for the machine's process values: the edge node is the machine, one device
 * ("Process") carries the process values. NBIRTH/DBIRTH announce every metric with its name, alias
 * and datatype; NDATA/DDATA then carry aliases only (report by exception: state and layer only
 * when they change); NDEATH with the current bdSeq is registered as the MQTT will, so the broker
 * publishes it when the connection drops; an NCMD "Node Control/Rebirth" = true triggers a rebirth.
 *
 * Payload building is pure given the inputs and the node's sequence counters, so the bodies are
 * reproducible run to run. The payload codec and the topic namespace are wire/sparkplug.ts.
 */
import { DataType, encodeSparkplug, NAMESPACE, type SparkplugMetric, type SparkplugPayload } from '../wire/index.js';
import type { SimConfig } from './config.js';
import type { OutMessage } from './faults.js';
import { SIGNALS, type ProcessSample } from './process.js';

export const DEVICE_ID = 'Process';

/** the device metrics after the process values, in alias order */
const JOB_METRICS = ['Job/Id', 'Job/Material', 'Job/CurrentLayer', 'Job/TotalLayers', 'Machine/State'] as const;

export class SparkplugEdgeNode {
  /** birth/death sequence: increments with every new MQTT session */
  bdSeq = 0;
  /** message sequence 0..255 over NBIRTH, DBIRTH, NDATA, DDATA */
  private seq = 0;
  private lastState = '';
  private lastLayer = -1;
  readonly aliases = new Map<string, number>();

  constructor(
    private readonly cfg: SimConfig,
    readonly groupId: string,
    readonly edgeNodeId: string,
  ) {
    let alias = 1;
    this.aliases.set('bdSeq', alias++);
    this.aliases.set('Node Control/Rebirth', alias++);
    for (const s of SIGNALS) this.aliases.set(metricName(s.name), alias++);
    for (const m of JOB_METRICS) this.aliases.set(m, alias++);
  }

  topic(type: 'NBIRTH' | 'NDEATH' | 'NDATA' | 'NCMD' | 'DBIRTH' | 'DDATA' | 'DDEATH' | 'DCMD'): string {
    const base = `${NAMESPACE}/${this.groupId}/${type}/${this.edgeNodeId}`;
    return type.startsWith('D') ? `${base}/${DEVICE_ID}` : base;
  }

  private nextSeq(): number {
    const s = this.seq;
    this.seq = (this.seq + 1) % 256;
    return s;
  }

  /** The NDEATH for the current session (the MQTT will): bdSeq only, no seq. */
  death(timestampMs: number): OutMessage {
    return {
      topic: this.topic('NDEATH'),
      payload: encodeSparkplug({ timestamp: timestampMs, metrics: [{ name: 'bdSeq', datatype: DataType.Int64, longValue: this.bdSeq }] }),
      seq: -1,
      qos: 1,
    };
  }

  /** NBIRTH + DBIRTH: every metric with name, alias, datatype and current value. Resets seq to 0. */
  births(sample: ProcessSample): OutMessage[] {
    this.seq = 0;
    const ts = sample.timestampMs;
    const nbirth: SparkplugPayload = {
      timestamp: ts,
      seq: this.nextSeq(),
      metrics: [
        { name: 'bdSeq', alias: this.aliases.get('bdSeq'), timestamp: ts, datatype: DataType.Int64, longValue: this.bdSeq },
        { name: 'Node Control/Rebirth', alias: this.aliases.get('Node Control/Rebirth'), timestamp: ts, datatype: DataType.Boolean, booleanValue: false },
      ],
    };
    const dbirth: SparkplugPayload = {
      timestamp: ts,
      seq: this.nextSeq(),
      metrics: [...this.processMetrics(sample, true), ...this.jobMetrics(sample, true, true)],
    };
    return [
      { topic: this.topic('NBIRTH'), payload: encodeSparkplug(nbirth), seq: nbirth.seq as number, qos: 0 },
      { topic: this.topic('DBIRTH'), payload: encodeSparkplug(dbirth), seq: dbirth.seq as number, qos: 0 },
    ];
  }

  /** DDATA with aliases only. */
  data(sample: ProcessSample): OutMessage {
    const p: SparkplugPayload = {
      timestamp: sample.timestampMs,
      seq: this.nextSeq(),
      metrics: [...this.processMetrics(sample, false), ...this.jobMetrics(sample, false, false)],
    };
    return { topic: this.topic('DDATA'), payload: encodeSparkplug(p), seq: p.seq as number, qos: 0 };
  }

  private processMetrics(sample: ProcessSample, birth: boolean): SparkplugMetric[] {
    return sample.values.map((v) => {
      const name = metricName(v.name);
      const m: SparkplugMetric = { alias: this.aliases.get(name), timestamp: sample.timestampMs };
      if (birth) {
        m.name = name;
        m.datatype = DataType.Double;
      }
      if (v.good) m.doubleValue = v.value;
      else m.isNull = true;
      return m;
    });
  }

  private jobMetrics(sample: ProcessSample, birth: boolean, all: boolean): SparkplugMetric[] {
    const ts = sample.timestampMs;
    const out: SparkplugMetric[] = [];
    const add = (name: (typeof JOB_METRICS)[number], datatype: number, value: Partial<SparkplugMetric>) => {
      const m: SparkplugMetric = { alias: this.aliases.get(name), timestamp: ts, ...value };
      if (birth) {
        m.name = name;
        m.datatype = datatype;
      }
      out.push(m);
    };
    if (all) {
      add('Job/Id', DataType.String, { stringValue: this.cfg.job.id });
      add('Job/Material', DataType.String, { stringValue: this.cfg.job.material });
      add('Job/TotalLayers', DataType.UInt32, { intValue: this.cfg.job.totalLayers });
    }
    if (all || sample.layer !== this.lastLayer) add('Job/CurrentLayer', DataType.UInt32, { intValue: sample.layer });
    if (all || sample.state !== this.lastState) add('Machine/State', DataType.String, { stringValue: sample.state });
    this.lastLayer = sample.layer;
    this.lastState = sample.state;
    return out;
  }
}

/** "Chamber.OxygenConcentration" -> "Chamber/OxygenConcentration" (Sparkplug folders use /) */
export function metricName(signal: string): string {
  return signal.replace(/\./g, '/');
}
