/**
 * Monitored items of a subscription: the resolved nodes grouped by their monitoring parameters
 * (sampling interval, queue size, deadband) and created in requests of at most the server's
 * MaxMonitoredItemsPerCall (./limits.ts).
 *
 * Design constraints:
 * - A monitored item the server refuses is reported (`itemError`) and left out; the rest run.
 * - Every change goes to `onChange` with its item (the group's index maps back to it): no lookup by
 *   node id on the hot path.
 */
// first: node-opcua must not print to stdout (see the module)
import './node-opcua-log.js';
import {
  AttributeIds,
  DataChangeFilter,
  DataChangeTrigger,
  DeadbandType,
  TimestampsToReturn,
  type ClientMonitoredItemGroup,
  type ClientSubscription,
  type DataValue,
} from 'node-opcua';
import { slices, type RequestLimits } from './limits.js';
import type { ResolvedItem } from './nodes.js';

/** Monitor `items` on `subscription`, counting those the server accepted in `counters.monitoredItems`. */
export async function monitorItems(
  subscription: ClientSubscription,
  items: ResolvedItem[],
  onChange: (it: ResolvedItem, dv: DataValue) => void,
  itemError: (node: string, why: string) => void,
  counters: { monitoredItems: number },
  limits: RequestLimits,
): Promise<void> {
  const groups = new Map<string, ResolvedItem[]>();
  for (const it of items) {
    const key = `${it.samplingInterval}|${it.queueSize}|${it.deadband ? `${it.deadband.type}:${it.deadband.value}` : ''}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = []));
    g.push(it);
  }
  counters.monitoredItems = 0;
  for (const g of groups.values()) {
    const first = g[0]!;
    for (const chunk of slices(g, limits.monitoredItems)) {
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
        if (sc && !sc.isGood()) itemError(chunk[j]!.nodeIdText, `server refused the monitored item: ${sc.name}`);
        else counters.monitoredItems++;
      });
      group.on('changed', (_mi, dv: DataValue, index: number) => {
        const it = chunk[index];
        if (it) onChange(it, dv);
      });
    }
  }
}
