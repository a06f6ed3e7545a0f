/**
 * Which OPC-UA nodes the input monitors, resolved once per session: the configured items (NodeIds or
 * browse paths with namespace aliases), the machine-context nodes, the variables found below
 * `discover` folders, and their engineering units.
 *
 * Design constraints:
 * - Resolved against the live server on every session: namespace indexes and browse paths may change
 *   when the server restarts.
 * - Browses, browse paths, unit lookups and reads go in batches (one request each), not per node,
 *   each within the server's operation limit per request (./limits.ts), 1,000 at most.
 * - A node that cannot be resolved is reported (`itemError`, or a warning for a machine node) and left
 *   out; it never fails the session.
 */
// first: node-opcua must not print to stdout (see the module)
import './node-opcua-log.js';
import { AttributeIds, BrowseDirection, NodeClassMask, makeBrowsePath, resolveNodeId, type BrowseResult, type ClientSession, type NodeId } from 'node-opcua';
import type { Logger } from 'pino';
import type { MachineContext, SensitivityClass } from '../../../gateway/plugin-api/index.js';
import type { Deadband, OpcuaConfig } from './schema.js';
import { slices, type RequestLimits } from './limits.js';

/** the machine context fields this input can follow (its `machine:` config names one node each) */
export const MACHINE_ROLES = ['build', 'layer', 'state', 'material', 'feedstockLot', 'jobClass'] as const satisfies readonly (keyof MachineContext)[];
export type MachineRole = (typeof MACHINE_ROLES)[number];

/** One variable to monitor, resolved for the current session. */
export interface ResolvedItem {
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
  /** the value type and unit tail of the scalar body for the DataType the item's values last had (values.ts `itemShape`) */
  typeTail?: unknown;
}

/** Where resolution reports nodes it leaves out. */
export interface ResolveReport {
  /** a configured item or discover folder that is not monitored, and why */
  itemError(node: string, why: string): void;
  log: Logger;
  /** the server's operations per request (./limits.ts) */
  limits: RequestLimits;
}

/** Every node to monitor this session, in config order, with units read. */
export async function resolveItems(session: ClientSession, c: OpcuaConfig, report: ResolveReport): Promise<ResolvedItem[]> {
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
  const base = (over: {
    samplingInterval?: number | undefined;
    queueSize?: number | undefined;
    deadband?: Deadband | undefined;
    class?: SensitivityClass | undefined;
  }) => ({
    samplingInterval: over.samplingInterval ?? c.samplingInterval,
    queueSize: over.queueSize ?? c.queueSize,
    deadband: over.deadband ?? c.deadband,
    class: over.class,
  });
  for (const item of c.items) {
    refs.push({
      ref: item.node,
      onResolved: (nodeId) =>
        out.push({ nodeId, nodeIdText: nodeId.toString(), signal: item.signal ?? defaultSignal(item.node), unit: undefined, ...base(item) }),
      onMissing: (why) => report.itemError(item.node, why),
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
          out.push({
            nodeId,
            nodeIdText: nodeId.toString(),
            signal: `machine.${role}`,
            unit: undefined,
            role,
            samplingInterval: c.samplingInterval,
            queueSize: 100,
            deadband: undefined,
            class: undefined,
          }),
        onMissing: (why) => report.log.warn({ role, node: ref, why }, 'opcua: machine context node not found; that part of the context stays unknown'),
      });
    }
  }
  const folders: { cfg: (typeof c.discover)[number]; nodeId: NodeId }[] = [];
  for (const d of c.discover) {
    refs.push({ ref: d.folder, onResolved: (nodeId) => folders.push({ cfg: d, nodeId }), onMissing: (why) => report.itemError(d.folder, why) });
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
  for (const chunk of slices(paths, report.limits.translate)) {
    const results = await session.translateBrowsePath(chunk.map((p) => p.bp));
    chunk.forEach((p, j) => {
      const res = results[j];
      const target = res?.targets?.[0]?.targetId;
      if (res?.statusCode.isGood() && target) refs[p.i]!.onResolved(target);
      else refs[p.i]!.onMissing(`browse path not found (${res?.statusCode.name ?? 'no result'})`);
    });
  }
  for (const f of folders) out.push(...(await discover(session, f.nodeId, f.cfg.signalPrefix, f.cfg.maxDepth, base(f.cfg), report.limits)));
  await readUnits(
    session,
    out.filter((i) => !i.role),
    report.limits,
  );
  return out;
}

/** The variables below a folder (HasComponent/Organizes, not properties), named by their browse names. */
async function discover(
  session: ClientSession,
  folder: NodeId,
  prefix: string,
  maxDepth: number,
  params: Omit<ResolvedItem, 'nodeId' | 'nodeIdText' | 'signal' | 'unit'>,
  limits: RequestLimits,
): Promise<ResolvedItem[]> {
  const found: ResolvedItem[] = [];
  let level: { nodeId: NodeId; names: string[] }[] = [{ nodeId: folder, names: [] }];
  for (let depth = 0; depth < maxDepth && level.length > 0; depth++) {
    const results: BrowseResult[] = [];
    for (const chunk of slices(level, limits.browse)) results.push(...(await browseLevel(session, chunk)));
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

/** One Browse request: the objects and variables below each node (hierarchical references). */
function browseLevel(session: ClientSession, level: { nodeId: NodeId }[]): Promise<BrowseResult[]> {
  return session.browse(
    level.map((l) => ({
      nodeId: l.nodeId,
      browseDirection: BrowseDirection.Forward,
      referenceTypeId: 'HierarchicalReferences',
      includeSubtypes: true,
      nodeClassMask: NodeClassMask.Object | NodeClassMask.Variable,
      resultMask: 63,
    })),
  );
}

/** EngineeringUnits (AnalogItems) of the items, read in batches; the unit is its display name. */
async function readUnits(session: ClientSession, items: ResolvedItem[], limits: RequestLimits): Promise<void> {
  for (const chunk of slices(items, limits.translate)) {
    const results = await session.translateBrowsePath(chunk.map((it) => makeBrowsePath(it.nodeId, '.EngineeringUnits')));
    const withEu = chunk.map((it, j) => ({ it, id: results[j]?.statusCode.isGood() ? results[j]?.targets?.[0]?.targetId : undefined })).filter((x) => x.id);
    for (const part of slices(withEu, limits.read)) {
      const values = await session.read(part.map((x) => ({ nodeId: x.id!, attributeId: AttributeIds.Value })));
      part.forEach((x, j) => {
        const eu = values[j]?.value?.value as { displayName?: { text?: string | null } } | null | undefined;
        const text = eu?.displayName?.text;
        if (text) x.it.unit = text;
      });
    }
  }
}

/** The default signal name of an item: the last two browse names of a path, or the NodeId. */
export function defaultSignal(ref: string): string {
  if (!ref.startsWith('/')) return ref;
  const names = ref
    .split(/[/.]/)
    .filter(Boolean)
    .map((s) => s.replace(/^[A-Za-z0-9_]+:/, ''));
  return names.slice(-2).join('.');
}
