/**
 * Value changes to records: every data change of a monitored item becomes a scalar record draft, a
 * change of a machine-context node updates the shared machine context, and the drafts go to the
 * buffer in group commits.
 *
 * Design constraints:
 * - A bad status is data: the record is kept, `quality` and the `status` attribute name the code.
 *   NaN and the infinities are float values like any other (values.ts). What cannot be stored (a
 *   structure the server does not describe) is quarantined with the node id and counted.
 * - Structures (ExtensionObjects) and Variant arrays are `document` records of their JSON
 *   (values.ts `documentJson`), with the structure's type name as attribute `data_type`; a matrix
 *   is a flat array with attribute `array_dimensions`.
 * - Machine nodes update the shared machine context as they change (before the values of the same
 *   publish are stamped), and state changes are also recorded as `machine.state` event records.
 * - Notifications are batched (`BatchingEmitter`): changes accumulate while one emit (one buffer
 *   commit) is in flight, at most `maxBatch` per emit. OPC-UA cannot redeliver: what the buffer
 *   refused is counted (`droppedRecords`) and logged, never retried forever.
 * - Hot path (50,000 changes/s): one draft object of one fixed shape per change, no spreads; the values
 *   of one publish share one attributes object (see `sharedAttributes`).
 */
import { VariantArrayType, type DataValue } from 'node-opcua';
import { BatchingEmitter, CONTENT_TYPES, MalformedInputError } from '../../../gateway/plugin-api/index.js';
import type { InputContext, MachineContext, RecordDraft } from '../../../gateway/plugin-api/index.js';
import type { MachineRole, ResolvedItem } from './nodes.js';
import type { OpcuaConfig } from './schema.js';
import { DOCUMENT_CONTENT_TYPE, TimeCache, documentJson, documentTypeName, int64, itemShape, safeJson, scalarBody, scalarJson } from './values.js';

/** The counters of the input that this path keeps. */
export interface ChangeCounters {
  notifications: number;
  badStatus: number;
  queueOverflows: number;
  quarantined: number;
}

export class ChangeRecorder {
  /** when the last value change arrived (ms; the watchdog's clock) */
  lastDataAt = 0;
  readonly batcher: BatchingEmitter;
  private ctx: InputContext | undefined;
  private readonly sourceTimes = new TimeCache();
  private readonly serverTimes = new TimeCache();
  private readonly overflowLog = { at: 0, since: 0 };
  private lastAttributes: { status: string; serverTime: string | undefined; state: string | undefined; attributes: Record<string, string> } | undefined;

  constructor(
    private readonly config: OpcuaConfig,
    private readonly s: ChangeCounters,
  ) {
    this.batcher = new BatchingEmitter({
      emit: (drafts) => this.ctx!.emit(drafts),
      maxBatch: config.maxBatch,
      onFailed: (err, records) => this.ctx!.log.error({ err, records }, 'opcua: records could not be stored'),
    });
  }

  /** The context records go to (set on every start of the input). */
  attach(ctx: InputContext): void {
    this.ctx = ctx;
  }

  /** Queue one draft for the next group commit. */
  push(d: RecordDraft): void {
    this.batcher.push(d);
  }

  onChange(it: ResolvedItem, dv: DataValue): void {
    this.s.notifications++;
    this.lastDataAt = Date.now();
    const ctx = this.ctx!;
    const sourceTimeNs = this.sourceTimes.of(dv.sourceTimestamp, dv.sourcePicoseconds);
    const status = dv.statusCode.name;
    const code = dv.statusCode;
    // the severity bits only: a good value carrying the overflow info bit is still good (isGood() says no)
    const good = (code.value & 0xc0000000) === 0;
    if (code.hasOverflowBit) this.onOverflow(it);
    if (it.role) {
      if (!good) {
        ctx.log.warn({ role: it.role, status }, 'opcua: machine context node has a bad status; context kept as it was');
        return;
      }
      this.onMachineValue(it.role, dv.value.value, sourceTimeNs);
      return;
    }
    const variant = dv.value;
    const { shape, tail } = itemShape(it, variant);
    let body: Buffer;
    try {
      if (shape.kind === 'scalar') body = scalarBody(scalarJson(shape, variant.value), tail, status);
      else if (shape.kind === 'none' || variant.value === undefined) {
        // no value (a bad status without one): the value is the empty string so the record stays a valid scalar
        body = scalarBody('""', tail, status);
      } else if (shape.kind === 'document') body = Buffer.from(documentJson(variant));
      else throw new MalformedInputError(shape.why);
    } catch (err) {
      this.s.quarantined++;
      ctx.quarantine(`${it.nodeIdText} (${it.signal})`, err as Error, Buffer.from(safeJson(variant.value)));
      return;
    }
    if (!good) this.s.badStatus++;
    const m = ctx.machineContext();
    const serverTime = this.serverTimes.of(dv.serverTimestamp, dv.serverPicoseconds) !== undefined ? this.serverTimes.lastText() : undefined;
    let attributes = this.config.nodeIdAttribute
      ? attributesOf(status, serverTime, m.state, it.nodeIdText)
      : this.sharedAttributes(status, serverTime, m.state);
    const document = shape.kind === 'document' && variant.value !== undefined;
    if (document || variant.arrayType === VariantArrayType.Matrix) attributes = this.ownAttributes(attributes, variant, document);
    // one object shape for every value (absent fields are undefined): this runs per value change
    this.batcher.push({
      signal: it.signal,
      kind: document ? 'document' : 'scalar',
      contentType: document ? DOCUMENT_CONTENT_TYPE : CONTENT_TYPES.scalar,
      body,
      attributes,
      sourceTimeNs,
      class: it.class,
      // stamped at arrival: a layer change later in the same batch must not relabel earlier values
      build: m.build,
      layer: m.layer,
    });
  }

  /**
   * The attributes of a document or matrix value: its own object (the shared ones are never
   * modified) with the structure's type name and the matrix dimensions.
   */
  private ownAttributes(shared: Record<string, string>, variant: DataValue['value'], document: boolean): Record<string, string> {
    const attributes = { ...shared };
    const typeName = document ? documentTypeName(variant) : undefined;
    if (typeName !== undefined) attributes.data_type = typeName;
    if (variant.arrayType === VariantArrayType.Matrix && variant.dimensions) attributes.array_dimensions = variant.dimensions.join(',');
    return attributes;
  }

  /**
   * The attributes of a value without its node id: the values of one publish mostly share their
   * status, server time and machine state, so they share one attributes object (never modified once
   * handed out: the pipeline and buffer treat a draft's attributes as read-only), and the buffer
   * writes its JSON once.
   */
  private sharedAttributes(status: string, serverTime: string | undefined, state: string | undefined): Record<string, string> {
    const last = this.lastAttributes;
    if (last !== undefined && last.status === status && last.serverTime === serverTime && last.state === state) return last.attributes;
    const attributes = attributesOf(status, serverTime, state, undefined);
    this.lastAttributes = { status, serverTime, state, attributes };
    return attributes;
  }

  /** The server dropped values of this item (its queue was full): counted, logged at most every 10 s. */
  private onOverflow(it: ResolvedItem): void {
    this.s.queueOverflows++;
    const o = this.overflowLog;
    o.since++;
    const now = Date.now();
    if (now - o.at < 10_000) return;
    this.ctx!.log.warn(
      { overflows: o.since, total: this.s.queueOverflows, lastItem: it.signal, queueSize: it.queueSize },
      'opcua: the server discarded values of monitored items whose queue was full (overflow bit); raise queueSize or the publishing rate',
    );
    o.at = now;
    o.since = 0;
  }

  private onMachineValue(role: MachineRole, raw: unknown, sourceTimeNs: bigint | undefined): void {
    const ctx = this.ctx!;
    const before = ctx.machineContext();
    let value: string | number | undefined;
    if (role === 'layer') {
      // an Int64/UInt64 layer node gives node-opcua's [high, low] words
      const n = Array.isArray(raw) && raw.length === 2 ? Number(int64(raw, false)) : Number(raw);
      value = Number.isFinite(n) ? n : undefined;
    } else if (raw !== null && raw !== undefined) {
      value = typeof raw === 'object' && 'text' in raw ? String((raw as { text: unknown }).text) : String(raw);
    }
    if (value === undefined || before[role] === value) return;
    ctx.setMachineContext({ [role]: value } as Partial<MachineContext>);
    if (role === 'state') {
      const after = ctx.machineContext();
      this.batcher.push({
        signal: 'machine.state',
        kind: 'event',
        contentType: CONTENT_TYPES.event,
        body: Buffer.from(JSON.stringify({ type: 'machine_state', state: value, ...(before.state !== undefined ? { previous: before.state } : {}) })),
        ...(sourceTimeNs !== undefined ? { sourceTimeNs } : {}),
        ...(after.build !== undefined ? { build: after.build } : {}),
        ...(after.layer !== undefined ? { layer: after.layer } : {}),
      });
    }
  }
}

/** A value's attributes, in the order consumers have always seen them. */
function attributesOf(status: string, serverTime: string | undefined, state: string | undefined, nodeId: string | undefined): Record<string, string> {
  const attributes: Record<string, string> = { status };
  if (nodeId !== undefined) attributes.node_id = nodeId;
  if (serverTime !== undefined) attributes.server_time_ns = serverTime;
  if (state !== undefined) attributes.machine_state = state;
  return attributes;
}
