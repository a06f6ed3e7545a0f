/**
 * The machine as an OPC-UA server (node-opcua). The address space follows OPC 40540 (OPC UA for
 * Additive Manufacturing) on OPC UA for Machinery (OPC 40001-1), with the real DI and Machinery
 * nodesets loaded: the machine object is organized by Machinery's Machines folder and has a
 * MachineIdentificationType "Identification" (DI properties) and a MachineryItemState state machine.
 * Production (the active job, its layer and state) and Monitoring (process values, AnalogItems with
 * engineering units and ranges) follow the 40540 layout in the simulator's own namespace: the 40540
 * nodeset itself is not shipped with node-opcua.
 *
 * Security: policies None and Basic256Sha256 (Sign, SignAndEncrypt) with the server's own
 * self-signed certificate, created in <dataDir>/pki on first start. The server's certificate manager
 * accepts unknown client certificates automatically: a simulator-only choice so tests and demos
 * need no trust-list handling; a real machine must not do this.
 *
 * A restart (fault "opcua-restart") builds a fresh server on the same port, as a rebooting
 * controller would: clients see the connection drop and must reconnect and re-subscribe.
 */
import path from 'node:path';
import {
  DataType,
  makeEUInformation,
  MessageSecurityMode,
  OPCUACertificateManager,
  OPCUAServer,
  SecurityPolicy,
  StatusCodes,
  Variant,
  nodesets,
  promoteToStateMachine,
  type UAObject,
  type UAStateMachineEx,
  type UAVariable,
} from 'node-opcua';
import type { Logger } from 'pino';
import type { SimConfig } from '../config.js';
import type { Snapshot } from '../lifecycle.js';
import { SIGNALS, type ProcessSample } from '../process.js';

export const NAMESPACE_URI = 'urn:layergate:simulator:lpbf';
export const DI_URI = 'http://opcfoundation.org/UA/DI/';
export const MACHINERY_URI = 'http://opcfoundation.org/UA/Machinery/';

export interface OpcuaOptions {
  port: number;
  /** bind address; loopback by default */
  host?: string;
  /** where the PKI (own certificate, trusted/rejected client certificates) lives */
  pkiDir: string;
  /** when set, anonymous login is refused and this user/password is required */
  user?: { username: string; password: string };
}

/** engineering ranges (EURange) of the process values, for clients that scale or validate */
const RANGES: Record<string, [number, number]> = {
  'Chamber.OxygenConcentration': [0, 250_000],
  'Chamber.Temperature': [0, 80],
  'Chamber.Pressure': [0, 100],
  'Chamber.GasFlowVelocity': [0, 5],
  'Chamber.FilterDifferentialPressure': [0, 50],
  'BuildPlate.Temperature': [0, 500],
  'Laser1.PowerSetpoint': [0, 1000],
  'Laser1.PowerActual': [0, 1100],
  'Laser1.ScanSpeed': [0, 10_000],
  'Recoater.Position': [0, 400],
  'Recoater.Force': [0, 200],
  'PowderDosing.Level': [0, 100],
};

export class OpcuaMachineServer {
  private server: OPCUAServer | null = null;
  private values = new Map<string, UAVariable>();
  private job = new Map<string, UAVariable>();
  private itemState: UAStateMachineEx | null = null;
  restarts = 0;
  private restarting = false;

  constructor(
    private readonly cfg: SimConfig,
    private readonly opts: OpcuaOptions,
    private readonly log: Logger,
  ) {}

  get endpointUrl(): string {
    const port = (this.server?.endpoints[0] as { port?: number } | undefined)?.port ?? this.opts.port;
    return `opc.tcp://${this.opts.host ?? '127.0.0.1'}:${port}`;
  }
  get running(): boolean {
    return this.server !== null && !this.restarting;
  }

  async start(): Promise<void> {
    const certificateManager = new OPCUACertificateManager({
      rootFolder: path.join(this.opts.pkiDir, 'pki'),
      automaticallyAcceptUnknownCertificate: true,
    });
    await certificateManager.initialize();
    const user = this.opts.user;
    const server = new OPCUAServer({
      port: this.opts.port,
      host: this.opts.host ?? '127.0.0.1',
      hostname: this.opts.host ?? '127.0.0.1',
      // DI, IA and Machinery for the Machines folder, MachineIdentificationType and MachineryItemState (~0.5 s more to load)
      nodeset_filename: [nodesets.standard, nodesets.di, nodesets.ia, nodesets.machinery],
      serverCertificateManager: certificateManager,
      securityPolicies: [SecurityPolicy.None, SecurityPolicy.Basic256Sha256],
      securityModes: [MessageSecurityMode.None, MessageSecurityMode.Sign, MessageSecurityMode.SignAndEncrypt],
      allowAnonymous: !user,
      userManager: user ? { isValidUser: (u: string, p: string) => u === user.username && p === user.password } : undefined,
      buildInfo: { productName: 'LayerGate LPBF machine simulator', manufacturerName: 'LayerGate', softwareVersion: '0.1.0' },
      serverInfo: { applicationUri: `urn:layergate:simulator:${this.cfg.machineId}`, productUri: 'urn:layergate:simulator' },
    });
    await server.initialize();
    this.buildAddressSpace(server);
    await server.start();
    this.server = server;
    // a restart must come back on the same port, also when the first start picked a free one
    const bound = (server.endpoints[0] as { port?: number } | undefined)?.port;
    if (bound) this.opts.port = bound;
    this.log.info({ endpoint: this.endpointUrl }, 'OPC-UA server listening');
  }

  private buildAddressSpace(server: OPCUAServer): void {
    const addressSpace = server.engine.addressSpace;
    if (!addressSpace) throw new Error('OPC-UA server has no address space after initialize()');
    const ns = addressSpace.registerNamespace(NAMESPACE_URI);
    const cfg = this.cfg;
    const id = (p: string) => `s=${cfg.machineId}.${p}`;
    const di = addressSpace.getNamespaceIndex(DI_URI);
    const mi = addressSpace.getNamespaceIndex(MACHINERY_URI);
    // OPC 40001-1: every machine is organized by the well-known Machines folder (Machinery i=1001)
    const machines = addressSpace.findNode(`ns=${mi};i=1001`) as UAObject | null;
    const identType = addressSpace.findObjectType('MachineIdentificationType', mi);
    const stateType = addressSpace.findObjectType('MachineryItemState_StateMachineType', mi);
    if (!machines || !identType || !stateType) throw new Error('OPC-UA Machinery nodeset did not load (Machines folder or types missing)');
    const machine = ns.addObject({
      organizedBy: machines,
      browseName: cfg.machineId,
      nodeId: id('Machine'),
      description: 'Laser powder bed fusion machine (simulated)',
    });

    const prop = (parent: Parameters<typeof ns.addVariable>[0]['componentOf'], name: string, dataType: DataType, value: unknown, nodeId: string) =>
      ns.addVariable({ componentOf: parent, browseName: name, nodeId: id(nodeId), dataType: DataType[dataType], value: { dataType, value } as Variant });

    // Identification: Machinery's MachineIdentificationType, its properties from DI (and Machinery)
    const ident = identType.instantiate({
      namespace: ns,
      componentOf: machine,
      browseName: { name: 'Identification', namespaceIndex: di },
      optionals: ['Model', 'SoftwareRevision', 'YearOfConstruction', 'DeviceClass', 'ComponentName'],
    });
    const setIdent = (name: string, dataType: DataType, value: unknown) => {
      const v = ident.getChildByName(name) as UAVariable | null;
      if (!v) throw new Error(`MachineIdentificationType has no ${name}`);
      v.setValueFromSource(new Variant({ dataType, value }));
    };
    setIdent('Manufacturer', DataType.LocalizedText, { text: 'LayerGate Simulated Machines' });
    setIdent('Model', DataType.LocalizedText, { text: 'PBF-LB/M 250 single laser' });
    setIdent('ProductInstanceUri', DataType.String, `urn:layergate:simulator:${cfg.machineId}`);
    setIdent('SerialNumber', DataType.String, `SIM-${cfg.seed}`);
    setIdent('YearOfConstruction', DataType.UInt16, 2026);
    setIdent('SoftwareRevision', DataType.String, '0.1.0');
    setIdent('DeviceClass', DataType.String, 'Additive manufacturing machine: laser powder bed fusion (PBF-LB/M)');
    setIdent('ComponentName', DataType.LocalizedText, { text: cfg.machineId });

    // MachineryItemState: Machinery's state machine (NotAvailable, OutOfService, NotExecuting, Executing)
    const itemState = stateType.instantiate({ namespace: ns, componentOf: machine, browseName: { name: 'MachineryItemState', namespaceIndex: mi } });
    this.itemState = promoteToStateMachine(itemState);
    this.itemState.setState('NotExecuting');

    const production = ns.addObject({ componentOf: machine, browseName: 'Production', nodeId: id('Production') });
    const job = ns.addObject({ componentOf: production, browseName: 'ActiveJob', nodeId: id('Production.ActiveJob') });
    prop(job, 'JobId', DataType.String, cfg.job.id, 'Production.ActiveJob.JobId');
    prop(job, 'Material', DataType.String, cfg.job.material, 'Production.ActiveJob.Material');
    prop(job, 'PartCount', DataType.UInt32, cfg.job.partCount, 'Production.ActiveJob.PartCount');
    prop(job, 'LayerThickness', DataType.Double, cfg.job.layerThicknessUm, 'Production.ActiveJob.LayerThickness');
    prop(job, 'TotalLayers', DataType.UInt32, cfg.job.totalLayers, 'Production.ActiveJob.TotalLayers');
    this.job.set('CurrentLayer', prop(job, 'CurrentLayer', DataType.UInt32, 0, 'Production.ActiveJob.CurrentLayer'));
    this.job.set('State', prop(job, 'State', DataType.String, 'idle', 'Production.ActiveJob.State'));
    this.job.set('MachineState', prop(job, 'MachineState', DataType.String, 'idle', 'Production.ActiveJob.MachineState'));

    const monitoring = ns.addObject({ componentOf: machine, browseName: 'Monitoring', nodeId: id('Monitoring') });
    const groups = new Map<string, ReturnType<typeof ns.addObject>>();
    for (const s of SIGNALS) {
      const [group, name] = s.name.split('.') as [string, string];
      let g = groups.get(group);
      if (!g) {
        g = ns.addObject({ componentOf: monitoring, browseName: group, nodeId: id(`Monitoring.${group}`) });
        groups.set(group, g);
      }
      const [low, high] = RANGES[s.name] ?? [0, 1];
      const v = ns.addAnalogDataItem({
        componentOf: g,
        browseName: name,
        nodeId: id(`Monitoring.${s.name}`),
        description: `${s.description} (${s.unit})`,
        dataType: 'Double',
        engineeringUnitsRange: { low, high },
        engineeringUnits: makeEUInformation(s.unit, s.unit, s.description),
        value: new Variant({ dataType: DataType.Double, value: 0 }),
      });
      this.values.set(s.name, v);
    }
  }

  /** Publish one process sample and the job state, with the simulator's source timestamp. */
  update(sample: ProcessSample, snap: Snapshot): void {
    if (!this.running) return;
    const ts = new Date(sample.timestampMs);
    for (const v of sample.values) {
      const node = this.values.get(v.name);
      if (!node) continue;
      node.setValueFromSource(new Variant({ dataType: DataType.Double, value: v.value }), v.good ? StatusCodes.Good : StatusCodes.BadNoCommunication, ts);
    }
    const setStr = (key: string, value: string) =>
      this.job.get(key)?.setValueFromSource(new Variant({ dataType: DataType.String, value }), StatusCodes.Good, ts);
    const cur = this.job.get('CurrentLayer');
    if (cur && cur.readValue().value.value !== snap.layer)
      cur.setValueFromSource(new Variant({ dataType: DataType.UInt32, value: snap.layer }), StatusCodes.Good, ts);
    if (this.job.get('MachineState')?.readValue().value.value !== snap.state) {
      setStr('MachineState', snap.state);
      setStr('State', snap.jobState);
      this.itemState?.setState(
        snap.state === 'recoating' || snap.state === 'exposing' || snap.state === 'inerting'
          ? 'Executing'
          : snap.state === 'aborted'
            ? 'OutOfService'
            : 'NotExecuting',
      );
    }
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (s) await s.shutdown(0);
  }

  /** The restart fault: shut down, stay down for downMs, come back with a fresh address space. */
  async restart(downMs: number): Promise<void> {
    if (this.restarting) return;
    this.restarting = true;
    try {
      this.log.warn({ downMs }, 'fault opcua-restart: OPC-UA server going down');
      await this.stop();
      await new Promise((r) => setTimeout(r, downMs));
      this.values = new Map();
      this.job = new Map();
      this.itemState = null;
      await this.start();
      this.restarts++;
    } finally {
      this.restarting = false;
    }
  }
}
