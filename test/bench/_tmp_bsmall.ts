import { mkdtempSync, rmSync } from 'node:fs';
import { pino } from 'pino';
import { openBuffer } from '../../gateway/buffer/index.js';
const body = Buffer.alloc(64, 1);
const now = BigInt(Date.now()) * 1_000_000n;
const batch = Array.from({ length: 1000 }, () => ({ source: 'opcua', signal: 'chamber.o2', kind: 'samples' as const, receiveTimeNs: now, class: 'internal' as const, contentType: 'application/octet-stream', body, routes: ['kafka'] }));
for (let rep = 0; rep < 3; rep++) {
  const dir = mkdtempSync('/tmp/bs-');
  const buf = openBuffer({ dir, maxBytes: 1e12, sinks: ['kafka'], synchronous: (process.env.S as any) ?? 'FULL' }, pino({ level: 'silent' }));
  const t = process.hrtime.bigint(); const cu = process.cpuUsage();
  for (let b = 0; b < 300; b++) buf.append(batch);
  console.log("cpu us/rec", ((process.cpuUsage(cu).user+process.cpuUsage(cu).system)/2/300000).toFixed(2), "rec/s", Math.round(300000 / (Number(process.hrtime.bigint() - t) / 1e9)));
  buf.close(); rmSync(dir, { recursive: true });
}
