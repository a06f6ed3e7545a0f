/**
 * The fixed loopback endpoints of the servers the test harness starts (test/services/). Chosen to
 * stay clear of each server's default port, so a plant's own Redis/Kafka/MinIO/Mosquitto on this
 * machine is never touched. Tests import these; `npm run services -- up` starts the servers on them.
 */
export const HOST = '127.0.0.1';

export const KAFKA = { brokers: [`${HOST}:19092`], controllerPort: 19093 } as const;

export const REDIS = { url: `redis://${HOST}:16379`, port: 16379 } as const;

export const MQTT = {
  url: `mqtt://${HOST}:11883`,
  port: 11883,
  tlsUrl: `mqtts://${HOST}:18883`,
  tlsPort: 18883,
  username: 'layergate',
  password: 'layergate-test-password',
} as const;

/** the plant's on-premises MinIO */
export const MINIO_LOCAL = {
  endPoint: HOST, port: 19000, consolePort: 19001, useSSL: false,
  accessKey: 'lg-local-admin', secretKey: 'lg-local-secret-key',
} as const;

/** stands in for cloud S3 in tests */
export const MINIO_CLOUD = {
  endPoint: HOST, port: 19010, consolePort: 19011, useSSL: false,
  accessKey: 'lg-cloud-admin', secretKey: 'lg-cloud-secret-key',
} as const;
