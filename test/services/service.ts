/**
 * The contract every test service module implements, so the CLI and the vitest global setup can drive
 * Kafka, MinIO, Redis and Mosquitto the same way. `install` is idempotent and cached; `start` assumes the
 * service is installed and not running; `ready` sends a real request through the client the gateway uses.
 */
export interface TestService {
  /** also the folder name under .services/run/ and the pid file name */
  readonly name: string;
  /** loopback ports the server listens on (from endpoints.ts) */
  readonly ports: readonly number[];
  readonly logFile: string;
  install(): Promise<void>;
  start(): Promise<void>;
  ready(timeoutMs: number): Promise<void>;
}
