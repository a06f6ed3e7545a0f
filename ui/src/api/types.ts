/**
 * The shapes of the control-plane API's answers the UI reads, written out here rather than imported:
 * the gateway's schemas (gateway/api/status.ts, routes/session.ts, routes/frames.ts) are zod in Node
 * modules, and the browser bundle must not pull them in. Keep in step with those schemas; the
 * browser tests (ui/*.int.test.ts) read a live gateway through these types.
 */

export type Role = 'viewer' | 'operator' | 'admin';

/** POST /api/v1/login */
export interface LoginAnswer {
  user: string;
  role: Role;
  csrfToken: string;
  expiresAt: string;
}

/** GET /api/v1/me */
export interface MeAnswer {
  name: string;
  kind: 'session' | 'token';
  role: Role;
  maxClass: string;
  csrfToken: string | null;
}

/** the API's error body: `{ error: <code>, message }` */
export interface ApiErrorBody {
  error: string;
  message: string;
}

export interface InputStatus {
  name: string;
  records: number;
  bytes: number;
  recordsPerSecond: number;
  bytesPerSecond: number;
  quarantined: number;
  quarantinedByReason: Record<string, number>;
  failedEmits: number;
  blockedEmits: number;
}

export interface SyncSection {
  paused: boolean;
  bandwidth: { usedBitsPerSecond: number | null; capBitsPerSecond: number | null };
  queue: { objects: number; bytes: number; bytesLeft: number };
  synced: { objects: number; bytes: number };
  etaSeconds: number | null;
  lastError: string | null;
}

export interface OutputStatus {
  name: string;
  /** idle | lingering | sending | backing-off | stopped (gateway/forward/forwarder.ts) */
  state: string;
  lagRecords: number;
  lagSeconds: number;
  deliveredRecords: number;
  recordsPerSecond: number;
  retries: number;
  failures: number;
  errorsByKind: Record<string, number>;
  quarantinedRecords: number;
  offPremisesRefused: number;
  lastError: { message: string; at: string } | null;
  configFailure: { reason: string; message: string; action: string; since: string } | null;
  sync?: SyncSection | null;
}

export interface Alert {
  severity: 'warning' | 'critical';
  id: string;
  message: string;
  acknowledged: { by: string; at: string } | null;
}

/** GET /api/v1/status and each `status` event of /api/v1/status/stream */
export interface GatewayStatus {
  machine: string;
  startedAt: string;
  uptimeSeconds: number;
  ready: boolean;
  machineContext: { build: string | null; layer: number | null; state: string | null; material: string | null };
  inputs: InputStatus[];
  buffer: {
    records: number;
    bytes: number;
    recordBytesLimit: number;
    maxBytes: number;
    fill: number;
    oldestRecordAgeSeconds: number | null;
    evictedRecords: number;
    removedSinks: { name: string; lagRecords: number }[];
  };
  outputs: OutputStatus[];
  alerts: Alert[];
}

export interface FrameInfo {
  seq: number;
  camera: string;
  signal: string;
  build: string | null;
  layer: number | null;
  receivedAt: string;
  sourceTime: string | null;
  size: number;
  contentType: string;
  class: string;
  width: number | null;
  height: number | null;
  phase: string | null;
  thumbnailSeq: number | null;
}

/** GET /api/v1/frames/latest */
export interface FrameList {
  frames: FrameInfo[];
  truncated: boolean;
  coveredFrom: string | null;
}

/** GET /api/v1/signals (gateway/api/routes/signals.ts) */
export type RecordKind = 'scalar' | 'samples' | 'event' | 'frame' | 'document';

export interface SignalInfo {
  source: string;
  signal: string;
  contentType: string;
  kind: RecordKind;
  class: string;
  /** what decided the class: a rule, the input's class, the default */
  rule: string;
  routes: string[];
}

export interface SignalList {
  signals: SignalInfo[];
}

/** one time bucket of GET /api/v1/signals/values */
export interface ValueBucket {
  start: string;
  count: number;
  min: number | null;
  max: number | null;
  first: unknown;
  firstAt: string;
  last: unknown;
  lastAt: string;
  /** sample blocks: NaN samples in the bucket */
  nan?: number;
}

/** GET /api/v1/signals/values?source=&signal=&from=&to=&points=&channel= */
export interface SignalValues {
  source: string;
  signal: string;
  class: string;
  type: string | null;
  unit: string | null;
  numeric: boolean;
  from: string;
  to: string;
  /** width of a bucket in ns (decimal) */
  bucketNs: string;
  records: number;
  truncated: boolean;
  coveredFrom: string | null;
  channel?: string;
  channels?: string[];
  samples?: number;
  buckets: ValueBucket[];
}

/** GET /api/v1/explain (gateway/api/routes/explain.ts) */
export interface ExplainAnswer {
  input: string;
  signal: string;
  kind: RecordKind;
  build: string | null;
  classification: {
    class: string;
    rule: string;
    matched: { rule: string; class: string; description?: string }[];
    base: { class: string; from: string };
    floors: { from: string; class: string }[];
  };
  routing: {
    routes: string[];
    outputs: { output: string; receives: boolean; why: string }[];
  };
  premises: Record<string, 'on' | 'off'>;
  jobMark: string | null;
}

// ---- operations and administration pages (gateway/api/routes/{quarantine,buffer,audit,users}.ts, plugin actions)

export type SensitivityClass = 'public' | 'internal' | 'sensitive' | 'confidential';

/** an item of GET /api/v1/quarantine */
export interface QuarantineItem {
  kind: 'inputs' | 'outputs';
  name: string;
  item: string;
  at: string | null;
  reason: string;
  where: string | null;
  error: { name: string | null; code: string | null; message: string };
  size: number | null;
  records: number | null;
  sealed: boolean;
  class: SensitivityClass | null;
  hasData: boolean;
}

/** GET /api/v1/quarantine */
export interface QuarantineAnswer {
  items: QuarantineItem[];
  total: number;
  counts: { kind: 'inputs' | 'outputs'; name: string; reason: string; items: number; bytes: number }[];
  /** items above the caller's maxClass, not listed */
  hidden: number;
}

/** an entry of GET /api/v1/losses */
export interface LossEntry {
  id: number;
  atNs: string;
  source: string;
  signal: string;
  class: SensitivityClass;
  firstSeq: number;
  lastSeq: number;
  records: number;
  bytes: number;
  reason: string;
  sinks: string[];
  at: string | null;
}

/** an entry of GET /api/v1/buffer/sinks */
export interface BufferSink {
  name: string;
  /** still an output of the running config */
  listed: boolean;
  held: boolean;
  cursor: number;
  lagRecords: number;
  lagBytes: number;
}

/** DELETE /api/v1/buffer/sinks/<name> */
export interface SinkDropped {
  sink: string;
  records: number;
  bytes: number;
}

export interface AuditEntry {
  seq: number;
  at: string;
  type: string;
  data: Record<string, unknown>;
  prev: string;
  hash: string;
}

/** GET /api/v1/audit */
export interface AuditAnswer {
  entries: AuditEntry[];
  nextBefore: number | null;
  chain: { ok: boolean; entries: number; head: string | null; broken?: { line: number; seq: number | null; problem: string } };
}

/** GET /api/v1/users */
export interface UserInfo {
  name: string;
  role: Role;
  createdAt: string;
  updatedAt: string;
}

/** GET /api/v1/tokens */
export interface TokenInfo {
  id: string;
  label: string;
  role: Role;
  maxClass: SensitivityClass;
  createdBy: string;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
}

/** POST /api/v1/tokens: the secret is in this answer only */
export interface TokenCreated {
  token: string;
  info: TokenInfo;
}

/** an entry of the opcua input's pki-list action */
export interface PkiCertificate {
  where: 'own' | 'trusted' | 'rejected';
  file: string;
  thumbprint: string;
  subject: string;
  validTo: string;
}

// --- configuration (gateway/api/routes/config.ts) ---

/** GET /api/v1/config: the running configuration, defaults applied and secrets redacted */
export interface RunningConfig {
  origin: string;
  config: Record<string, unknown>;
  yaml: string;
}

/** POST /api/v1/config/validate */
export interface ConfigValidation {
  ok: boolean;
  problems: string[];
  warnings: string[];
  summary: string | null;
}

/** one entry of GET /api/v1/config/versions (newest first) */
export interface ConfigVersionInfo {
  n: number;
  at: string;
  author: string;
  comment: string;
  origin: string;
  sha256: string;
}

/** GET /api/v1/config/versions/:n (secrets hidden, `${VAR}` references kept) */
export interface ConfigVersionText {
  version: ConfigVersionInfo;
  text: string;
}

/** GET /api/v1/config/diff?from=&to= */
export interface ConfigDiff {
  from: number;
  to: number;
  diff: string;
}

export interface InstanceChanges {
  added: string[];
  removed: string[];
  changed: string[];
  unchanged: string[];
}

/** POST /api/v1/config/apply and /rollback */
export interface ConfigApplied {
  version: number | null;
  inputs: InstanceChanges;
  outputs: InstanceChanges;
  policyChanged: boolean;
  file: { path: string; written: boolean; reason?: string } | null;
}

/** a refused apply (422): the API's message and, when the text does not load, its problem lines */
export interface ConfigRefusal {
  error: string;
  message: string;
  problems?: string[];
}
