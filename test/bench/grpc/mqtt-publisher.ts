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
import { publishPacket, remainingLength, utf8Field } from '../support/raw-mqtt.js';
import { smallDocument } from './documents.js';
import type { PublisherCommand, PublisherMessage } from './protocol.js';

const [url, username, password, topic, sizeArg, windowArg] = process.argv.slice(2);
const size = Number(sizeArg);
const window = Number(windowArg);
const send = (m: PublisherMessage): void => void process.send?.(m);

/** CONNECT, MQTT 3.1.1, clean session, keep-alive 60 s, with user name and password */
function connectPacket(clientId: string): Buffer {
  const variable = Buffer.concat([utf8Field('MQTT'), Buffer.from([4, 0xc2, 0, 60]), utf8Field(clientId), utf8Field(username!), utf8Field(password!)]);
  return Buffer.concat([Buffer.from([0x10]), remainingLength(variable.length), variable]);
}

const { hostname, port } = new URL(url!);
const sock = net.connect(Number(port), hostname);
sock.setNoDelay(true);
const topicField = utf8Field(topic!);
let sent = 0;
let acked = 0;
let running = false;
let connected = false;
let rest: Buffer | null = null;
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
  const buf = rest ? Buffer.concat([rest, chunk]) : chunk;
  let o = 0;
  while (buf.length - o >= 2) {
    let len = 0;
    let mul = 1;
    let i = o + 1;
    let complete = false;
    while (i < buf.length) {
      const b = buf[i++]!;
      len += (b & 0x7f) * mul;
      mul *= 128;
      if ((b & 0x80) === 0) {
        complete = true;
        break;
      }
    }
    if (!complete || i + len > buf.length) break;
    const type = buf[o]! >> 4;
    if (type === 2) {
      if (buf[i + 1] !== 0) {
        send({ type: 'failed', message: `CONNACK refused: return code ${buf[i + 1]}` });
        process.exit(1);
      }
      connected = true;
      send({ type: 'ready' });
    } else if (type === 4) acked++;
    o = i + len;
  }
  rest = o < buf.length ? buf.subarray(o) : null;
  if (connected) pump();
});
sock.once('error', (err) => {
  send({ type: 'failed', message: err.message });
  process.exit(1);
});
sock.once('connect', () => sock.write(connectPacket(`lg-bench-grpc-pub-${process.pid}`)));

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
