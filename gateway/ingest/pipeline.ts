/**
 * The path from an input to the buffer: the `InputContext` each input is started with. It fills
 * `source` and `receiveTimeNs`, sets the class, computes the routes and commits to the buffer; what an
 * input could not parse goes to the input quarantine (gateway/quarantine/inputs.ts).
 *
 * Design constraints:
 * - `emit` resolves only after `buffer.append` returned (the commit is the ack point). Under the
 *   `block` policy (`BufferFullError`) it waits for the buffer's 'space' event and retries, never
 *   drops; only a gateway shutdown ends the wait, rejecting with `GatewayStoppingError` (nothing
 *   stored, so the input does not ack and its source redelivers).
 * - A full filesystem (`isStorageFull`: SQLITE_FULL, ENOSPC) is waited out the same way (retry at
 *   least every `blockedRetryMs`), so ingest resumes by itself once space returns. An emit with
 *   `{ wait: false }` (an input that samples and cannot wait) instead has its records counted in the
 *   loss ledger (`RecordBuffer.noteUnstored`, reason 'disk-full') and rejects.
 * - Class: decided by the classification policy (gateway/classify, `Classifier.classOf` in
 *   `classOf`): the most restrictive matching rule, else the input's `class`, else the global
 *   default; never below the class the draft proposes, nor below its job's marking. Jobs are marked
 *   through the machine context (`jobClass`, set by the input that follows it): the pipeline keeps
 *   the marking per build, raises it only, and reports each new marking (`onJobMarked`, audited).
 * - Routes: the routing policy's table (gateway/classify/routing.ts), computed once per (class,
 *   kind, access pattern); without one, every output whose accepted classes and kinds (narrowed by
 *   its config) include the record's, and no off-premises output gets sensitive or confidential
 *   records. Looked up per record in `routesOf`; the access pattern is the record's
 *   `access_pattern` attribute (one outside the vocabulary is quarantined as out of range before,
 *   `recordFieldProblem`, never routed as a record without one), else its input's `accessPattern`,
 *   else the routing table's default for its kind (`routing.defaultAccessPatterns`); the same order
 *   as `Policy.accessPatternOf`, which `layergate explain` answers by.
 * - `emit` is the hot path of every input (tens of thousands of records per second): per record one
 *   object of one fixed shape, no spreads or rest copies, shared route arrays; see `toRecord`.
 * - Every stamped record is held to the field ranges every sink can hold (`recordFieldProblem`,
 *   gateway/plugin-api/record-fields.ts) before it is classified: one out of range is quarantined
 *   through its input's quarantine (`out-of-range`, the field named, its body kept) and the others of
 *   the emit are committed; the emit resolves, so the input acknowledges the whole batch (a value
 *   that can never be stored must not be redelivered for ever). Likewise a record the classification
 *   hooks throw on (`unclassifiable`), and one the buffer refuses inside the commit (`isRecordError`):
 *   the batch is then appended record by record and only the refused one is quarantined
 *   (`unstorable`). Errors of the buffer itself (full, stopping, disk) still fail the emit.
 * - The emit resolves with an `EmitResult` (plugin-api/contract.ts): the count stored and each draft
 *   quarantined by the above, by its index in the array given, with its reason and error, so an
 *   input that can set its source aside (the frames input's quarantine folder, an upload's 400)
 *   does not release it as stored. An emit that stored everything shares one frozen empty list.
 * - `quarantine` never throws and never blocks the caller (gateway/quarantine/inputs.ts). Raw bytes
 *   of an input whose class is confidential, or received while the running job is marked
 *   confidential, are sealed (`<name>.bin.sealed`).
 */
import type { Logger } from 'pino';
import { DISK_FULL_REASON, isStorageFull } from '../buffer/disk-full.js';
import type { RecordBuffer } from '../buffer/types.js';
import type { Sealer } from '../crypto/sealer.js';
import { BufferFullError, GatewayStoppingError, InvalidRecordError, LayerGateError, MalformedInputError } from '../plugin-api/errors.js';
import type {
  DraftQuarantineReason,
  EmitOptions,
  EmitResult,
  InputContext,
  MachineContext,
  OutputCapabilities,
  QuarantinedDraft,
  RecordDraft,
} from '../plugin-api/contract.js';
import { Classifier, RouteTable, jobClassOf } from '../classify/index.js';
import { ACCESS_PATTERN_ATTRIBUTE, classRank, nowNs } from '../plugin-api/record.js';
import type { AccessPattern, RecordInput, RecordKind, SensitivityClass } from '../plugin-api/record.js';
import { InputQuarantine } from '../quarantine/inputs.js';
import type { InputQuarantineCounters } from '../quarantine/inputs.js';
import { recordFieldProblem } from '../plugin-api/record-fields.js';

export interface RouteTarget {
  /** the output instance name = the buffer's sink name */
  name: string;
  /** what the output's definition declares it takes (`OutputDefinition.capabilities`) */
  plugin: Partial<Pick<OutputCapabilities, 'accepts' | 'kinds' | 'premises'>>;
  /** config narrowing (`classes:`) */
  classes?: readonly SensitivityClass[] | undefined;
  /** config narrowing (`kinds:`) */
  kinds?: readonly RecordKind[] | undefined;
}

/** A job newly marked (or marked stricter) through the machine context. */
export interface JobMarking {
  build: string | undefined;
  class: SensitivityClass;
  /** the marking as the input gave it */
  raw: string;
  /** the input that set it */
  input: string;
  /** the raw value was not understood and read as confidential */
  unknown: boolean;
}

export interface PipelineOptions {
  buffer: RecordBuffer;
  outputs: readonly RouteTarget[];
  /** quarantine lives under <dataDir>/quarantine/inputs/<input>/ */
  dataDir: string;
  /** cap of each input's quarantine folder */
  quarantineMaxBytes: number;
  log: Logger;
  /** while blocked, retry at least this often even without a 'space' event (default 1000 ms) */
  blockedRetryMs?: number;
  /** the classification policy (default: no rules, default class internal) */
  classifier?: Classifier;
  /** the routing policy (default: built from `outputs`, see the module header) */
  routes?: RouteTable;
  /** called once per new or raised job marking (the gateway writes it to the audit log) */
  onJobMarked?: (marking: JobMarking) => void;
  /** seals the raw bytes quarantined from a confidential input or job */
  sealer?: Sealer;
}

export interface InputCounters extends InputQuarantineCounters {
  emits: number;
  records: number;
  bytes: number;
  /** emits that had to wait for room (block policy) */
  blockedEmits: number;
  /** emits rejected because the buffer refused them (other than full) or the gateway stopped */
  failedEmits: number;
}

/** the routes of a record before `emit` routed it, and of a (class, kind) no output takes; never modified */
const NO_ROUTES: string[] = [];
/** the `quarantined` of every emit that stored all its drafts (shared: the hot path allocates no list) */
const NONE_QUARANTINED: readonly QuarantinedDraft[] = Object.freeze([]);

export class Pipeline {
  private readonly buffer: RecordBuffer;
  private readonly log: Logger;
  private readonly quarantines: InputQuarantine;
  private readonly blockedRetryMs: number;
  /** access pattern (or none) -> class -> kind -> sink names (see `routesOf`); replaced whole by `setPolicy` */
  private routeTable: RouteTable;
  private classifier: Classifier;
  private readonly onJobMarked: ((marking: JobMarking) => void) | undefined;
  private readonly sealer: Sealer | undefined;
  /** build -> the class its job is marked with (raised only) */
  private readonly jobMarks = new Map<string, SensitivityClass>();
  /** the marking while the machine context has no build */
  private unknownJobMark: SensitivityClass | undefined;
  private readonly counters = new Map<string, InputCounters>();
  private stopping = false;
  private readonly waiters = new Set<(err?: Error) => void>();
  private machine: MachineContext = {};

  constructor(opts: PipelineOptions) {
    this.buffer = opts.buffer;
    this.log = opts.log;
    this.quarantines = new InputQuarantine(opts.dataDir, opts.quarantineMaxBytes);
    this.blockedRetryMs = opts.blockedRetryMs ?? 1000;
    this.classifier = opts.classifier ?? new Classifier();
    this.onJobMarked = opts.onJobMarked;
    this.sealer = opts.sealer;
    this.routeTable =
      opts.routes ??
      new RouteTable(
        {},
        opts.outputs.map((o) => ({
          name: o.name,
          accepts: o.plugin.accepts,
          wants: o.plugin.kinds,
          classes: o.classes,
          kinds: o.kinds,
          premises: o.plugin.premises ?? 'off',
        })),
      );
  }

  /**
   * A configuration applied live: records emitted from now on are classified and routed by this
   * policy. An emit already routed commits with the routes it got (every sink they name still exists
   * in the buffer: a removed output's sink is kept until an admin drops it).
   */
  setPolicy(classifier: Classifier, routes: RouteTable): void {
    this.classifier = classifier;
    this.routeTable = routes;
  }

  /** A removed input's counters leave the stats (its quarantine folder stays on disk). */
  forgetInput(name: string): void {
    this.counters.delete(name);
  }

  /** The sinks a record of this class, kind and access pattern (undefined: it has none) goes to. */
  routes(cls: SensitivityClass, kind: RecordKind, access?: AccessPattern): readonly string[] {
    return this.routeTable.routes(cls, kind, access);
  }

  /** The context for one input instance. */
  contextFor(name: string, inputClass?: SensitivityClass, inputPattern?: AccessPattern): InputContext {
    const log = this.log.child({ input: name });
    this.counters.set(name, this.counters.get(name) ?? emptyCounters());
    return {
      name,
      log,
      emit: (drafts, opts) => this.emit(name, inputClass, log, drafts, opts?.wait !== false, opts, inputPattern),
      quarantine: (where, error, raw) => this.quarantine(name, log, where, error, raw, inputClass),
      setMachineContext: (update) => this.setMachineContext(name, log, update),
      machineContext: () => this.machine,
    };
  }

  /** The machine context every record is stamped with (see `MachineContext`). */
  machineContext(): Readonly<MachineContext> {
    return this.machine;
  }

  private setMachineContext(input: string, log: Logger, update: Partial<MachineContext>): void {
    const next = { ...this.machine, ...update };
    if (next.jobClass !== undefined && (next.jobClass !== this.machine.jobClass || next.build !== this.machine.build)) {
      this.markJob(input, log, next.build, next.jobClass);
    }
    if (next.build !== this.machine.build || next.state !== this.machine.state) {
      log.info({ build: next.build, layer: next.layer, state: next.state }, 'machine context changed');
    }
    // a fresh object each time: records already stamped keep the context they were received in
    this.machine = next;
  }

  /**
   * The record for one draft, stamped with build and layer from the machine context where the input
   * did not know them. A record whose build stays unknown says so (`context: unknown`) rather than
   * looking like it belongs to no build. Hot path (every record): one object of one fixed shape, no
   * spreads; the draft's own attributes object is never modified (inputs may share it), a new one
   * is made only when the context adds attributes. `class` holds the draft's proposal until `emit`
   * classifies, `routes` is filled from the class.
   */
  private toRecord(d: RecordDraft, source: string, received: bigint, m: MachineContext): RecordInput {
    const build = d.build ?? m.build;
    let attributes = d.attributes;
    const unknown = build === undefined;
    const state = m.state !== undefined && attributes?.machine_state === undefined;
    const lot = m.feedstockLot !== undefined;
    if (unknown || state || lot) {
      const extra: Record<string, string> = {};
      if (unknown) extra.context = 'unknown';
      if (state) extra.machine_state = m.state!;
      if (lot) extra.feedstock_lot = m.feedstockLot!;
      // the draft's own attributes win over the context's (same key order as a spread)
      attributes = attributes === undefined ? extra : Object.assign(extra, attributes);
    }
    return {
      source,
      signal: d.signal,
      kind: d.kind,
      sourceTimeNs: d.sourceTimeNs,
      receiveTimeNs: d.receiveTimeNs ?? received,
      class: d.class as SensitivityClass,
      contentType: d.contentType,
      body: d.body,
      build,
      layer: d.layer ?? m.layer,
      attributes,
      routes: NO_ROUTES,
    };
  }

  stats(): Record<string, InputCounters> {
    return Object.fromEntries([...this.counters].map(([k, v]) => [k, { ...v, quarantinedByReason: { ...v.quarantinedByReason } }]));
  }

  /** Shutdown: emits waiting for room give up (reject with GatewayStoppingError); new ones are refused. */
  abortBlocked(): void {
    this.stopping = true;
    for (const w of [...this.waiters]) w(new GatewayStoppingError('the gateway is stopping; the records were not stored'));
  }

  /** Wait for quarantine writes in progress. */
  async flush(): Promise<void> {
    await this.quarantines.flush();
  }

  /**
   * The class of one stamped record (`record.class` still holds the input's proposal, if any). Hook
   * point for policy-based classification; called once per record.
   */
  private classOf(record: RecordDraft, inputClass: SensitivityClass | undefined, source: string): SensitivityClass {
    const build = record.build;
    const job =
      this.jobMarks.size === 0 && this.unknownJobMark === undefined ? undefined : build === undefined ? this.unknownJobMark : this.jobMarks.get(build);
    return this.classifier.classOf(source, record.signal, record.kind, build, record.class, inputClass, job, this.machine.material);
  }

  /** The class a job is marked with so far (`layergate explain` and the API pass it to `Policy.explain`). */
  jobMark(build: string | undefined): SensitivityClass | undefined {
    return build === undefined ? this.unknownJobMark : this.jobMarks.get(build);
  }

  /** Raise (never lower) the marking of a job; report what changed. */
  private markJob(input: string, log: Logger, build: string | undefined, raw: string): void {
    const { class: cls, unknown } = jobClassOf(raw);
    if (cls === undefined) return;
    const before = build === undefined ? this.unknownJobMark : this.jobMarks.get(build);
    if (before !== undefined && classRank(before) >= classRank(cls)) return;
    if (build === undefined) this.unknownJobMark = cls;
    else this.jobMarks.set(build, cls);
    log.warn(
      { build, class: cls, marking: raw, ...(unknown ? { unknownMarking: true } : {}) },
      unknown
        ? 'job marking not understood: every record of the job is treated as confidential'
        : 'job marked: every record of the job gets at least this class',
    );
    try {
      this.onJobMarked?.({ build, class: cls, raw, input, unknown: !!unknown });
    } catch (err) {
      log.error({ err }, 'job marking: the audit entry could not be written');
    }
  }

  /**
   * The sinks of one classified record. Hook point for policy-based routing; called once per record.
   * The arrays are shared by every record of a (class, kind) and never modified (the buffer resolves
   * a shared array to its route mask once per run of records).
   */
  private routesOf(record: RecordInput, inputPattern: AccessPattern | undefined): string[] {
    // an unknown kind gets no routes here; the buffer refuses the record with a clear error
    const attributes = record.attributes;
    // no attributes: no pattern to read; with them, one property read, and a record without a
    // pattern (undefined) takes the same plain lookup as before patterns existed
    if (attributes === undefined) return this.routeTable.routes(record.class, record.kind, inputPattern);
    // a value that is no access pattern was quarantined by `recordFieldProblem` before this point
    return this.routeTable.routes(record.class, record.kind, (attributes[ACCESS_PATTERN_ATTRIBUTE] as AccessPattern | undefined) ?? inputPattern);
  }

  private async emit(
    name: string,
    inputClass: SensitivityClass | undefined,
    log: Logger,
    drafts: RecordDraft[],
    canWait = true,
    opts?: EmitOptions,
    inputPattern?: AccessPattern,
  ): Promise<EmitResult> {
    const n = drafts.length;
    if (n === 0) return { stored: 0, quarantined: NONE_QUARANTINED };
    const c = this.counters.get(name)!;
    const received = nowNs();
    const m = this.machine;
    const records = new Array<RecordInput>(n);
    let kept = 0;
    /** the drafts set aside before the commit, by index; made at the first */
    let quarantined: QuarantinedDraft[] | undefined;
    /** the draft index of each kept record; made at the first draft set aside (until then record j is draft j) */
    let draftOf: number[] | undefined;
    const setAside = (i: number, d: RecordInput | RecordDraft, reason: DraftQuarantineReason, err: Error): void => {
      this.refuse(name, log, inputClass, d, err);
      (quarantined ??= []).push({ index: i, reason, error: err.message });
      if (draftOf === undefined) {
        draftOf = new Array<number>(kept);
        for (let j = 0; j < kept; j++) draftOf[j] = j;
      }
    };
    for (let i = 0; i < n; i++) {
      const d = drafts[i]!;
      let r: RecordInput;
      try {
        r = this.toRecord(d, name, received, m);
        const problem = recordFieldProblem(r, d.attributes);
        if (problem !== undefined) {
          setAside(i, r, 'out-of-range', new MalformedInputError(`record out of range: ${problem}`, { reason: 'out-of-range' }));
          continue;
        }
        // the two per-record hooks: classification, then routing by class and kind
        r.class = this.classOf(r, inputClass, name);
        r.routes = this.routesOf(r, inputPattern);
      } catch (err) {
        // a draft the hooks cannot handle is set aside alone; the others of the emit go on
        setAside(i, d, 'unclassifiable', new MalformedInputError(`record not classified: ${errorText(err)}`, { reason: 'unclassifiable', cause: err }));
        continue;
      }
      draftOf?.push(i);
      records[kept++] = r;
    }
    if (kept === 0) return { stored: 0, quarantined: quarantined ?? NONE_QUARANTINED };
    if (kept < n) records.length = kept;
    const refused: Refusal[] = [];
    const stored = await this.commit(name, inputClass, log, c, records, canWait, refused, opts);
    let bytes = 0;
    for (const r of stored) bytes += r.body.length;
    c.emits++;
    c.records += stored.length;
    c.bytes += bytes;
    if (refused.length > 0) {
      // rare (the buffer refusing one record): find each refused record's draft by identity
      quarantined ??= [];
      for (const { record, err } of refused) {
        const j = records.indexOf(record);
        quarantined.push({ index: draftOf === undefined ? j : draftOf[j]!, reason: 'unstorable', error: err.message });
      }
      quarantined.sort((a, b) => a.index - b.index);
    }
    return { stored: stored.length, quarantined: quarantined ?? NONE_QUARANTINED };
  }

  /**
   * Append `records` in one transaction, waiting for room under the block policy; resolves with the
   * records stored. When the buffer refuses the batch for something in one record (`isRecordError`),
   * the records are appended one by one and each refused one is quarantined (and added to `refused`),
   * so one record the buffer cannot take never holds the others (nor makes its input's source
   * redeliver them for ever).
   */
  private async commit(
    name: string,
    inputClass: SensitivityClass | undefined,
    log: Logger,
    c: InputCounters,
    records: RecordInput[],
    canWait: boolean,
    refused: Refusal[],
    opts?: EmitOptions,
  ): Promise<readonly RecordInput[]> {
    let blocked = false;
    let diskFull = false;
    for (;;) {
      if (this.stopping && blocked) {
        c.failedEmits++;
        throw new GatewayStoppingError('the gateway is stopping; the records were not stored');
      }
      try {
        const appended = this.buffer.append(records);
        opts?.onCommitted?.(records, appended.firstSeq);
        break;
      } catch (err) {
        if (isRecordError(err)) return this.commitEach(name, inputClass, log, c, records, err, canWait, refused, opts);
        if (isStorageFull(err)) {
          // a full filesystem is transient (sinks drain, space is freed): nothing of the batch was
          // stored, so wait and append again like the block policy does; failing the emit instead left
          // MQTT messages unacknowledged in a live session, which the broker never redelivers until a
          // reconnect, so ingest stalled long after space had returned
          if (!canWait) {
            this.buffer.noteUnstored(records, DISK_FULL_REASON);
            c.failedEmits++;
            throw err;
          }
          if (!diskFull) {
            diskFull = true;
            c.blockedEmits++;
            log.warn({ records: records.length, err }, 'buffer filesystem full: waiting for space');
          }
          if (this.stopping) {
            c.failedEmits++;
            throw new GatewayStoppingError('the gateway is stopping; the records were not stored');
          }
          try {
            await this.waitForSpace();
          } catch (stopped) {
            c.failedEmits++;
            throw stopped;
          }
          continue;
        }
        if (!(err instanceof BufferFullError) && !(err instanceof LayerGateError && err.code === BufferFullError.code)) {
          c.failedEmits++;
          throw err;
        }
        if (opts?.waitForRoom === false) {
          c.failedEmits++;
          throw err;
        }
        if (!blocked) {
          blocked = true;
          c.blockedEmits++;
          log.warn({ records: records.length }, 'buffer full (block policy): waiting for room');
        }
        if (this.stopping) continue;
        try {
          await this.waitForSpace();
        } catch (stopped) {
          c.failedEmits++;
          throw stopped;
        }
      }
    }
    if (blocked) log.info({ records: records.length }, 'buffer had room again: records stored');
    if (diskFull) log.info({ records: records.length }, 'buffer filesystem had space again: records stored');
    return records;
  }

  private async commitEach(
    name: string,
    inputClass: SensitivityClass | undefined,
    log: Logger,
    c: InputCounters,
    records: RecordInput[],
    err: unknown,
    canWait: boolean,
    refused: Refusal[],
    opts?: EmitOptions,
  ): Promise<readonly RecordInput[]> {
    if (records.length === 1) {
      const r = records[0]!;
      const refusal = new MalformedInputError(`the buffer refused the record: ${errorText(err)}`, { reason: 'unstorable', cause: err });
      this.refuse(name, log, inputClass, r, refusal);
      refused.push({ record: r, err: refusal });
      return [];
    }
    const stored: RecordInput[] = [];
    for (const r of records) for (const s of await this.commit(name, inputClass, log, c, [r], canWait, refused, opts)) stored.push(s);
    return stored;
  }

  /**
   * Quarantine one record the pipeline cannot store, under its signal, through its input's
   * quarantine. Its body is kept as the raw bytes, sealed like its record would be when its class
   * (classified here when the emit did not get that far; confidential when even that fails) is
   * confidential.
   */
  private refuse(name: string, log: Logger, inputClass: SensitivityClass | undefined, r: RecordInput | RecordDraft, err: Error): void {
    const signal = typeof r?.signal === 'string' && r.signal.length > 0 ? r.signal.slice(0, 200) : '(no signal)';
    const body = r?.body instanceof Uint8Array ? Buffer.from(r.body.buffer, r.body.byteOffset, r.body.byteLength) : undefined;
    let cls: SensitivityClass;
    try {
      cls = this.classOf(r as RecordDraft, inputClass, name);
    } catch {
      cls = 'confidential';
    }
    this.quarantine(name, log, signal, err, body, inputClass, cls);
  }

  private waitForSpace(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const done = (err?: Error): void => {
        clearTimeout(timer);
        this.buffer.off('space', onSpace);
        this.waiters.delete(done);
        if (err) reject(err);
        else resolve();
      };
      const onSpace = (): void => done();
      // the timer covers room made without a 'space' event (e.g. a sink ack that frees nothing yet)
      const timer = setTimeout(() => done(), this.blockedRetryMs);
      this.buffer.on('space', onSpace);
      this.waiters.add(done);
    });
  }

  private quarantine(
    name: string,
    log: Logger,
    where: string,
    error: Error,
    raw?: Buffer,
    inputClass?: SensitivityClass,
    recordClass?: SensitivityClass,
  ): void {
    let sealer: Sealer | undefined;
    let c: InputCounters;
    try {
      // raw input of a confidential input, record or job stays sealed at rest, like its records would
      sealer =
        raw !== undefined &&
        this.sealer !== undefined &&
        ((inputClass ?? this.classifier.defaultClass) === 'confidential' ||
          recordClass === 'confidential' ||
          this.jobMark(this.machine.build) === 'confidential')
          ? this.sealer
          : undefined;
      c = this.counters.get(name) ?? emptyCounters();
      this.counters.set(name, c);
    } catch (err) {
      // never throw into an input's parsing path
      try {
        log.error({ err, where }, 'quarantine failed');
      } catch {
        /* nothing left to do */
      }
      return;
    }
    this.quarantines.quarantine(name, log, c, where, error, raw, sealer);
  }
}

/** a record the buffer refused inside the commit, and the error it was quarantined with */
interface Refusal {
  record: RecordInput;
  err: Error;
}

function emptyCounters(): InputCounters {
  return {
    emits: 0,
    records: 0,
    bytes: 0,
    blockedEmits: 0,
    failedEmits: 0,
    quarantined: 0,
    quarantineKept: 0,
    quarantineNotKept: 0,
    quarantineNotKeptBytes: 0,
    quarantinedByReason: {},
  };
}

/**
 * Whether the buffer refused a batch for something in one of its records rather than for itself (full,
 * closed, a disk error): its own check (`InvalidRecordError`), or SQLite refusing to bind a value
 * (RangeError, TypeError).
 */
function isRecordError(err: unknown): boolean {
  return err instanceof RangeError || err instanceof TypeError || (err instanceof LayerGateError && err.code === InvalidRecordError.code);
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
