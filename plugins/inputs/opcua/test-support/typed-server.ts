/**
 * A node-opcua server for the opcua input's value and trust tests, in-process: a `Types` folder with
 * one variable per OPC-UA built-in type (scalar `t.<Type>` and array `t.<Type>Array`, as the Milo
 * test server has them), a structure variable `t.Record` of the LayerRecord DataType that
 * test-types.nodeset.xml describes (DataTypeDefinition), an array of them `t.Records`, an Int32 2x3
 * matrix `t.Matrix` and a Variant array `t.Mixed`. Values are written with `set` (setValueFromSource:
 * each write is a change that monitored items with sampling interval 0 report: the server advertises
 * MinSupportedSampleRate 0, without which node-opcua coalesces the changes of each 50 ms window).
 *
 * Security: None and Basic256Sha256 Sign/SignAndEncrypt. `strict` makes it a plant's server: client
 * certificates are not accepted until its admin trusts them (`trustClient`), and a user and
 * password are required.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  DataType,
  MessageSecurityMode,
  OPCUACertificateManager,
  OPCUAServer,
  SecurityPolicy,
  StatusCodes,
  Variant,
  type VariantArrayType,
  nodesets,
  resolveNodeId,
  type UAVariable,
} from 'node-opcua';
import { OPCUA_TYPES } from './opcua-types.js';

export const TYPES_NS = 'urn:layergate:test:types';
const here = path.dirname(fileURLToPath(import.meta.url));

export interface TypedServer {
  endpoint: string;
  /** the server's own PKI folder (own/certs: its certificate) */
  pkiDir: string;
  server: OPCUAServer;
  certificateManager: OPCUACertificateManager;
  /** write a Types variable (its node-opcua value); resolves after the change is reported to its items */
  set(name: string, dataType: DataType, arrayType: VariantArrayType, value: unknown, dimensions?: number[]): void;
  /** a LayerRecord structure of these fields (node-opcua's lower-case field names) */
  record(fields: Record<string, unknown>): unknown;
  /** what the server's admin does: move a client's certificate from rejected to trusted */
  trustClient(der: Buffer): Promise<void>;
  stop(): Promise<void>;
}

export async function startTypedServer(opts: { port: number; strict?: { username: string; password: string } }): Promise<TypedServer> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lg-opcua-typed-'));
  const pkiDir = path.join(dir, 'pki');
  const certificateManager = new OPCUACertificateManager({ rootFolder: pkiDir, automaticallyAcceptUnknownCertificate: !opts.strict });
  await certificateManager.initialize();
  const user = opts.strict;
  const server = new OPCUAServer({
    port: opts.port,
    host: '127.0.0.1',
    hostname: '127.0.0.1',
    nodeset_filename: [nodesets.standard, path.join(here, 'test-types.nodeset.xml')],
    serverCertificateManager: certificateManager,
    securityPolicies: [SecurityPolicy.None, SecurityPolicy.Basic256Sha256],
    securityModes: user ? [MessageSecurityMode.SignAndEncrypt] : [MessageSecurityMode.None, MessageSecurityMode.Sign, MessageSecurityMode.SignAndEncrypt],
    allowAnonymous: !user,
    // 0: every change of a variable is reported (a non-zero rate coalesces the writes of one window)
    serverCapabilities: { minSupportedSampleRate: 0 },
    ...(user ? { userManager: { isValidUser: (u: string, p: string) => u === user.username && p === user.password } } : {}),
  });
  await server.initialize();
  const addressSpace = server.engine.addressSpace!;
  const ns = addressSpace.getOwnNamespace();
  const folder = ns.addFolder(addressSpace.rootFolder.objects, { browseName: 'Types', nodeId: 's=Types' });
  const variables = new Map<string, UAVariable>();
  const add = (name: string, dataType: DataType | ReturnType<typeof resolveNodeId>, valueRank: number) =>
    variables.set(
      name,
      ns.addVariable({ componentOf: folder, browseName: name, nodeId: `s=t.${name}`, dataType: dataType as never, valueRank, minimumSamplingInterval: 0 }),
    );
  for (const c of OPCUA_TYPES) {
    add(c.name, c.dataType, -1);
    add(`${c.name}Array`, c.dataType, 1);
  }
  const recordType = addressSpace.findDataType(resolveNodeId(`ns=${addressSpace.getNamespaceIndex(TYPES_NS)};i=3001`))!;
  add('Record', recordType.nodeId, -1);
  add('Records', recordType.nodeId, 1);
  add('Matrix', DataType.Int32, 2);
  add('Mixed', DataType.Variant, 1);
  await server.start();

  return {
    endpoint: `opc.tcp://127.0.0.1:${opts.port}`,
    pkiDir,
    server,
    certificateManager,
    set(name, dataType, arrayType, value, dimensions) {
      const v = variables.get(name);
      if (!v) throw new Error(`no Types variable ${name}`);
      v.setValueFromSource(new Variant({ dataType, arrayType, value, ...(dimensions ? { dimensions } : {}) }), StatusCodes.Good, new Date());
    },
    record: (fields) => addressSpace.constructExtensionObject(recordType, fields),
    async trustClient(der) {
      await certificateManager.trustCertificate(der);
    },
    async stop() {
      await server.shutdown();
      await certificateManager.dispose();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
