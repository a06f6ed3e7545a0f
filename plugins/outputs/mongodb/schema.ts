/**
 * Config schema of the `mongodb` output (documents: builds and their layers, events, files' metadata,
 * frames' metadata). Declared once here and validated at load as part of the whole gateway config.
 *
 * Constraint: the URL decides where the server is (./premises.ts): `mongodb+srv://` and Atlas hosts are
 * off the premises, and the envelope's `premises: on` cannot raise them.
 */
import { z } from 'zod';
import { duration, secret, tlsSetting } from '../../../gateway/plugin-api/index.js';

/** the kinds this output can take; samples never (the columnar stores and PostgreSQL hold time series) */
export const MONGODB_KINDS = ['event', 'document', 'frame', 'scalar'] as const;
/** what it takes when the config does not say: no scalars (README.md says why) */
export const MONGODB_DEFAULT_KINDS = ['event', 'document', 'frame'] as const;

export const mongodbConfigSchema = z.strictObject({
  url: z
    .string()
    .regex(/^mongodb(\+srv)?:\/\/[^/?#]+/, 'expected mongodb://host[:port][,host...][/?options] or mongodb+srv://cluster.example.mongodb.net')
    .meta({
      description:
        'the server: `mongodb://host:port[,host:port...]/?replicaSet=...` (a plant MongoDB) or `mongodb+srv://<cluster>.mongodb.net` (Atlas; always off the premises). Credentials belong in `username`/`password`, not the URL',
    }),
  database: z
    .string()
    .min(1)
    .max(63)
    .regex(/^[^\s./\\"$]+$/, 'a MongoDB database name')
    .default('layergate')
    .meta({ description: 'the database' }),
  collectionPrefix: z
    .string()
    .regex(/^[A-Za-z0-9_-]*$/)
    .default('')
    .meta({
      description:
        'prefix of the collection names (`<prefix>builds`, `<prefix>layers`, `<prefix>events`, `<prefix>files`, `<prefix>frames`, `<prefix>scalars`)',
    }),
  username: z.string().min(1).optional().meta({ description: 'user to authenticate as (SCRAM; Atlas: a database user)' }),
  password: secret('password of `username`').optional(),
  authSource: z.string().min(1).optional().meta({ description: 'database holding the user (default: `admin`, as the driver does)' }),
  tls: tlsSetting('TLS to the server (default: from the URL: `mongodb+srv://` and `tls=true` mean TLS, as the driver does)'),
  hostOnPremises: z.boolean().default(false).meta({
    description:
      "the URL's host names are the plant's own (a DNS name the URL check cannot judge). Without it only loopback, private addresses, single-label and .local/.lan/.internal names count as on the premises; `mongodb+srv://` and *.mongodb.net are off whatever this says",
  }),
  kinds: z
    .array(z.enum(MONGODB_KINDS))
    .min(1)
    .default([...MONGODB_DEFAULT_KINDS])
    .meta({ description: 'record kinds routed here (default events, documents and frames; `scalar` adds one document per value, for small deployments)' }),
  connectTimeout: duration().prefault('5s').meta({ description: 'TCP/TLS connect and server selection timeout' }),
  writeTimeout: duration().prefault('20s').meta({ description: "a batch not acknowledged within this long fails and is retried (the driver's timeoutMS)" }),
  writeConcern: z
    .enum(['majority', '1'])
    .default('majority')
    .meta({ description: 'acknowledgement asked of the server, always journaled: `majority` (a replica set, Atlas) or `1` (a single server)' }),
});

export type MongodbConfig = z.infer<typeof mongodbConfigSchema>;
