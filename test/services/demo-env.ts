/**
 * `.services/run/demo.env`: the harness's loopback servers as the variables config/storage-strategy.yaml
 * reads, written by `npm run services -- up` once every server answers. `npm start` (layergate demo)
 * runs that configuration instead of config/demo.yaml when this file exists and its servers listen.
 *
 * The passwords are the harness's own test credentials (test/services/endpoints.ts), for servers bound
 * to 127.0.0.1 that the harness made; nothing of a plant's is here. Mode 0600 all the same.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { MINIO_CLOUD, MINIO_LOCAL, MONGODB, POSTGRES, REDIS } from './endpoints.js';
import { RUN_DIR } from './process.js';

export const DEMO_ENV_FILE = path.join(RUN_DIR, 'demo.env');

export function writeDemoEnv(): void {
  const vars: Record<string, string | number> = {
    LAYERGATE_PG_HOST: POSTGRES.host,
    LAYERGATE_PG_PORT: POSTGRES.port,
    LAYERGATE_PG_DATABASE: POSTGRES.database,
    LAYERGATE_PG_USER: POSTGRES.user,
    LAYERGATE_PG_PASSWORD: POSTGRES.password,
    LAYERGATE_PG_CA: POSTGRES.caFile,
    LAYERGATE_MONGODB_URL: MONGODB.url,
    LAYERGATE_REDIS_URL: REDIS.url,
    LAYERGATE_MINIO_ENDPOINT: MINIO_LOCAL.endPoint,
    LAYERGATE_MINIO_PORT: MINIO_LOCAL.port,
    LAYERGATE_MINIO_ACCESS_KEY: MINIO_LOCAL.accessKey,
    LAYERGATE_MINIO_SECRET_KEY: MINIO_LOCAL.secretKey,
    LAYERGATE_CLOUD_ENDPOINT: `http://${MINIO_CLOUD.endPoint}:${MINIO_CLOUD.port}`,
    LAYERGATE_CLOUD_ACCESS_KEY: MINIO_CLOUD.accessKey,
    LAYERGATE_CLOUD_SECRET_KEY: MINIO_CLOUD.secretKey,
  };
  const lines = Object.entries(vars).map(([k, v]) => `${k}=${v}`);
  writeFileSync(DEMO_ENV_FILE, `# written by npm run services -- up (test/services/demo-env.ts)\n${lines.join('\n')}\n`, { mode: 0o600 });
}
