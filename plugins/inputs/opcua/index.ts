/**
 * The `opcua` input: a node-opcua client that subscribes to a machine's variables and follows the
 * machine context (job, layer, state, material, feedstock lot) that every record of every input is
 * stamped with.
 *
 * Design constraints:
 * - One session lifetime = one fresh OPCUAClient: connect, resolve nodes (browse paths, discovery,
 *   engineering units), subscribe, run until the connection drops, the subscription dies or the
 *   watchdog trips, tear down, back off, start over. node-opcua's own reconnection is not used: a
 *   restarted server has lost the subscription anyway, and one code path for every kind of failure
 *   (including "connected but silent") is easier to reason about than transfer-or-recreate.
 * - Every interval without data between two subscriptions is a gap: counted, logged and recorded as
 *   an `opcua.gap` event record; lost notification messages inside a subscription (sequence-number
 *   jumps) are counted the same way. OPC-UA cannot redeliver, so the gap itself is the record.
 * - A bad status is data: the record is kept, `quality` and the `status` attribute name the code.
 *   Non-finite numbers are quarantined with the node id (counted), never stored as JSON null.
 * - Notifications are batched: changes accumulate while one emit (one buffer commit) is in flight.
 * - Security: the gateway's application certificate is created on first start in
 *   <pkiDir>/own and persists; unknown server certificates are never accepted automatically. They
 *   land in <pkiDir>/rejected and the error names the thumbprint and where to move the file.
 * - Machine nodes update the shared machine context as they change (before the values of the same
 *   publish are stamped), and state changes are also recorded as `machine.state` event records.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
// first: node-opcua must not print to stdout (see the module)
import { routeNodeOpcuaLogs } from './node-opcua-log.js';
import {
  AttributeIds,
  BrowseDirection,
  ClientSidePublishEngine,
  DataChangeFilter,
  DataChangeTrigger,
  DataType,
  DeadbandType,
  MessageSecurityMode,
  NodeClassMask,
  OPCUACertificateManager,
  OPCUAClient,
  SecurityPolicy,
  TimestampsToReturn,
  UserTokenType,
  makeBrowsePath,
  resolveNodeId,
  type ClientMonitoredItemGroup,
  type ClientSession,
  type ClientSubscription,
  type DataValue,
  type NodeId,
  type NotificationMessage,
  type UserIdentityInfo,
} from 'node-opcua';
import { MalformedInputError, OpcuaTimeoutError, OpcuaUntrustedServerError } from '../../../gateway/plugin-api/index.js';
import type { InputContext, InputDefinition, InputPlugin, MachineContext, PluginEnvironment, RecordDraft } from '../../../gateway/plugin-api/index.js';
import { CONTENT_TYPES } from '../../../gateway/plugin-api/index.js';
import { addPkiCommands } from './commands.js';
import type { ScalarBody, SensitivityClass } from '../../../gateway/plugin-api/index.js';
import { opcuaConfigSchema } from './schema.js';
import type { Deadband, OpcuaConfig } from './schema.js';

export const TYPE = 'opcua';

/** the machine context fields this input can follow (its `machine:` config names one node each) */
const MACHINE_ROLES = ['build', 'layer', 'state', 'material', 'feedstockLot', 'jobClass'] as const satisfies readonly (keyof MachineContext)[];
type MachineRole = (typeof MACHINE_ROLES)[number];

/** One variable to monitor, resolved for the current session. */
interface ResolvedItem {
  nodeId: NodeId;
  nodeIdText: string;
  signal: string;
  samplingInterval: number;
  queueSize: number;
  deadband: Deadband | undefined;
  class: SensitivityClass | undefined;
  unit: string | undefined;
  /** set for the machine-context nodes: their changes update the context instead of being records */
  role?: MachineRole;
  /** `,"unit":"..."` of the scalar body (made on first use: units are read after the items resolve) */
  unitJson?: string;
}

/** `,"quality":"<status name>"}`, the end of a scalar body, per status name */
const qualityTail = new Map<string, string>();

/**
 * The scalar body `{"v":..,"unit":..,"quality":..}` (the bytes `JSON.stringify` of a ScalarBody gives,
 * in its key order), made without an intermediate object: this runs for every value change.
 */
function scalarBody(it: ResolvedItem, v: ScalarBody['v'], status: string): Buffer {
  it.unitJson ??= it.unit ? `,"unit":${JSON.stringify(it.unit)}` : '';
  let tail = qualityTail.get(status);
  if (tail === undefined) qualityTail.set(status, (tail = `,"quality":${JSON.stringify(status)}}`));
  return Buffer.from(`{"v":${JSON.stringify(v)}${it.unitJson}${tail}`);
}

export interface OpcuaInputStats {
  connected: boolean;
  subscribed: boolean;
  /** sessions that got as far as an active subscription */
  subscriptions: number;
  connectAttempts: number;
  connectFailures: number;
  /** intervals without data between subscriptions, plus sequence-number jumps inside one */
  gaps: number;
  gapMs: number;
  lostNotificationMessages: number;
  watchdogResets: number;
  notifications: number;
  records: number;
  badStatus: number;
  /**
   * values that arrived with the overflow bit: the server's queue of that item was full and it
   * discarded older values before this one (at least one each; logged at most every 10 s)
   */
  queueOverflows: number;
  quarantined: number;
  droppedRecords: number;
  itemErrors: number;
  monitoredItems: number;
  lastError: string | undefined;
}

interface Session {
  client: OPCUAClient;
  session?: ClientSession;
  subscription?: ClientSubscription;
  ended: Promise<string>;
  end(reason: string): void;
}

const sleep = (ms: number, signal?: { wake?: () => void }) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    if (signal) signal.wake = () => {
      clearTimeout(t);
      resolve();
    };
  });

function timeNs(d: Date | null | undefined, picoseconds: number | undefined): bigint | undefined {
  if (!d) return undefined;
  const ms = d.getTime();
  if (!Number.isFinite(ms) || ms <= 0) return undefined;
  return BigInt(ms) * 1_000_000n + BigInt(Math.floor((picoseconds ?? 0) / 1000));
}

/**
 * `timeNs` for a stream of timestamps that mostly repeat (the values of one publish usually share
 * their source and server timestamps): the bigint and its decimal text are made once per distinct
 * time, not per value.
 */
class TimeCache {
  private ms = Number.NaN;
  private pico: number | undefined = undefined;
  private ns: bigint | undefined = undefined;
  private text: string | undefined = undefined;

  of(d: Date | null | undefined, picoseconds: number | undefined): bigint | undefined {
    if (!d) return undefined;
    const ms = d.getTime();
    if (ms !== this.ms || picoseconds !== this.pico) {
      this.ms = ms;
      this.pico = picoseconds;
      this.ns = timeNs(d, picoseconds);
      this.text = undefined;
    }
    return this.ns;
  }

  /** the decimal text of the time `of` returned last */
  lastText(): string | undefined {
    if (this.ns === undefined) return undefined;
    return (this.text ??= this.ns.toString());
  }
}

/** SHA-1 thumbprint of a DER certificate (what OPC-UA tools and node-opcua's PKI show), lowercase hex. */
export function thumbprint(der: Buffer): string {
  return createHash('sha1').update(der).digest('hex');
}

function pemToDer(pem: string): Buffer {
  const m = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(pem);
  return Buffer.from((m?.[1] ?? '').replace(/\s+/g, ''), 'base64');
}

export class OpcuaInput implements InputPlugin {
  readonly type = TYPE;
  readonly pkiDir: string;
  private ctx: InputContext | undefined;
  private certificateManager: OPCUACertificateManager | undefined;
  private loop: Promise<void> | undefined;
  private stopping = false;
  private current: Session | undefined;
  private sleeper: { wake?: () => void } = {};
  private pending: RecordDraft[] = [];
  private flushScheduled = false;
  private inFlight: Promise<void> | undefined;
  private lastDataAt = 0;
  private openGap: { fromMs: number; reason: string } | undefined;
  private lastSeq = 0;
  private watchdogTimer: NodeJS.Timeout | undefined;
  private readonly silenceMs: number;
  private readonly sourceTimes = new TimeCache();
  private readonly serverTimes = new TimeCache();
  private readonly s: OpcuaInputStats = {
    connected: false, subscribed: false, subscriptions: 0, connectAttempts: 0, connectFailures: 0, gaps: 0, gapMs: 0,
    lostNotificationMessages: 0, watchdogResets: 0, notifications: 0, records: 0, badStatus: 0, queueOverflows: 0, quarantined: 0,
    droppedRecords: 0, itemErrors: 0, monitoredItems: 0, lastError: undefined,
  };

  constructor(
    readonly config: OpcuaConfig,
    env: PluginEnvironment,
  ) {
    this.pkiDir = path.resolve(config.pkiDir ?? path.join(env.dataDir, 'pki', 'opcua'));
    const slowest = Math.max(
      config.publishingInterval,
      config.samplingInterval,
      ...config.items.map((i) => i.samplingInterval ?? 0),
      ...config.discover.map((d) => d.samplingInterval ?? 0),
    );
    this.silenceMs = config.watchdog.silence ?? Math.max(10_000, 20 * slowest);
  }

  stats(): Readonly<OpcuaInputStats> {
    return { ...this.s };
  }

  async start(ctx: InputContext): Promise<void> {
    this.ctx = ctx;
    this.stopping = false;
    routeNodeOpcuaLogs(ctx.log);
    // node-opcua keeps this many publish requests in flight per client; a static of its publish
    // engine, so process-wide: never lowered here, so several inputs get the largest they ask for
    ClientSidePublishEngine.publishRequestCountInPipeline = Math.max(ClientSidePublishEngine.publishRequestCountInPipeline, this.config.publishRequests);
    // the gateway's own certificate exists from the first start on, before any server is reached
    for (const d of ['own', 'trusted', 'rejected']) mkdirSync(path.join(this.pkiDir, d), { recursive: true });
    this.certificateManager = new OPCUACertificateManager({ rootFolder: this.pkiDir, automaticallyAcceptUnknownCertificate: false });
    await this.certificateManager.initialize();
    const probe = this.createClient();
    await (probe as unknown as { createDefaultCertificate(): Promise<void> }).createDefaultCertificate();
    this.loop = this.run();
    this.watchdogTimer = setInterval(() => this.checkWatchdog(), Math.max(50, Math.min(1000, this.silenceMs / 4)));
    this.watchdogTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.watchdogTimer) clearInterval(this.watchdogTimer);
    this.watchdogTimer = undefined;
    this.sleeper.wake?.();
    this.current?.end('stop');
    await this.loop;
    while (this.inFlight || this.pending.length > 0) {
      if (this.inFlight) await this.inFlight;
      else this.flush();
    }
    await this.certificateManager?.dispose().catch(() => undefined);
  }

  /** The gateway's application certificate (PEM path) and its thumbprint. */
  ownCertificate(): { file: string; thumbprint: string } {
    const file = path.join(this.pkiDir, 'own', 'certs', 'client_certificate.pem');
    return { file, thumbprint: thumbprint(pemToDer(readFileSync(file, 'utf8'))) };
  }

  private createClient(): OPCUAClient {
    const c = this.config;
    return OPCUAClient.create({
      applicationName: c.applicationName,
      applicationUri: `urn:layergate:${c.applicationName}:opcua-client`,
      securityMode: MessageSecurityMode[c.securityMode],
      securityPolicy: c.securityMode === 'None' ? SecurityPolicy.None : SecurityPolicy[c.securityPolicy],
      endpointMustExist: false,
      keepSessionAlive: true,
      requestedSessionTimeout: 60_000,
      // our own loop reconnects (module header); one try per client
      connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 },
      clientCertificateManager: this.certificateManager!,
    });
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      const reason = await this.session().catch((err: unknown) => {
        this.s.lastError = err instanceof Error ? err.message : String(err);
        return `error: ${this.s.lastError}`;
      });
      if (this.stopping) break;
      if (reason === 'watchdog') {
        failures = 0;
        continue;
      }
      if (reason.startsWith('error')) failures++;
      else failures = 0;
      const delay = Math.min(this.config.reconnect.initial * 2 ** Math.max(0, failures - 1), this.config.reconnect.max);
      this.ctx!.log.info({ reason, delayMs: delay }, 'opcua: session ended; reconnecting');
      await sleep(delay, this.sleeper);
    }
  }

  /** One session lifetime; resolves with why it ended. */
  private async session(): Promise<string> {
    const ctx = this.ctx!;
    const client = this.createClient();
    let end!: (reason: string) => void;
    const ended = new Promise<string>((r) => (end = r));
    let endedReason: string | undefined;
    const cur: Session = { client, ended, end: (r) => { endedReason ??= r; end(r); } };
    this.current = cur;
    const hookEnd = (r: string) => () => cur.end(r);
    client.on('connection_lost', hookEnd('connection lost'));
    client.on('close', hookEnd('connection closed'));
    this.s.connectAttempts++;
    try {
      try {
        await withTimeout(client.connect(this.config.endpoint), this.config.connectTimeout, `connect to ${this.config.endpoint}`);
      } catch (err) {
        this.s.connectFailures++;
        throw await this.explainConnectError(err);
      }
      if (endedReason) return endedReason;
      this.s.connected = true;
      const identity: UserIdentityInfo | undefined = this.config.username
        ? { type: UserTokenType.UserName, userName: this.config.username, password: this.config.password! }
        : undefined;
      const session = await client.createSession(identity);
      cur.session = session;
      session.on('session_closed', hookEnd('session closed'));
      const items = await this.resolveItems(session);
      const subscription = await session.createSubscription2({
        requestedPublishingInterval: this.config.publishingInterval,
        requestedLifetimeCount: 100,
        requestedMaxKeepAliveCount: 10,
        maxNotificationsPerPublish: 0,
        publishingEnabled: true,
        priority: 10,
      });
      cur.subscription = subscription;
      subscription.on('terminated', hookEnd('subscription terminated'));
      subscription.on('error', (err: Error) => cur.end(`subscription error: ${err.message}`));
      this.lastSeq = 0;
      subscription.on('received_notifications', (m: NotificationMessage) => this.onNotificationMessage(m));
      await this.monitor(subscription, items);
      if (endedReason) return endedReason;
      this.s.subscribed = true;
      this.s.subscriptions++;
      this.lastDataAt = Date.now();
      this.closeGap();
      ctx.log.info({ endpoint: this.config.endpoint, items: items.length, securityMode: this.config.securityMode }, 'opcua: subscribed');
      if (ctx.log.isLevelEnabled('debug')) ctx.log.debug({ nodes: Object.fromEntries(items.map((i) => [i.signal, i.nodeIdText])) }, 'opcua: signal -> NodeId');
      return await ended;
    } finally {
      const wasSubscribed = this.s.subscribed;
      this.s.connected = false;
      this.s.subscribed = false;
      this.current = undefined;
      if (wasSubscribed && !this.stopping) this.openGap ??= { fromMs: this.lastDataAt || Date.now(), reason: endedReason ?? 'unknown' };
      await withTimeout(client.disconnect(), 5000, 'disconnect').catch(() => undefined);
    }
  }

  /** Turn a failed connect into an error an operator can act on. */
  private async explainConnectError(err: unknown): Promise<Error> {
    const msg = err instanceof Error ? err.message : String(err);
    if (!/certificate verification failed/i.test(msg)) return err instanceof Error ? err : new Error(msg);
    const rejected = path.join(this.pkiDir, 'rejected');
    const trusted = path.join(this.pkiDir, 'trusted', 'certs');
    let found: { file: string; tp: string } | undefined;
    const serverTp = await this.serverThumbprint().catch(() => undefined);
    try {
      for (const f of readdirSync(rejected)) {
        if (!/\.(pem|der)$/.test(f)) continue;
        const raw = readFileSync(path.join(rejected, f));
        const der = f.endsWith('.pem') ? pemToDer(raw.toString('utf8')) : raw;
        const tp = thumbprint(der);
        if (serverTp === undefined || serverTp === tp) found = { file: path.join(rejected, f), tp };
        if (found) break;
      }
    } catch {
      /* no rejected folder yet: fall through with what the server tells */
    }
    const tp = found?.tp ?? serverTp ?? 'unknown';
    const where = found ? `move ${found.file} to ${trusted}/` : `put the server's certificate into ${trusted}/`;
    const e = new OpcuaUntrustedServerError(
      `the OPC-UA server certificate of ${this.config.endpoint} is not trusted (SHA-1 thumbprint ${tp}); ` +
        `to trust it, ${where} (or run \`layergate pki trust ${tp}\`) and the input connects on its next attempt`,
      { cause: err },
    );
    this.ctx?.log.error({ thumbprint: tp, rejected: found?.file, trusted }, e.message);
    return e;
  }

  /** The thumbprint of the certificate the server offers for our security policy (via GetEndpoints). */
  private async serverThumbprint(): Promise<string | undefined> {
    const probe = OPCUAClient.create({ endpointMustExist: false, connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 } });
    try {
      await probe.connect(this.config.endpoint);
      const eps = await probe.getEndpoints();
      const cert = eps.find((e) => e.serverCertificate && e.serverCertificate.length > 0)?.serverCertificate;
      return cert ? thumbprint(Buffer.from(cert)) : undefined;
    } finally {
      await probe.disconnect().catch(() => undefined);
    }
  }

  // ---- node resolution --------------------------------------------------------------------------

  private async resolveItems(session: ClientSession): Promise<ResolvedItem[]> {
    const c = this.config;
    const nsArray = await session.readNamespaceArray();
    const aliases = new Map(Object.entries(c.namespaces).map(([alias, uri]) => [alias, nsArray.indexOf(uri)]));
    const mapAlias = (alias: string, ref: string): string => {
      const idx = aliases.get(alias);
      if (idx === undefined) throw new Error(`opcua: unknown namespace alias "${alias}" in "${ref}" (config namespaces)`);
      if (idx < 0) throw new Error(`opcua: namespace ${c.namespaces[alias]} (alias ${alias}) is not on the server (in "${ref}")`);
      return String(idx);
    };
    const toBrowsePath = (ref: string) => ref.replace(/([/.<])([A-Za-z][A-Za-z0-9_]*):/g, (_m, sep: string, a: string) => `${sep}${mapAlias(a, ref)}:`);
    const toNodeId = (ref: string) => resolveNodeId(ref.replace(/^ns=([A-Za-z][A-Za-z0-9_]*);/, (_m, a: string) => `ns=${mapAlias(a, ref)};`));

    // every reference to resolve, in order; browse paths are translated in batches
    const refs: { ref: string; onResolved: (id: NodeId) => void; onMissing: (why: string) => void }[] = [];
    const out: ResolvedItem[] = [];
    const base = (over: { samplingInterval?: number | undefined; queueSize?: number | undefined; deadband?: Deadband | undefined; class?: SensitivityClass | undefined }) => ({
      samplingInterval: over.samplingInterval ?? c.samplingInterval,
      queueSize: over.queueSize ?? c.queueSize,
      deadband: over.deadband ?? c.deadband,
      class: over.class,
    });
    for (const item of c.items) {
      refs.push({
        ref: item.node,
        onResolved: (nodeId) => out.push({ nodeId, nodeIdText: nodeId.toString(), signal: item.signal ?? defaultSignal(item.node), unit: undefined, ...base(item) }),
        onMissing: (why) => this.itemError(item.node, why),
      });
    }
    if (c.machine.enabled) {
      for (const role of MACHINE_ROLES) {
        const rel = c.machine[role];
        if (!rel) continue;
        const ref = rel.startsWith('/') || /^(ns=[^;]+;)?[isgb]=/.test(rel) ? rel : `${c.machine.root}/${rel}`;
        refs.push({
          ref,
          onResolved: (nodeId) =>
            out.push({ nodeId, nodeIdText: nodeId.toString(), signal: `machine.${role}`, unit: undefined, role, samplingInterval: c.samplingInterval, queueSize: 100, deadband: undefined, class: undefined }),
          onMissing: (why) => this.ctx!.log.warn({ role, node: ref, why }, 'opcua: machine context node not found; that part of the context stays unknown'),
        });
      }
    }
    const folders: { cfg: (typeof c.discover)[number]; nodeId: NodeId }[] = [];
    for (const d of c.discover) {
      refs.push({ ref: d.folder, onResolved: (nodeId) => folders.push({ cfg: d, nodeId }), onMissing: (why) => this.itemError(d.folder, why) });
    }

    const paths: { i: number; bp: ReturnType<typeof makeBrowsePath> }[] = [];
    for (let i = 0; i < refs.length; i++) {
      const r = refs[i]!;
      try {
        if (r.ref.startsWith('/')) paths.push({ i, bp: makeBrowsePath('RootFolder', toBrowsePath(r.ref)) });
        else r.onResolved(toNodeId(r.ref));
      } catch (err) {
        r.onMissing((err as Error).message);
      }
    }
    for (let k = 0; k < paths.length; k += 1000) {
      const chunk = paths.slice(k, k + 1000);
      const results = await session.translateBrowsePath(chunk.map((p) => p.bp));
      chunk.forEach((p, j) => {
        const res = results[j];
        const target = res?.targets?.[0]?.targetId;
        if (res?.statusCode.isGood() && target) refs[p.i]!.onResolved(target);
        else refs[p.i]!.onMissing(`browse path not found (${res?.statusCode.name ?? 'no result'})`);
      });
    }
    for (const f of folders) out.push(...(await this.discover(session, f.nodeId, f.cfg.signalPrefix, f.cfg.maxDepth, base(f.cfg))));
    await this.readUnits(session, out.filter((i) => !i.role));
    return out;
  }

  private itemError(node: string, why: string): void {
    this.s.itemErrors++;
    this.ctx!.log.warn({ node, why }, 'opcua: item not monitored');
  }

  /** The variables below a folder (HasComponent/Organizes, not properties), named by their browse names. */
  private async discover(
    session: ClientSession,
    folder: NodeId,
    prefix: string,
    maxDepth: number,
    params: Omit<ResolvedItem, 'nodeId' | 'nodeIdText' | 'signal' | 'unit'>,
  ): Promise<ResolvedItem[]> {
    const found: ResolvedItem[] = [];
    let level: { nodeId: NodeId; names: string[] }[] = [{ nodeId: folder, names: [] }];
    for (let depth = 0; depth < maxDepth && level.length > 0; depth++) {
      const results = await session.browse(
        level.map((l) => ({
          nodeId: l.nodeId,
          browseDirection: BrowseDirection.Forward,
          referenceTypeId: 'HierarchicalReferences',
          includeSubtypes: true,
          nodeClassMask: NodeClassMask.Object | NodeClassMask.Variable,
          resultMask: 63,
        })),
      );
      const next: typeof level = [];
      results.forEach((res, j) => {
        for (const ref of res.references ?? []) {
          if (ref.referenceTypeId.toString() === 'ns=0;i=46') continue; // HasProperty: metadata, not a value
          const names = [...level[j]!.names, ref.browseName.name ?? ref.nodeId.toString()];
          if (ref.nodeClass === 2 /* Variable */) {
            const signal = (prefix ? [prefix, ...names] : names).join('.');
            found.push({ nodeId: ref.nodeId, nodeIdText: ref.nodeId.toString(), signal, unit: undefined, ...params });
          } else next.push({ nodeId: ref.nodeId, names });
        }
      });
      level = next;
    }
    return found;
  }

  /** EngineeringUnits (AnalogItems) of the items, read in batches; the unit is its display name. */
  private async readUnits(session: ClientSession, items: ResolvedItem[]): Promise<void> {
    for (let k = 0; k < items.length; k += 1000) {
      const chunk = items.slice(k, k + 1000);
      const results = await session.translateBrowsePath(chunk.map((it) => makeBrowsePath(it.nodeId, '.EngineeringUnits')));
      const withEu = chunk.map((it, j) => ({ it, id: results[j]?.statusCode.isGood() ? results[j]?.targets?.[0]?.targetId : undefined })).filter((x) => x.id);
      if (withEu.length === 0) continue;
      const values = await session.read(withEu.map((x) => ({ nodeId: x.id!, attributeId: AttributeIds.Value })));
      withEu.forEach((x, j) => {
        const eu = values[j]?.value?.value as { displayName?: { text?: string | null } } | null | undefined;
        const text = eu?.displayName?.text;
        if (text) x.it.unit = text;
      });
    }
  }

  // ---- subscription -----------------------------------------------------------------------------

  private async monitor(subscription: ClientSubscription, items: ResolvedItem[]): Promise<void> {
    const groups = new Map<string, ResolvedItem[]>();
    for (const it of items) {
      const key = `${it.samplingInterval}|${it.queueSize}|${it.deadband ? `${it.deadband.type}:${it.deadband.value}` : ''}`;
      let g = groups.get(key);
      if (!g) groups.set(key, (g = []));
      g.push(it);
    }
    this.s.monitoredItems = 0;
    for (const g of groups.values()) {
      const first = g[0]!;
      for (let k = 0; k < g.length; k += 1000) {
        const chunk = g.slice(k, k + 1000);
        const filter = first.deadband
          ? new DataChangeFilter({
              trigger: DataChangeTrigger.StatusValue,
              deadbandType: first.deadband.type === 'absolute' ? DeadbandType.Absolute : DeadbandType.Percent,
              deadbandValue: first.deadband.value,
            })
          : null;
        const group: ClientMonitoredItemGroup = await subscription.monitorItems(
          chunk.map((it) => ({ nodeId: it.nodeId, attributeId: AttributeIds.Value })),
          { samplingInterval: first.samplingInterval, queueSize: first.queueSize, discardOldest: true, filter },
          TimestampsToReturn.Both,
        );
        group.monitoredItems.forEach((mi, j) => {
          const sc = (mi as unknown as { statusCode?: { isGood(): boolean; name: string } }).statusCode;
          if (sc && !sc.isGood()) this.itemError(chunk[j]!.nodeIdText, `server refused the monitored item: ${sc.name}`);
          else this.s.monitoredItems++;
        });
        group.on('changed', (_mi, dv: DataValue, index: number) => {
          const it = chunk[index];
          if (it) this.onChange(it, dv);
        });
      }
    }
  }

  private onNotificationMessage(m: NotificationMessage): void {
    if (!m.notificationData || m.notificationData.length === 0) return; // keep-alive
    const seq = m.sequenceNumber;
    if (this.lastSeq > 0 && seq > this.lastSeq + 1) {
      const lost = seq - this.lastSeq - 1;
      this.s.lostNotificationMessages += lost;
      this.s.gaps++;
      this.ctx!.log.warn({ lost, after: this.lastSeq, seq }, 'opcua: notification messages lost inside the subscription');
      this.push(gapEvent('lost-notifications', Date.now(), Date.now(), { lost }));
    }
    if (seq > this.lastSeq) this.lastSeq = seq;
  }

  private onChange(it: ResolvedItem, dv: DataValue): void {
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
    let v: ScalarBody['v'] | undefined;
    try {
      v = scalarValue(dv);
    } catch (err) {
      this.s.quarantined++;
      ctx.quarantine(`${it.nodeIdText} (${it.signal})`, err as Error, Buffer.from(safeJson(dv.value.value)));
      return;
    }
    if (!good) this.s.badStatus++;
    if (v === undefined) {
      // a bad status with no value: recorded, the value is the empty string so the record stays a valid scalar
      v = '';
    }
    const m = ctx.machineContext();
    const attributes: Record<string, string> = { status };
    if (this.config.nodeIdAttribute) attributes.node_id = it.nodeIdText;
    if (this.serverTimes.of(dv.serverTimestamp, dv.serverPicoseconds) !== undefined) attributes.server_time_ns = this.serverTimes.lastText()!;
    if (m.state !== undefined) attributes.machine_state = m.state;
    // one object shape for every value (absent fields are undefined): this runs per value change
    this.push({
      signal: it.signal,
      kind: 'scalar',
      contentType: CONTENT_TYPES.scalar,
      body: scalarBody(it, v, status),
      attributes,
      sourceTimeNs,
      class: it.class,
      // stamped at arrival: a layer change later in the same batch must not relabel earlier values
      build: m.build,
      layer: m.layer,
    });
  }

  private overflowLog = { at: 0, since: 0 };

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
      const n = Number(raw);
      value = Number.isFinite(n) ? n : undefined;
    } else if (raw !== null && raw !== undefined) {
      value = typeof raw === 'object' && 'text' in raw ? String((raw as { text: unknown }).text) : String(raw);
    }
    if (value === undefined || before[role] === value) return;
    ctx.setMachineContext({ [role]: value } as Partial<MachineContext>);
    if (role === 'state') {
      const after = ctx.machineContext();
      this.push({
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

  private closeGap(): void {
    const g = this.openGap;
    if (!g) return;
    this.openGap = undefined;
    const to = Date.now();
    this.s.gaps++;
    this.s.gapMs += to - g.fromMs;
    this.ctx!.log.warn({ from: new Date(g.fromMs).toISOString(), to: new Date(to).toISOString(), ms: to - g.fromMs, reason: g.reason }, 'opcua: gap in the data (no subscription)');
    this.push(gapEvent(g.reason, g.fromMs, to));
  }

  private checkWatchdog(): void {
    const c = this.config.watchdog;
    if (!c.enabled || !this.s.subscribed || !this.current) return;
    const state = this.ctx?.machineContext().state;
    const applies = c.whileStates.length === 0 || !this.config.machine.enabled || (state !== undefined && c.whileStates.includes(state));
    if (!applies) {
      // silence outside a build is normal; the clock restarts when the build does
      this.lastDataAt = Date.now();
      return;
    }
    const silent = Date.now() - this.lastDataAt;
    if (silent <= this.silenceMs) return;
    this.s.watchdogResets++;
    this.ctx!.log.warn({ silentMs: silent, limitMs: this.silenceMs, state }, 'opcua: subscription connected but silent; tearing down the session and resubscribing');
    this.current.end('watchdog');
  }

  // ---- batching into the buffer -----------------------------------------------------------------

  private push(d: RecordDraft): void {
    this.pending.push(d);
    if (!this.flushScheduled && !this.inFlight) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.inFlight || this.pending.length === 0) return;
    const batch = this.pending.length <= this.config.maxBatch ? this.pending : this.pending.slice(0, this.config.maxBatch);
    this.pending = batch === this.pending ? [] : this.pending.slice(batch.length);
    const ctx = this.ctx!;
    this.inFlight = ctx
      .emit(batch)
      .then(() => {
        this.s.records += batch.length;
      })
      .catch((err: unknown) => {
        // OPC-UA cannot redeliver: what the buffer refused is counted and logged, never retried forever
        this.s.droppedRecords += batch.length;
        ctx.log.error({ err, records: batch.length }, 'opcua: records could not be stored');
      })
      .finally(() => {
        this.inFlight = undefined;
        if (this.pending.length > 0) this.flush();
      });
  }
}

function gapEvent(reason: string, fromMs: number, toMs: number, extra: Record<string, unknown> = {}): RecordDraft {
  return {
    signal: 'opcua.gap',
    kind: 'event',
    contentType: CONTENT_TYPES.event,
    body: Buffer.from(JSON.stringify({ type: 'gap', reason, from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString(), ms: toMs - fromMs, ...extra })),
    sourceTimeNs: BigInt(fromMs) * 1_000_000n,
  };
}

/** The default signal name of an item: the last two browse names of a path, or the NodeId. */
export function defaultSignal(ref: string): string {
  if (!ref.startsWith('/')) return ref;
  const names = ref.split(/[/.]/).filter(Boolean).map((s) => s.replace(/^[A-Za-z0-9_]+:/, ''));
  return names.slice(-2).join('.');
}

/** A DataValue's value as a scalar body value; undefined when there is none; throws on what is not storable. */
export function scalarValue(dv: DataValue): ScalarBody['v'] | undefined {
  const variant = dv.value;
  const v: unknown = variant?.value;
  if (v === null || v === undefined || variant.dataType === DataType.Null) return undefined;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new MalformedInputError(`non-finite value ${v} (${DataType[variant.dataType]})`);
    return v;
  }
  if (typeof v === 'boolean' || typeof v === 'string') return v;
  if ((variant.dataType === DataType.Int64 || variant.dataType === DataType.UInt64) && Array.isArray(v) && v.length === 2) {
    const [hi, lo] = v as [number, number];
    return hi * 2 ** 32 + lo;
  }
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'object' && v !== null && 'text' in v) return String((v as { text: unknown }).text ?? '');
  if (typeof v === 'object' && v !== null && 'name' in v && variant.dataType === DataType.QualifiedName) return String((v as { name: unknown }).name);
  if (typeof v === 'bigint') return Number(v);
  if (Array.isArray(v) || ArrayBuffer.isView(v)) return JSON.stringify(Array.from(v as ArrayLike<unknown>));
  return String(v);
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'number' && !Number.isFinite(x) ? String(x) : typeof x === 'bigint' ? x.toString() : x)) ?? String(v);
  } catch {
    return String(v);
  }
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_r, reject) => {
        t = setTimeout(() => reject(new OpcuaTimeoutError(`opcua: ${what} timed out after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(t);
  }
}

export const definition: InputDefinition<OpcuaConfig> = {
  type: TYPE,
  configSchema: opcuaConfigSchema,
  renamedKeys: { 'reconnect.initialDelay': 'reconnect.initial', 'reconnect.maxDelay': 'reconnect.max' },
  commands: addPkiCommands,
  create: (config, env) => new OpcuaInput(config, env),
};
