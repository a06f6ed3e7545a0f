/**
 * The MQTT publisher of `npm run bench:grpc`, a process of its own: the same small documents as the
 * gRPC Store case (./documents.ts), QoS 1, pre-encoded MQTT 3.1.1 PUBLISH packets written straight to
 * a socket (../support/raw-mqtt.ts) with `window` unacknowledged at most, so it offers more than the
 * gateway's input takes and the input's own pace is what the gateway side counts. Logs in with the
 * shared Mosquitto's user (test/services/endpoints.ts). Publishes from 'go' until 'stop'.
 *
 * argv: <url> <username> <password> <topic> <bytes> <window>
 */
import net from 'node:net';
import { CONNACK, connectPacket, PacketSplitter, PUBACK, publishPacket, utf8Field } from '../support/raw-mqtt.js';
import { smallDocument } from './documents.js';
import type { PublisherCommand, PublisherMessage } from './protocol.js';

const [url, username, password, topic, sizeArg, windowArg] = process.argv.slice(2);
const size = Number(sizeArg);
const window = Number(windowArg);
const send = (m: PublisherMessage): void => void process.send?.(m);

const { hostname, port } = new URL(url!);
const sock = net.connect(Number(port), hostname);
sock.setNoDelay(true);
const topicField = utf8Field(topic!);
let sent = 0;
let acked = 0;
let running = false;
let connected = false;
const packets = new PacketSplitter();
let t0 = 0;

function pump(): void {
  while (running && sent - acked < window) {
    const parts: Buffer[] = [];
    for (let k = 0; k < 100 && sent - acked < window; k++, sent++) parts.push(publishPacket(topicField, (sent % 65_535) + 1, smallDocument(sent, size)));
    if (!sock.write(parts.length === 1 ? parts[0]! : Buffer.concat(parts))) {
      sock.once('drain', pump);
      return;
    }
  }
}

sock.on('data', (chunk: Buffer) => {
  packets.push(chunk, (type, body) => {
    if (type === CONNACK) {
      if (body[1] !== 0) {
        send({ type: 'failed', message: `CONNACK refused: return code ${body[1]}` });
        process.exit(1);
      }
      connected = true;
      send({ type: 'ready' });
    } else if (type === PUBACK) acked++;
  });
  if (connected) pump();
});
sock.once('error', (err) => {
  send({ type: 'failed', message: err.message });
  process.exit(1);
});
sock.once('connect', () => sock.write(connectPacket(`lg-bench-grpc-pub-${process.pid}`, { username: username!, password: password! })));

process.on('message', (cmd: PublisherCommand) => {
  if (cmd.type === 'go') {
    running = true;
    t0 = performance.now();
    pump();
  } else if (cmd.type === 'stop') {
    running = false;
    send({ type: 'done', published: sent, acked, ms: performance.now() - t0 });
    sock.end(Buffer.from([0xe0, 0]));
    setTimeout(() => process.exit(0), 200);
  }
});
