/**
 * The server's per-request operation limits (ServerCapabilities/OperationLimits, OPC-UA Part 5 §6.3.11),
 * which the input splits its Browse, TranslateBrowsePaths, Read and CreateMonitoredItems requests by.
 *
 * Design constraints:
 * - A server refuses a request over its limit as a whole (BadTooManyOperations): without splitting,
 *   the input would reconnect forever against a server that allows fewer operations than our default
 *   (Eclipse Milo allows 250 browse paths per request).
 * - 0, a missing capability node or a failed read mean the server states no limit: our default per
 *   request applies, which also keeps any one request and its response bounded.
 */
import { readOperationLimits, type ClientSession } from 'node-opcua';

/** operations per request when the server states no lower limit */
const DEFAULT_OPERATIONS_PER_REQUEST = 1000;

export interface RequestLimits {
  browse: number;
  translate: number;
  read: number;
  monitoredItems: number;
}

/** The server's limits, each capped at the default. */
export async function readRequestLimits(session: ClientSession): Promise<RequestLimits> {
  let l: Awaited<ReturnType<typeof readOperationLimits>> = {};
  try {
    l = await readOperationLimits(session);
  } catch {
    // a server without the capability nodes (optional before OPC-UA 1.04) states no limits
  }
  return {
    browse: perRequest(l.maxNodesPerBrowse),
    translate: perRequest(l.maxNodesPerTranslateBrowsePathsToNodeIds),
    read: perRequest(l.maxNodesPerRead),
    monitoredItems: perRequest(l.maxMonitoredItemsPerCall),
  };
}

function perRequest(limit: number | undefined): number {
  return typeof limit === 'number' && Number.isInteger(limit) && limit > 0 ? Math.min(limit, DEFAULT_OPERATIONS_PER_REQUEST) : DEFAULT_OPERATIONS_PER_REQUEST;
}

/** `items` in slices of at most `size`. */
export function* slices<T>(items: readonly T[], size: number): Generator<T[]> {
  for (let k = 0; k < items.length; k += size) yield items.slice(k, k + size);
}
