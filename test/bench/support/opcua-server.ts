/**
 * The benchmarks' OPC-UA server: `n` Double variables `ns=<nsUri>;s=v0..v<n-1>` in a `Bench` folder on
 * loopback, whose values the caller sets all at once (one value change per item per `setAll`).
 */
import '../../../plugins/inputs/opcua/node-opcua-log.js';
import { DataType, OPCUAServer, StatusCodes, Variant } from 'node-opcua';

export interface BenchOpcuaServer {
  server: OPCUAServer;
  /** set every item's value, `value(i)` for item i, with one source timestamp */
  setAll(value: (i: number) => number): void;
}

export async function startBenchOpcuaServer(n: number, port: number, nsUri: string): Promise<BenchOpcuaServer> {
  const server = new OPCUAServer({ port, host: '127.0.0.1', hostname: '127.0.0.1', maxConnectionsPerEndpoint: 10 });
  await server.initialize();
  const as = server.engine.addressSpace!;
  const ns = as.registerNamespace(nsUri);
  const folder = ns.addFolder(as.rootFolder.objects, { browseName: 'Bench' });
  const vars = Array.from({ length: n }, (_, i) =>
    ns.addVariable({
      componentOf: folder,
      browseName: `v${i}`,
      nodeId: `s=v${i}`,
      dataType: 'Double',
      value: new Variant({ dataType: DataType.Double, value: 0 }),
    }),
  );
  await server.start();
  return {
    server,
    setAll(value) {
      const ts = new Date();
      for (let i = 0; i < n; i++) vars[i]!.setValueFromSource(new Variant({ dataType: DataType.Double, value: value(i) }), StatusCodes.Good, ts);
    },
  };
}
