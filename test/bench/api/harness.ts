/**
 * The gateway under test of `npm run bench:api`: the end-to-end benchmark's harness (../e2e/harness.ts,
 * unchanged: the same samples over IPC, the same timed outputs) with the control-plane API started
 * beside the gateway the way the CLI's `layergate run` starts it (gateway/api/gateway-view.ts
 * `startControlPlane`), in the same process, on the
 * case's `api:` config section. `Gateway.start` is wrapped before the e2e harness loads, so the
 * harness's gateway gets its API, and the orderly stop closes the API after the gateway, as the CLI does.
 *
 * The API must start: a bench of the API without one measures nothing, so a start error fails the
 * harness (the CLI logs it and runs on).
 *
 *   (forked by test/bench/api.bench.ts through ../e2e/run-case.ts)  tsx test/bench/api/harness.ts <config.yaml>
 */
import { startControlPlane } from '../../../gateway/api/gateway-view.js';
import type { ControlPlane } from '../../../gateway/api/server.js';
import { Gateway } from '../../../gateway/runtime/gateway.js';

const start = Gateway.start.bind(Gateway);
Gateway.start = async (...args: Parameters<typeof Gateway.start>): Promise<Gateway> => {
  const gateway = await start(...args);
  if (!gateway.config.api.enabled) return gateway;
  let api: ControlPlane;
  try {
    api = await startControlPlane(gateway, args[0]);
  } catch (err) {
    await gateway.stop().catch(() => undefined);
    throw err;
  }
  const stop = gateway.stop.bind(gateway);
  // the CLI's order: the gateway stops, then the API closes
  gateway.stop = () => stop().finally(() => api.close().catch(() => undefined));
  return gateway;
};

await import('../e2e/harness.js');
