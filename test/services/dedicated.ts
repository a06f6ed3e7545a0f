/**
 * Dedicated Kafka, Redis and MinIO instances for tests that stop, kill, freeze and restart a server
 * (sink-restart tests), on ./dedicated-child.ts: the binaries the harness already cached under
 * .services/ (Kafka jars, the MinIO build, Debian's redis-server), each on its own free loopback ports
 * and data folder. Redis runs with AOF, fsync always, so what it acknowledged survives its restart.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import { Client } from 'minio';
import { freePort } from '../support/wait.js';
import { HOST } from './endpoints.js';
import { KAFKA_VERSION, newClusterId } from './kafka.js';
import { MINIO_VERSION } from './minio.js';
import { DedicatedChild } from './dedicated-child.js';
import { CACHE_DIR, runLogged, which } from './process.js';

export type { DedicatedServer } from './dedicated-child.js';

export interface KafkaSaslUsers {
  /** user -> password for SASL/PLAIN */
  plain?: Record<string, string>;
  /** user -> password for SASL/SCRAM-SHA-512 (created when the storage is formatted) */
  scram512?: Record<string, string>;
}

/** The super user of a `DedicatedKafka` with `acl: true` (SASL/PLAIN): the broker's own identity too. */
export const DEDICATED_KAFKA_ADMIN = { username: 'admin', password: 'lg-dedicated-kafka-admin-secret' } as const;

/**
 * One KRaft Kafka node (broker + controller) from the harness's cached jars. A PLAINTEXT listener
 * (`brokers`, also used between broker and controller); with `sasl`, a SASL_PLAINTEXT listener too
 * (`saslBrokers`) offering PLAIN and SCRAM-SHA-512 for the given users; with `tls` (PEM certificate
 * and PKCS#8 key), an SSL listener (`tlsBrokers`).
 *
 * With `acl: true`, an authorising broker: `StandardAuthorizer`, `super.users=User:admin`,
 * `allow.everyone.if.no.acl.found=false`. Every listener then authenticates (no anonymous principal
 * could pass): there is no PLAINTEXT listener, `brokers` is the SASL listener, the broker talks to
 * itself and to its controller over SASL/PLAIN as `DEDICATED_KAFKA_ADMIN` (a PLAIN user besides the
 * given ones), and tests grant the other users their ACLs through `adminClient()`.
 */
export class DedicatedKafka extends DedicatedChild {
  brokerPort = 0;
  saslPort = 0;
  tlsPort = 0;
  controllerPort = 0;
  private formatted = false;
  private readonly sasl: KafkaSaslUsers | undefined;
  private readonly tls: { cert: string; key: string } | undefined;
  private readonly acl: boolean;

  constructor(opts: { sasl?: KafkaSaslUsers; tls?: { cert: string; key: string }; acl?: boolean } = {}) {
    super('kafka');
    this.acl = opts.acl === true;
    if (this.acl && opts.tls) throw new Error('DedicatedKafka: acl with tls is not supported (the authorising broker has SASL_PLAINTEXT listeners only)');
    // an authorising broker has only authenticated listeners: SASL is on, with the admin as a PLAIN user
    this.sasl = this.acl ? { ...opts.sasl, plain: { ...opts.sasl?.plain, [DEDICATED_KAFKA_ADMIN.username]: DEDICATED_KAFKA_ADMIN.password } } : opts.sasl;
    this.tls = opts.tls;
  }

  get brokers(): string[] {
    return this.acl ? this.saslBrokers : [`${HOST}:${this.brokerPort}`];
  }
  get saslBrokers(): string[] {
    return [`${HOST}:${this.saslPort}`];
  }
  get tlsBrokers(): string[] {
    return [`${HOST}:${this.tlsPort}`];
  }

  private javaArgs(mainClass: string, ...args: string[]): string[] {
    return [
      '-Xms64m',
      '-Xmx384m',
      '-XX:+UseSerialGC',
      '-XX:TieredStopAtLevel=1',
      '-Djava.awt.headless=true',
      `-Dlog4j2.configurationFile=${path.join(this.dir, 'log4j2.properties')}`,
      `-Dkafka.logs.dir=${this.dir}`,
      '-cp',
      `${path.join(CACHE_DIR, `kafka-${KAFKA_VERSION}`, 'jars')}/*`,
      mainClass,
      ...args,
    ];
  }

  protected override async prepare(): Promise<void> {
    if (this.formatted) return;
    if (!existsSync(path.join(CACHE_DIR, `kafka-${KAFKA_VERSION}`, '.resolved'))) {
      throw new Error('the Kafka jars are not cached yet: run `npm run services -- up` first');
    }
    if (!this.acl) this.brokerPort = await freePort();
    this.controllerPort = await freePort();
    if (this.sasl) this.saslPort = await freePort();
    if (this.tls) this.tlsPort = await freePort();
    const props = path.join(this.dir, 'server.properties');
    if (this.acl) {
      writeFileSync(props, this.aclProperties().join('\n'));
      this.writeLog4j();
      await this.format(props);
      return;
    }
    const extra = [...(this.sasl ? [`SASL_PLAINTEXT://${HOST}:${this.saslPort}`] : []), ...(this.tls ? [`SSL://${HOST}:${this.tlsPort}`] : [])]
      .map((l) => `,${l}`)
      .join('');
    const tlsLines: string[] = [];
    if (this.tls) {
      // a PEM key store: the PKCS#8 key and the certificate in one file
      const pem = path.join(this.dir, 'keystore.pem');
      writeFileSync(pem, readFileSync(this.tls.key, 'utf8') + readFileSync(this.tls.cert, 'utf8'));
      tlsLines.push('ssl.keystore.type=PEM', `ssl.keystore.location=${pem}`, 'ssl.client.auth=none');
    }
    const saslLines = this.sasl
      ? [
          'sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-512',
          `listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required ${this.plainUsers()};`,
          'listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;',
        ]
      : [];
    writeFileSync(
      props,
      [
        'process.roles=broker,controller',
        'node.id=1',
        `controller.quorum.voters=1@${HOST}:${this.controllerPort}`,
        `listeners=PLAINTEXT://${HOST}:${this.brokerPort},CONTROLLER://${HOST}:${this.controllerPort}${extra}`,
        `advertised.listeners=PLAINTEXT://${HOST}:${this.brokerPort}${extra}`,
        'controller.listener.names=CONTROLLER',
        'inter.broker.listener.name=PLAINTEXT',
        'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL',
        ...saslLines,
        ...tlsLines,
        `log.dirs=${path.join(this.dir, 'data')}`,
        'num.partitions=1',
        'default.replication.factor=1',
        'offsets.topic.replication.factor=1',
        'offsets.topic.num.partitions=1',
        'transaction.state.log.replication.factor=1',
        'transaction.state.log.min.isr=1',
        'share.coordinator.state.topic.replication.factor=1',
        'share.coordinator.state.topic.min.isr=1',
        'auto.create.topics.enable=false',
        'group.initial.rebalance.delay.ms=0',
        '',
      ].join('\n'),
    );
    this.writeLog4j();
    await this.format(props);
  }

  /** the PLAIN users of a JAAS line: `user_<name>="<password>"` each */
  private plainUsers(): string {
    const jaasQuote = (v: string) => `"${v.replace(/["\\]/g, '')}"`;
    return Object.entries(this.sasl?.plain ?? {})
      .map(([u, p]) => `user_${u}=${jaasQuote(p)}`)
      .join(' ');
  }

  /**
   * `acl: true`: SASL on every listener (clients and inter-broker on SASL_PLAINTEXT, the controller on
   * CONTROLLER, both PLAIN), the broker's own principal is the super user, everything else needs an ACL.
   */
  private aclProperties(): string[] {
    const admin = `username="${DEDICATED_KAFKA_ADMIN.username}" password="${DEDICATED_KAFKA_ADMIN.password}"`;
    const plain = 'org.apache.kafka.common.security.plain.PlainLoginModule required';
    return [
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.voters=1@${HOST}:${this.controllerPort}`,
      `listeners=SASL_PLAINTEXT://${HOST}:${this.saslPort},CONTROLLER://${HOST}:${this.controllerPort}`,
      `advertised.listeners=SASL_PLAINTEXT://${HOST}:${this.saslPort}`,
      'controller.listener.names=CONTROLLER',
      'inter.broker.listener.name=SASL_PLAINTEXT',
      'listener.security.protocol.map=CONTROLLER:SASL_PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT',
      'sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-512',
      'sasl.mechanism.inter.broker.protocol=PLAIN',
      'sasl.mechanism.controller.protocol=PLAIN',
      `listener.name.sasl_plaintext.plain.sasl.jaas.config=${plain} ${admin} ${this.plainUsers()};`,
      'listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;',
      'listener.name.controller.sasl.enabled.mechanisms=PLAIN',
      `listener.name.controller.plain.sasl.jaas.config=${plain} ${admin} user_${DEDICATED_KAFKA_ADMIN.username}="${DEDICATED_KAFKA_ADMIN.password}";`,
      'authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer',
      `super.users=User:${DEDICATED_KAFKA_ADMIN.username}`,
      'allow.everyone.if.no.acl.found=false',
      `log.dirs=${path.join(this.dir, 'data')}`,
      'num.partitions=1',
      'default.replication.factor=1',
      'offsets.topic.replication.factor=1',
      'offsets.topic.num.partitions=1',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'share.coordinator.state.topic.replication.factor=1',
      'share.coordinator.state.topic.min.isr=1',
      'auto.create.topics.enable=false',
      'group.initial.rebalance.delay.ms=0',
      '',
    ];
  }

  /**
   * A kafkajs client as the super user (`acl: true`): to grant ACLs (`admin().createAcls`), create
   * topics and read back. Without `acl`, a plain client of `brokers`.
   */
  adminClient(clientId = 'lg-dedicated-admin', retry: { retries: number; initialRetryTime?: number; maxRetryTime?: number } = { retries: 5 }): Kafka {
    return new Kafka({
      clientId,
      brokers: this.brokers,
      logLevel: logLevel.NOTHING,
      retry,
      ...(this.acl ? { sasl: { mechanism: 'plain' as const, username: DEDICATED_KAFKA_ADMIN.username, password: DEDICATED_KAFKA_ADMIN.password } } : {}),
    });
  }

  private writeLog4j(): void {
    writeFileSync(
      path.join(this.dir, 'log4j2.properties'),
      [
        'rootLogger.level=WARN',
        'rootLogger.appenderRef.stdout.ref=STDOUT',
        'appender.stdout.type=Console',
        'appender.stdout.name=STDOUT',
        'appender.stdout.layout.type=PatternLayout',
        'appender.stdout.layout.pattern=[%d] %p %m (%c)%n',
        '',
      ].join('\n'),
    );
  }

  private async format(props: string): Promise<void> {
    const scram = Object.entries(this.sasl?.scram512 ?? {}).flatMap(([u, p]) => ['--add-scram', `SCRAM-SHA-512=[name=${u},password=${p}]`]);
    await runLogged('kafka', 'java', this.javaArgs('kafka.tools.StorageTool', 'format', '-t', newClusterId(), '-c', props, ...scram), {
      logFile: this.logFile,
      cwd: this.dir,
    });
    this.formatted = true;
  }

  protected command() {
    return { command: 'java', args: this.javaArgs('kafka.Kafka', path.join(this.dir, 'server.properties')), env: { ...process.env, KAFKA_LOG4J_OPTS: '' } };
  }

  protected async probe(): Promise<void> {
    const admin = new Kafka({
      clientId: 'lg-dedicated-probe',
      brokers: this.brokers,
      logLevel: logLevel.NOTHING,
      connectionTimeout: 1000,
      requestTimeout: 3000,
      retry: { retries: 0 },
      ...(this.acl ? { sasl: { mechanism: 'plain' as const, username: DEDICATED_KAFKA_ADMIN.username, password: DEDICATED_KAFKA_ADMIN.password } } : {}),
    }).admin();
    try {
      await admin.connect();
      if ((await admin.describeCluster()).brokers.length === 0) throw new Error('no broker in metadata');
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }
}

/**
 * Redis with AOF and `appendfsync always`: a clean or hard restart keeps every acknowledged write.
 * With `tls` (PEM files) it listens with TLS only (`url` is then rediss://).
 */
export class DedicatedRedis extends DedicatedChild {
  port = 0;
  constructor(private readonly tls?: { cert: string; key: string; ca: string }) {
    super('redis');
  }
  get url(): string {
    return `${this.tls ? 'rediss' : 'redis'}://${HOST}:${this.port}`;
  }

  protected override async prepare(): Promise<void> {
    if (this.port === 0) this.port = await freePort();
  }

  protected command() {
    return {
      command: which('redis-server') ?? 'redis-server',
      args: [
        '--bind',
        HOST,
        ...(this.tls
          ? [
              '--port',
              '0',
              '--tls-port',
              String(this.port),
              '--tls-cert-file',
              this.tls.cert,
              '--tls-key-file',
              this.tls.key,
              '--tls-ca-cert-file',
              this.tls.ca,
              '--tls-auth-clients',
              'no',
            ]
          : ['--port', String(this.port)]),
        '--dir',
        this.dir,
        '--save',
        '',
        '--appendonly',
        'yes',
        '--appendfsync',
        'always',
        '--protected-mode',
        'yes',
        '--logfile',
        '',
      ],
    };
  }

  protected async probe(): Promise<void> {
    const c = new Redis(this.url, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      connectTimeout: 1000,
      ...(this.tls ? { tls: { ca: readFileSync(this.tls.ca) } } : {}),
    });
    c.on('error', () => undefined);
    try {
      await c.connect();
      if ((await c.ping()) !== 'PONG') throw new Error('no PONG');
    } finally {
      c.disconnect();
    }
  }
}

export const DEDICATED_MINIO_KEYS = { accessKey: 'lg-dedicated-admin', secretKey: 'lg-dedicated-secret-key' } as const;

/** MinIO from the harness's build, single drive. */
export class DedicatedMinio extends DedicatedChild {
  port = 0;
  consolePort = 0;
  constructor() {
    super('minio');
  }

  protected override async prepare(): Promise<void> {
    const binary = path.join(CACHE_DIR, `minio-${MINIO_VERSION}`, 'minio');
    if (!existsSync(binary)) throw new Error('the MinIO build is not cached yet: run `npm run services -- up` first');
    if (this.port === 0) {
      this.port = await freePort();
      this.consolePort = await freePort();
    }
  }

  protected command() {
    return {
      command: path.join(CACHE_DIR, `minio-${MINIO_VERSION}`, 'minio'),
      args: [
        'server',
        path.join(this.dir, 'data'),
        '--address',
        `${HOST}:${this.port}`,
        '--console-address',
        `${HOST}:${this.consolePort}`,
        '--certs-dir',
        path.join(this.dir, 'certs'),
        '--quiet',
      ],
      env: {
        ...process.env,
        MINIO_ROOT_USER: DEDICATED_MINIO_KEYS.accessKey,
        MINIO_ROOT_PASSWORD: DEDICATED_MINIO_KEYS.secretKey,
        MINIO_UPDATE: 'off',
        MINIO_BROWSER: 'off',
        HOME: this.dir,
      },
    };
  }

  client(): Client {
    return new Client({ endPoint: HOST, port: this.port, useSSL: false, ...DEDICATED_MINIO_KEYS });
  }

  protected async probe(): Promise<void> {
    const res = await fetch(`http://${HOST}:${this.port}/minio/health/ready`, { signal: AbortSignal.timeout(2000) });
    if (!res.ok) throw new Error(`health ${res.status}`);
    await this.client().listBuckets();
  }
}

/**
 * A self-signed certificate for 127.0.0.1 (its own CA), made with the openssl CLI in `dir`, for TLS
 * tests against dedicated servers.
 */
export async function selfSignedCert(dir: string): Promise<{ cert: string; key: string; ca: string }> {
  const cert = path.join(dir, 'server.crt');
  const key = path.join(dir, 'server.key');
  await runLogged(
    'openssl',
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '2',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ],
    { logFile: path.join(dir, 'openssl.log'), cwd: dir },
  );
  return { cert, key, ca: cert };
}
