/**
 * The `opcua` input: a node-opcua client that subscribes to a machine's variables and follows the
 * machine context (job, layer, state, material, feedstock lot) that every record of every input is
 * stamped with. This module owns the session life cycle; the other jobs live beside it: nodes.ts
 * (which nodes), subscription.ts (monitored items), changes.ts (values to records, batching),
 * values.ts (value conversion), gaps.ts (gap records), watchdog.ts (silent subscriptions), trust.ts
 * (server certificates).
 *
 * Design constraints:
 * - One session lifetime = one fresh OPCUAClient: connect, resolve nodes (browse paths, discovery,
 *   engineering units), subscribe, run until the connection drops, the subscription dies or the
 *   watchdog trips, tear down, back off, start over. node-opcua's own reconnection is not used: a
 *   restarted server has lost the subscription anyway, and one code path for every kind of failure
 *   (including "connected but silent") is easier to reason about than transfer-or-recreate.
 * - Reconnects back off exponentially (`exponentialDelay`, from `reconnect.initialDelay` to
 *   `reconnect.maxDelay`) after failed sessions; a session that ended without an error (or by the
 *   watchdog) starts the count over. `stop()` cuts the sleep short.
 * - Security: the gateway's application certificate is created on first start in <pkiDir>/own
 *   with the configured subject (certificate.ts) and persists; the session announces the
 *   application URI in it. Unknown server certificates are never accepted automatically, and every
 *   trust failure in either direction is logged at warn with the next command (trust.ts).
 * - Every client this input makes, the hint's endpoint probe included, uses the input's own PKI
 *   folder: never node-opcua's machine-wide default one, which is made on first use under a
 *   cross-process lock that another node-opcua program on the host may hold for minutes.
 */
import path from 'node:path';
// first: node-opcua must not print to stdout (see the module)
import { routeNodeOpcuaLogs } from './node-opcua-log.js';
import {
  ClientSidePublishEngine,
  MessageSecurityMode,
  type OPCUACertificateManager,
  OPCUAClient,
  SecurityPolicy,
  UserTokenType,
  type ClientSession,
  type ClientSubscription,
  type NotificationMessage,
  type UserIdentityInfo,
} from 'node-opcua';
import { Sleeper, exponentialDelay } from '../../../gateway/plugin-api/index.js';
import type { InputContext, InputDefinition, InputPlugin, PluginEnvironment } from '../../../gateway/plugin-api/index.js';
import { ChangeRecorder } from './changes.js';
import { withTimeout } from './deadline.js';
import { GapTracker } from './gaps.js';
import { readRequestLimits } from './limits.js';
import { resolveItems } from './nodes.js';
import type { OpcuaConfig } from './schema.js';
import { monitorItems } from './subscription.js';
import {
  certificateDifferences,
  ensureOwnCertificate,
  openCertificateManager,
  ownCertificateFile,
  readCertificateInfo,
  wantedCertificate,
} from './certificate.js';
import { dropRejectedDuplicates } from './pki.js';
import { HintLog, explainConnectError, explainSessionError, pkiCommand, type HintContext } from './trust.js';
import { SilenceWatchdog } from './watchdog.js';
import { definition as lazyDefinition } from './definition.js';

export const TYPE = 'opcua';

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

export class OpcuaInput implements InputPlugin {
  readonly type = TYPE;
  readonly pkiDir: string;
  private ctx: InputContext | undefined;
  private certificateManager: OPCUACertificateManager | undefined;
  private loop: Promise<void> | undefined;
  private stopping = false;
  private current: Session | undefined;
  /** the reconnect backoff sleep; stop() wakes it */
  private readonly sleeper = new Sleeper();
  private watchdogTimer: NodeJS.Timeout | undefined;
  private readonly watchdog: SilenceWatchdog;
  private readonly s: OpcuaInputStats = {
    connected: false,
    subscribed: false,
    subscriptions: 0,
    connectAttempts: 0,
    connectFailures: 0,
    gaps: 0,
    gapMs: 0,
    lostNotificationMessages: 0,
    watchdogResets: 0,
    notifications: 0,
    records: 0,
    badStatus: 0,
    queueOverflows: 0,
    quarantined: 0,
    droppedRecords: 0,
    itemErrors: 0,
    monitoredItems: 0,
    lastError: undefined,
  };
  /** value changes to records, and their group commits (records and droppedRecords are its counters) */
  private readonly changes: ChangeRecorder;
  private readonly gaps: GapTracker;

  /** the application URI of the session: the one in the gateway's certificate */
  private applicationUri: string | undefined;
  private readonly configFile: string | undefined;
  private readonly hints = new HintLog(() => this.ctx?.log);

  constructor(
    readonly config: OpcuaConfig,
    env: PluginEnvironment,
  ) {
    this.pkiDir = path.resolve(config.pkiDir ?? path.join(env.dataDir, 'pki', 'opcua'));
    this.configFile = env.configFile;
    this.watchdog = new SilenceWatchdog(config);
    this.changes = new ChangeRecorder(config, this.s);
    this.gaps = new GapTracker(
      this.s,
      (d) => this.changes.push(d),
      () => this.ctx!.log,
    );
  }

  stats(): Readonly<OpcuaInputStats> {
    const b = this.changes.batcher;
    return { ...this.s, records: b.committedRecords, droppedRecords: b.failedRecords };
  }

  async start(ctx: InputContext): Promise<void> {
    this.ctx = ctx;
    this.changes.attach(ctx);
    this.stopping = false;
    routeNodeOpcuaLogs(ctx.log);
    // node-opcua keeps this many publish requests in flight per client; a static of its publish
    // engine, so process-wide: never lowered here, so several inputs get the largest they ask for
    ClientSidePublishEngine.publishRequestCountInPipeline = Math.max(ClientSidePublishEngine.publishRequestCountInPipeline, this.config.publishRequests);
    // the gateway's own certificate exists from the first start on, before any server is reached
    this.certificateManager = await openCertificateManager(this.pkiDir);
    const own = await ensureOwnCertificate(this.certificateManager, this.pkiDir, this.config);
    const want = wantedCertificate(this.config);
    this.applicationUri = own.applicationUri ?? want.applicationUri;
    const differs = certificateDifferences(own, want);
    if (differs.length > 0) {
      ctx.log.warn(
        { certificate: own.file, thumbprint: own.thumbprint, differs, command: pkiCommand(this.hintContext(), 'renew') },
        `opcua: the gateway's certificate was made with other settings than the config's \`certificate\` (${differs.join('; ')}); it is used as it is. ` +
          `\`${pkiCommand(this.hintContext(), 'renew')}\` makes a new one with them (the servers must then trust the new one)`,
      );
    }
    this.loop = this.run();
    this.watchdogTimer = setInterval(() => this.checkWatchdog(), this.watchdog.checkIntervalMs);
    this.watchdogTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.watchdogTimer) clearInterval(this.watchdogTimer);
    this.watchdogTimer = undefined;
    this.sleeper.wake();
    this.current?.end('stop');
    await this.loop;
    await this.changes.batcher.drain();
    await this.certificateManager?.dispose().catch(() => undefined);
  }

  /** The gateway's application certificate (PEM path) and its thumbprint. */
  ownCertificate(): { file: string; thumbprint: string } {
    const { file, thumbprint } = readCertificateInfo(ownCertificateFile(this.pkiDir));
    return { file, thumbprint };
  }

  /** what the trust hints name: the endpoint, the PKI folder and the command line that reaches it */
  private hintContext(): HintContext {
    return {
      endpoint: this.config.endpoint,
      pkiDir: this.pkiDir,
      configFile: this.configFile,
      inputName: this.ctx?.name,
      ownPkiDir: this.config.pkiDir !== undefined,
      ownCertificate: () => {
        try {
          return this.ownCertificate();
        } catch {
          return undefined;
        }
      },
      username: this.config.username,
      probeClient: () => this.createClient('None'),
    };
  }

  /** A client on the input's own PKI: the configured security, or `None` (for reading the server's endpoints). */
  private createClient(securityMode: OpcuaConfig['securityMode'] = this.config.securityMode): OPCUAClient {
    const c = this.config;
    return OPCUAClient.create({
      applicationName: c.applicationName,
      applicationUri: this.applicationUri!,
      securityMode: MessageSecurityMode[securityMode],
      securityPolicy: securityMode === 'None' ? SecurityPolicy.None : SecurityPolicy[c.securityPolicy],
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
      await this.rereadTrustList();
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
      const delay = exponentialDelay(failures - 1, { initialMs: this.config.reconnect.initial, maxMs: this.config.reconnect.max });
      this.ctx!.log.info({ reason, delayMs: delay }, 'opcua: session ended; reconnecting');
      await this.sleeper.sleep(delay);
    }
  }

  /**
   * Each connect attempt sees the trust list as it is on disk when it starts: the certificate
   * manager has no file watchers (certificate.ts), so nothing changes its lists during an attempt,
   * and the folders are read again here. A certificate in trusted/ and rejected/ at once (the
   * manager filed it as unknown while an admin's move was in flight) is trusted: the copy in
   * rejected/ goes, since the manager would take it for a rejection.
   */
  private async rereadTrustList(): Promise<void> {
    try {
      for (const c of dropRejectedDuplicates(this.pkiDir)) {
        this.ctx!.log.info({ thumbprint: c.thumbprint, file: c.file }, 'opcua: a trusted server certificate was also in rejected/; that copy is removed');
      }
      await this.certificateManager!.reloadCertificates();
    } catch (err) {
      this.ctx!.log.warn({ err, pkiDir: this.pkiDir }, 'opcua: could not read the PKI folders again; this try uses the trust list as it was');
    }
  }

  /** One session lifetime; resolves with why it ended. */
  private async session(): Promise<string> {
    const ctx = this.ctx!;
    const client = this.createClient();
    let end!: (reason: string) => void;
    const ended = new Promise<string>((r) => (end = r));
    let endedReason: string | undefined;
    const cur: Session = {
      client,
      ended,
      end: (r) => {
        endedReason ??= r;
        end(r);
      },
    };
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
        throw await explainConnectError(err, this.hintContext(), this.hints);
      }
      if (endedReason) return endedReason;
      this.s.connected = true;
      const identity: UserIdentityInfo | undefined = this.config.username
        ? { type: UserTokenType.UserName, userName: this.config.username, password: this.config.password! }
        : undefined;
      const session = await client.createSession(identity).catch((err: unknown) => {
        throw explainSessionError(err, this.hintContext(), this.hints);
      });
      cur.session = session;
      session.on('session_closed', hookEnd('session closed'));
      const limits = await readRequestLimits(session);
      const items = await resolveItems(session, this.config, { itemError: (node, why) => this.itemError(node, why), log: ctx.log, limits });
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
      this.gaps.resetSequence();
      subscription.on('received_notifications', (m: NotificationMessage) => this.gaps.onNotificationMessage(m));
      const changes = this.changes;
      await monitorItems(
        subscription,
        items,
        (it, dv) => changes.onChange(it, dv),
        (node, why) => this.itemError(node, why),
        this.s,
        limits,
      );
      if (endedReason) return endedReason;
      this.s.subscribed = true;
      this.s.subscriptions++;
      this.changes.lastDataAt = Date.now();
      this.gaps.close();
      ctx.log.info({ endpoint: this.config.endpoint, items: items.length, securityMode: this.config.securityMode }, 'opcua: subscribed');
      if (ctx.log.isLevelEnabled('debug')) ctx.log.debug({ nodes: Object.fromEntries(items.map((i) => [i.signal, i.nodeIdText])) }, 'opcua: signal -> NodeId');
      return await ended;
    } catch (err) {
      // stats show the error as soon as it is logged, not after the disconnect below
      this.s.lastError = err instanceof Error ? err.message : String(err);
      throw err;
    } finally {
      const wasSubscribed = this.s.subscribed;
      this.s.connected = false;
      this.s.subscribed = false;
      this.current = undefined;
      if (wasSubscribed && !this.stopping) this.gaps.open(this.changes.lastDataAt || Date.now(), endedReason ?? 'unknown');
      await withTimeout(client.disconnect(), 5000, 'disconnect').catch(() => undefined);
    }
  }

  private itemError(node: string, why: string): void {
    this.s.itemErrors++;
    this.ctx!.log.warn({ node, why }, 'opcua: item not monitored');
  }

  private checkWatchdog(): void {
    if (!this.config.watchdog.enabled || !this.s.subscribed || !this.current) return;
    const state = this.ctx?.machineContext().state;
    const silent = this.watchdog.check(this.changes, state);
    if (silent === undefined) return;
    this.s.watchdogResets++;
    this.ctx!.log.warn(
      { silentMs: silent, limitMs: this.watchdog.limitMs, state },
      'opcua: subscription connected but silent; tearing down the session and resubscribing',
    );
    this.current.end('watchdog');
  }
}

/** The full definition: the lazy one of ./definition.ts, and how to create an instance. */
export const definition: InputDefinition<OpcuaConfig> = {
  ...lazyDefinition,
  create: (config, env) => new OpcuaInput(config, env),
};
