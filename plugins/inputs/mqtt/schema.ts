/** Config schema of the `mqtt` input. Declared once here, validated at load with the whole config. */
import { z } from 'zod';
import { SCALAR_TYPES, SENSITIVITY_CLASSES } from '../../../gateway/plugin-api/index.js';
import { byteSize, duration, retryDelays, secret, tlsSetting } from '../../../gateway/plugin-api/index.js';

export const DECODERS = ['binary-block', 'protobuf-block', 'json-block', 'json', 'event', 'sparkplug', 'job-class'] as const;
export type DecoderName = (typeof DECODERS)[number];

export const jsonMappingSchema = z.strictObject({
  value: z.string().min(1).default('value').meta({ description: 'dot path of the value in the JSON message (e.g. `data.v`)' }),
  timestamp: z.string().min(1).optional().meta({ description: 'dot path of the source timestamp; absent = no source time' }),
  timestampUnit: z.enum(['ms', 's', 'us', 'ns', 'iso']).default('ms').meta({ description: 'unit of a numeric timestamp, or `iso` for an ISO 8601 string' }),
  unit: z.string().min(1).optional().meta({ description: 'dot path of the engineering unit in the message' }),
  fixedUnit: z.string().min(1).optional().meta({ description: 'the unit when the message does not carry one' }),
  valueType: z.enum(SCALAR_TYPES).optional().meta({
    description:
      "scalar: the value's type (`int32`, `uint64`, `float32`, `datetime`, ...; docs/values.md); absent = by its JSON type (number = float64, boolean = bool, string = string). A value that does not fit it is quarantined; 64-bit integers beyond 2^53 must be sent as decimal strings (a JSON number that large is not exact), datetimes as RFC 3339 strings",
  }),
  shape: z.enum(['scalar', 'samples']).default('scalar').meta({
    description:
      "`scalar`: the value is one number, string or boolean; `samples`: the value is an array of numbers (one channel) or of equal-length arrays (one sample of every channel each) and becomes one float32 samples record (JSON null = NaN, the sensor's dropout marker)",
  }),
  sampleRate: z.string().min(1).optional().meta({ description: 'samples: dot path of the sample rate in Hz in the message' }),
  fixedSampleRate: z.number().positive().optional().meta({ description: 'samples: the sample rate in Hz when the message does not carry one' }),
  firstSample: z
    .string()
    .min(1)
    .optional()
    .meta({ description: 'samples: dot path of the index of the first sample (since the start of the layer or stream); absent = 0' }),
  channels: z
    .array(
      z
        .string()
        .min(1)
        .regex(/^[^,]+$/, 'a channel name cannot contain a comma'),
    )
    .min(1)
    .optional()
    .meta({
      description: 'samples: channel names in the order of each sample (default: the last name of `value` for one channel, else c0, c1, ...)',
    }),
});
export type JsonMapping = z.infer<typeof jsonMappingSchema>;

export const subscriptionSchema = z.strictObject({
  topic: z.string().min(1).meta({ description: 'MQTT topic filter (`+` and `#` wildcards)' }),
  qos: z
    .union([z.literal(0), z.literal(1), z.literal(2)])
    .default(1)
    .meta({ description: 'subscription QoS; 1 and 2 are acknowledged only after the buffer commit' }),
  decoder: z.enum(DECODERS).meta({
    description:
      'payload decoder: `binary-block` / `protobuf-block` / `json-block` (melt-pool blocks -> samples), `json` (field mapping -> scalar), `event` (JSON machine events), `sparkplug` (Sparkplug B -> scalar), `job-class` (how the running job is marked: the payload is a class name or true/false, or JSON {"class": ...}; sets the machine context `jobClass`, every record of the job gets at least that class; no record; publish it retained)',
  }),
  signal: z.string().min(1).optional().meta({
    description:
      'signal name template: `{0}`, `{1}`, ... are topic segments, `{topic}` the topic with `/` as `.`; for sparkplug also `{group}`, `{node}`, `{device}`, `{metric}`. Default: the topic with `/` as `.` (sparkplug: `{group}.{node}.{metric}` for node messages, `{group}.{node}.{device}.{metric}` for device messages)',
  }),
  class: z.enum(SENSITIVITY_CLASSES).optional().meta({ description: 'proposed sensitivity class of these records (classification may make it stricter)' }),
  json: jsonMappingSchema.prefault({}).meta({ description: 'field mapping for the `json` decoder' }),
});
export type SubscriptionConfig = z.infer<typeof subscriptionSchema>;

/** A Sparkplug host id is one topic level: no `/`, and no wildcard. */
const SPARKPLUG_ID = /^[^/+#]+$/;

export const sparkplugHostSchema = z.strictObject({
  primaryHostId: z.string().min(1).regex(SPARKPLUG_ID, 'a Sparkplug host id cannot contain `/`, `+` or `#`').optional().meta({
    description:
      "Sparkplug 3.0 Primary Host Application id: the input publishes its STATE on `spBv1.0/STATE/<id>` (retained, QoS 1; online after connecting and subscribing, offline as the connection's will and before a clean stop), so edge nodes configured with this primary host publish while the gateway is up and store and forward while it is down. Unset: no STATE",
  }),
});

export const mqttConfigSchema = z
  .strictObject({
    url: z.string().min(1).meta({ description: 'broker URL: mqtt://host:port or mqtts://host:port (TLS)' }),
    protocolVersion: z
      .union([z.literal(4), z.literal(5)])
      .default(5)
      .meta({ description: 'MQTT protocol: 5 or 4 (= 3.1.1)' }),
    clientId: z
      .string()
      .min(1)
      .optional()
      .meta({ description: 'fixed client id, needed for the persistent session (default `layergate-<machine>-<input name>`)' }),
    username: z.string().min(1).optional().meta({ description: 'broker user' }),
    password: secret('broker password').optional(),
    tls: tlsSetting('TLS options for an mqtts:// broker (default: TLS with the system CAs for mqtts://, plain for mqtt://)'),
    cleanSession: z.boolean().optional().meta({
      description:
        'false = persistent session: the broker keeps QoS 1/2 messages while the gateway is down. Default false; true with `sparkplug.primaryHostId` (Sparkplug 3.0 requires a Primary Host Application to start clean: its edge nodes store and forward instead), where false is refused',
    }),
    sessionExpiry: duration()
      .prefault('7d')
      .meta({ description: 'MQTT 5 session expiry interval (how long the broker keeps the session while the gateway is down)' }),
    keepalive: duration().prefault('30s').meta({ description: 'MQTT keepalive' }),
    reconnect: retryDelays({ initial: '500ms', max: '30s' }, 'reconnect delays after a lost connection or a refused login'),
    receiveMaximum: z
      .number()
      .int()
      .min(1)
      .max(65535)
      .default(1000)
      .meta({ description: 'MQTT 5: how many unacknowledged QoS 1/2 messages the broker may send at once' }),
    maxBatch: z.number().int().min(1).default(2000).meta({ description: 'most messages committed in one buffer transaction' }),
    maxMessageBytes: byteSize().prefault('16MiB').meta({ description: 'larger messages are quarantined, not decoded' }),
    rebirthInterval: duration().prefault('5s').meta({ description: 'Sparkplug: at most one rebirth request per edge node in this time' }),
    sparkplug: sparkplugHostSchema.prefault({}).meta({ description: 'Sparkplug B host application settings' }),
    subscriptions: z.array(subscriptionSchema).min(1).meta({ description: 'topic filters and how to turn their messages into records' }),
  })
  .refine((c) => c.sparkplug.primaryHostId === undefined || c.cleanSession !== false, {
    message:
      'a Sparkplug Primary Host Application (sparkplug.primaryHostId) connects with a clean session (Sparkplug 3.0); remove cleanSession: false, or put the subscriptions that need a persistent session into another mqtt input',
    path: ['cleanSession'],
  });

export type MqttInputConfig = z.infer<typeof mqttConfigSchema>;
