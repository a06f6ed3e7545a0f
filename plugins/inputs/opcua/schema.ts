/**
 * Config schema of the `opcua` input. Declared once here, validated at load with the whole config.
 *
 * A node is named by one string: a browse path from the Root folder ("/Objects/MA:Machines/SIM:pbf-sim-01/...",
 * resolved with TranslateBrowsePath) or a NodeId ("ns=SIM;s=pbf-sim-01.Monitoring.Chamber.Temperature",
 * "ns=2;i=1001"). Namespace prefixes are aliases from `namespaces` (looked up in the server's
 * NamespaceArray at every connect, since indices differ per server) or plain indices.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { duration, retryDelays, secret } from '../../../gateway/plugin-api/index.js';
import { SENSITIVITY_CLASSES } from '../../../gateway/plugin-api/index.js';

export const SIMULATOR_NAMESPACES = {
  SIM: 'urn:layergate:simulator:lpbf',
  DI: 'http://opcfoundation.org/UA/DI/',
  MA: 'http://opcfoundation.org/UA/Machinery/',
} as const;

/** The machine object of the simulator with its default machine id (simulator/README.md). */
export const SIMULATOR_MACHINE_ROOT = '/Objects/MA:Machines/SIM:pbf-sim-01';

const nodeRef = (description: string) =>
  z
    .string()
    .min(1)
    .refine((s) => s.startsWith('/') || /^(ns=[^;]+;)?[isgb]=/.test(s), {
      message: 'expected a browse path starting with "/" or a NodeId like "ns=SIM;s=..." / "ns=2;i=1001"',
    })
    .meta({ description });

const deadbandSchema = z
  .strictObject({
    type: z.enum(['absolute', 'percent']).meta({ description: "absolute: in the value's unit; percent: of the item's EURange" }),
    value: z.number().min(0).meta({ description: 'the change that must be exceeded before a value is reported' }),
  })
  .meta({ description: 'data change deadband (numeric items only)' });

/** Monitoring parameters an item or a discovered folder may override. */
const monitoring = {
  samplingInterval: duration().optional().meta({ description: "server-side sampling interval (default: the input's samplingInterval)" }),
  queueSize: z.int().min(1).max(10_000).optional().meta({ description: "server-side queue per item (default: the input's queueSize)" }),
  deadband: deadbandSchema.optional(),
  class: z.enum(SENSITIVITY_CLASSES).optional().meta({ description: "class proposed for these records (may only raise the input's class)" }),
};

const itemSchema = z.strictObject({
  node: nodeRef('browse path ("/Objects/...") or NodeId ("ns=SIM;s=...") of a variable'),
  signal: z.string().min(1).optional().meta({ description: 'signal name (default: the last two browse names, or the NodeId)' }),
  ...monitoring,
});

const discoverSchema = z.strictObject({
  folder: nodeRef('browse path or NodeId of a folder/object whose variables are monitored (browsed at every connect)'),
  signalPrefix: z
    .string()
    .default('')
    .meta({ description: 'prefix of the discovered signal names (names are the browse names below the folder joined by ".")' }),
  maxDepth: z.int().min(1).max(10).default(4).meta({ description: 'how deep to descend into sub-objects' }),
  ...monitoring,
});

const machineRef = (description: string, dflt?: string) => {
  const s = z.string().min(1).meta({ description });
  return dflt === undefined ? s.optional() : s.default(dflt);
};

const machineSchema = z
  .strictObject({
    enabled: z.boolean().default(true).meta({ description: 'follow the machine context (job, layer, state) from this server' }),
    root: z
      .string()
      .min(1)
      .default(SIMULATOR_MACHINE_ROOT)
      .meta({ description: 'browse path of the machine object; relative node paths below are resolved from it' }),
    build: machineRef('job / build id (path relative to root, absolute browse path, or NodeId)', 'SIM:Production/SIM:ActiveJob/SIM:JobId'),
    layer: machineRef('current layer number', 'SIM:Production/SIM:ActiveJob/SIM:CurrentLayer'),
    state: machineRef('machine state (idle, inerting, recoating, exposing, paused, finished, aborted)', 'SIM:Production/SIM:ActiveJob/SIM:MachineState'),
    material: machineRef('material', 'SIM:Production/SIM:ActiveJob/SIM:Material'),
    feedstockLot: machineRef('feedstock (powder) lot, when the machine exposes it'),
    jobClass: machineRef(
      'how the running job is marked (a class name, or a boolean "confidential" flag): every record of that job gets at least that class (classification)',
    ),
  })
  .meta({ description: "where the machine context lives in the server's address space (defaults: the simulator's)" });

export const certificateSchema = z
  .strictObject({
    organization: z.string().min(1).default('LayerGate').meta({ description: "O= of the gateway's certificate: the plant or company" }),
    organizationalUnit: z.string().min(1).optional().meta({ description: 'OU= of the certificate (a department or line)' }),
    locality: z.string().min(1).optional().meta({ description: 'L= of the certificate (the city of the plant)' }),
    state: z.string().min(1).optional().meta({ description: 'ST= of the certificate' }),
    country: z
      .string()
      .regex(/^[A-Z]{2}$/, 'expected a two-letter country code (ISO 3166, e.g. DE)')
      .optional()
      .meta({ description: 'C= of the certificate, two letters' }),
    commonName: z.string().min(1).optional().meta({ description: 'CN= of the certificate (default: <applicationName>@<host name>)' }),
    applicationUri: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9+.-]*:\S+$/, 'expected a URI such as urn:plant-a-gw1:LayerGate')
      .optional()
      .meta({
        description:
          "the gateway's OPC-UA application URI, in the certificate and every session (default: urn:<host name>:<applicationName>); servers that check it must see the one in the certificate",
      }),
    dnsNames: z.array(z.string().min(1)).min(1).optional().meta({ description: 'DNS host names of the gateway in the certificate (default: the host name)' }),
    ipAddresses: z
      .array(z.string().refine((s) => isIP(s) !== 0, { message: 'expected an IPv4 or IPv6 address' }))
      .default([])
      .meta({ description: 'IP addresses of the gateway in the certificate' }),
    validityDays: z.int().min(1).max(36_500).default(3650).meta({ description: 'how long a new certificate is valid' }),
  })
  .meta({
    description:
      "the gateway's own application certificate, made at the first start and by `layergate pki renew` (an existing one is kept: renew it to apply changes here)",
  });

export const opcuaConfigSchema = z
  .strictObject({
    endpoint: z
      .string()
      .regex(/^opc\.tcp:\/\/.+/, 'expected opc.tcp://host:port[/path]')
      .meta({ description: 'server endpoint URL' }),
    securityMode: z.enum(['None', 'Sign', 'SignAndEncrypt']).default('None').meta({ description: 'message security mode' }),
    securityPolicy: z
      .enum(['Basic256Sha256', 'Aes128_Sha256_RsaOaep', 'Aes256_Sha256_RsaPss'])
      .default('Basic256Sha256')
      .meta({ description: 'security policy when securityMode is Sign or SignAndEncrypt' }),
    username: z.string().min(1).optional().meta({ description: 'user name (with password); anonymous login when absent' }),
    password: secret('password of the OPC-UA user').optional(),
    pkiDir: z.string().min(1).optional().meta({ description: 'PKI folder (own/trusted/rejected); default <dataDir>/pki/opcua' }),
    applicationName: z.string().min(1).default('LayerGate').meta({ description: "application name in the gateway's certificate and session" }),
    certificate: certificateSchema.prefault({}),
    namespaces: z
      .record(z.string().regex(/^[A-Za-z][A-Za-z0-9_]*$/), z.string().min(1))
      .default({ ...SIMULATOR_NAMESPACES })
      .meta({ description: 'namespace aliases usable in browse paths and NodeIds (alias -> namespace URI)' }),
    publishingInterval: duration().prefault('100ms').meta({ description: 'subscription publishing interval' }),
    samplingInterval: duration().prefault('100ms').meta({ description: 'default sampling interval of the monitored items' }),
    queueSize: z.int().min(1).max(10_000).default(10).meta({ description: 'default server-side queue size per item' }),
    deadband: deadbandSchema.optional(),
    items: z.array(itemSchema).default([]).meta({ description: 'monitored items by browse path or NodeId' }),
    discover: z.array(discoverSchema).default([]).meta({ description: 'folders whose variables are discovered by browsing and monitored' }),
    machine: machineSchema.prefault({}),
    reconnect: retryDelays({ initial: '500ms', max: '30s' }, 'reconnect delays after a session ended in an error'),
    connectTimeout: duration().prefault('15s').meta({ description: 'give up one connect attempt after this' }),
    watchdog: z
      .strictObject({
        enabled: z.boolean().default(true).meta({ description: 'resubscribe when the subscription is connected but silent' }),
        silence: duration()
          .optional()
          .meta({ description: 'silence that trips the watchdog (default: 20 x the slowest publishing/sampling interval, at least 10s)' }),
        whileStates: z
          .array(z.string().min(1))
          .default(['inerting', 'recoating', 'exposing', 'building'])
          .meta({ description: 'machine states in which silence is abnormal; empty: always' }),
      })
      .prefault({})
      .meta({ description: 'resubscribe when a connected subscription stops delivering data' }),
    nodeIdAttribute: z
      .boolean()
      .default(false)
      .meta({ description: 'add the NodeId as attribute `node_id` to every record (the signal -> NodeId map is logged at every subscribe anyway)' }),
    maxBatch: z.int().min(1).max(100_000).default(20_000).meta({ description: 'most records per buffer commit' }),
    publishRequests: z.int().min(1).max(100).default(10).meta({
      description:
        "Publish requests kept outstanding at the server (node-opcua's default is 5). A server sends at most its per-publish limit of notifications per request (node-opcua servers: 1,000), so at thousands of changes per second a deeper pipeline keeps data flowing while a buffer commit holds the client; one setting for the whole process (the largest of all opcua inputs wins)",
    }),
  })
  .refine((c) => (c.username === undefined) === (c.password === undefined), {
    message: 'username and password go together',
    path: ['password'],
  });

export type OpcuaConfig = z.infer<typeof opcuaConfigSchema>;
export type OpcuaItemConfig = z.infer<typeof itemSchema>;
export type OpcuaDiscoverConfig = z.infer<typeof discoverSchema>;
export type Deadband = z.infer<typeof deadbandSchema>;
export type CertificateConfig = z.infer<typeof certificateSchema>;
