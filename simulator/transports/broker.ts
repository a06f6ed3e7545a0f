/**
 * An embedded MQTT broker (aedes) for demos on a machine without Mosquitto. Listens on loopback;
 * optional username/password.
 */
import net from 'node:net';
import { Aedes } from 'aedes';
import type { Logger } from 'pino';

export interface EmbeddedBroker {
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startEmbeddedBroker(opts: { port: number; host?: string; username?: string; password?: string }, log: Logger): Promise<EmbeddedBroker> {
  const broker = await Aedes.createBroker();
  if (opts.username !== undefined) {
    broker.authenticate = (_client, username, password, done) => {
      const ok = username === opts.username && Buffer.from(password ?? '').toString() === (opts.password ?? '');
      if (ok) done(null, true);
      else done(Object.assign(new Error('bad username or password'), { returnCode: 4 }) as never, false);
    };
  }
  const host = opts.host ?? '127.0.0.1';
  const server = net.createServer(broker.handle as (socket: net.Socket) => void);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, host, () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  log.info({ port, host }, 'embedded MQTT broker (aedes) listening');
  return {
    url: `mqtt://${host}:${port}`,
    port,
    close: async () => {
      await new Promise<void>((r) => broker.close(() => r()));
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
