/**
 * Raw MQTT 3.1.1 packets for the benchmarks' load generators, which write pre-encoded CONNECT and
 * QoS 1 PUBLISH packets straight to a socket: no client library in the way, so a publisher offers
 * far more than the gateway under test takes.
 */
import net from 'node:net';

/** MQTT's variable-length "remaining length" field. */
export function remainingLength(n: number): Buffer {
  const bytes: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    bytes.push(b);
  } while (n > 0);
  return Buffer.from(bytes);
}

/** A length-prefixed UTF-8 string field. */
export function utf8Field(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  const out = Buffer.alloc(2 + b.length);
  out.writeUInt16BE(b.length, 0);
  b.copy(out, 2);
  return out;
}

/** CONNECT: protocol "MQTT", level 4 (3.1.1), clean session, keep-alive 60 s; with a user name and password when given. */
export function connectPacket(clientId: string, login?: { username: string; password: string }): Buffer {
  const flags = login ? 0xc2 : 0x02;
  const fields = [utf8Field('MQTT'), Buffer.from([4, flags, 0, 60]), utf8Field(clientId)];
  if (login) fields.push(utf8Field(login.username), utf8Field(login.password));
  const variable = Buffer.concat(fields);
  return Buffer.concat([Buffer.from([0x10]), remainingLength(variable.length), variable]);
}

/** The packet types a publisher reads back. */
export const CONNACK = 2;
export const PUBACK = 4;

/**
 * Splits the bytes a broker sends into packets, keeping an incomplete one for the next chunk:
 * `push` calls `each(type, body)` for every complete packet (for a CONNACK, `body[1]` is its return
 * code).
 */
export class PacketSplitter {
  private rest: Buffer | null = null;

  push(chunk: Buffer, each: (type: number, body: Buffer) => void): void {
    const buf = this.rest ? Buffer.concat([this.rest, chunk]) : chunk;
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
      each(buf[o]! >> 4, buf.subarray(i, i + len));
      o = i + len;
    }
    this.rest = o < buf.length ? buf.subarray(o) : null;
  }
}

/** PUBLISH at QoS 1 with packet id `id`; `topic` already as a utf8Field. */
export function publishPacket(topic: Buffer, id: number, payload: Buffer): Buffer {
  const len = topic.length + 2 + payload.length;
  const rl = remainingLength(len);
  const out = Buffer.allocUnsafe(1 + rl.length + len);
  out[0] = 0x32; // PUBLISH, QoS 1
  rl.copy(out, 1);
  let o = 1 + rl.length;
  topic.copy(out, o);
  o += topic.length;
  out.writeUInt16BE(id, o);
  payload.copy(out, o + 2);
  return out;
}

export interface Qos1FloodOptions {
  /** mqtt://host:port */
  url: string;
  clientId: string;
  topic: string;
  /** messages to publish in all */
  count: number;
  /** the payload of message `i` (0-based) */
  payload: (i: number) => Buffer;
  /** publish only while this holds (default: always); `resume()` after it holds again */
  active?: () => boolean;
  /** called with each payload as it is written */
  onPublished?: (payload: Buffer) => void;
  /** called on each PUBACK */
  onAcked?: () => void;
  /** QoS 1 messages in flight (default 2,000) */
  window?: number;
  /** packets per socket write (default 200) */
  writeBatch?: number;
}

/**
 * One connection publishing `count` QoS 1 messages as fast as the broker acknowledges them, with
 * `window` in flight: pre-encoded packets written in batches, CONNACK and PUBACKs read from the raw
 * stream. `connect()` resolves at the CONNACK (rejects on a refusal); nothing is published before
 * `resume()`; `done` resolves when every message is acknowledged and rejects when the connection
 * fails or closes first.
 */
export class Qos1Flood {
  sent = 0;
  acked = 0;
  readonly done: Promise<void>;
  private readonly sock: net.Socket;
  private readonly topicField: Buffer;
  private readonly window: number;
  private readonly writeBatch: number;
  private connected = false;
  private readonly packets = new PacketSplitter();
  private settle!: { resolve: () => void; reject: (err: Error) => void };
  private onConnack: ((err?: Error) => void) | undefined;

  constructor(private readonly o: Qos1FloodOptions) {
    this.topicField = utf8Field(o.topic);
    this.window = o.window ?? 2_000;
    this.writeBatch = o.writeBatch ?? 200;
    this.done = new Promise<void>((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    this.done.catch(() => undefined); // a caller that never awaits it must not crash the process
    const { hostname, port } = new URL(o.url);
    this.sock = net.connect(Number(port), hostname);
    this.sock.setNoDelay(true);
    this.sock.on('data', (chunk: Buffer) => this.read(chunk));
    this.sock.once('error', (err) => this.fail(err));
    this.sock.once('close', () => this.fail(new Error(`publisher connection closed after ${this.acked} of ${o.count} acks`)));
  }

  /** Connect; resolves at the broker's CONNACK. */
  async connect(): Promise<void> {
    await new Promise<void>((resolve, reject) => this.sock.once('connect', resolve).once('error', reject));
    const connack = new Promise<void>((resolve, reject) => {
      this.onConnack = (err) => (err ? reject(err) : resolve());
    });
    this.sock.write(connectPacket(this.o.clientId));
    await connack;
  }

  /** Write what the window allows, and go on as PUBACKs and 'drain' come in. */
  resume(): void {
    const { count, payload, active, onPublished } = this.o;
    while ((active?.() ?? true) && this.sent < count && this.sent - this.acked < this.window) {
      const parts: Buffer[] = [];
      for (let k = 0; k < this.writeBatch && this.sent < count && this.sent - this.acked < this.window; k++, this.sent++) {
        const p = payload(this.sent);
        onPublished?.(p);
        parts.push(publishPacket(this.topicField, (this.sent % 65_535) + 1, p));
      }
      if (!this.sock.write(parts.length === 1 ? parts[0]! : Buffer.concat(parts))) {
        this.sock.once('drain', () => this.resume());
        return;
      }
    }
  }

  /** DISCONNECT and close. */
  end(): void {
    this.sock.removeAllListeners('close');
    this.sock.end(Buffer.from([0xe0, 0]));
  }

  private fail(err: Error): void {
    this.onConnack?.(err);
    this.settle.reject(err);
  }

  private read(chunk: Buffer): void {
    this.packets.push(chunk, (type, body) => {
      if (type === CONNACK) {
        const code = body[1];
        const refused = code === 0 ? undefined : new Error(`CONNACK refused: return code ${code}`);
        this.connected = refused === undefined;
        this.onConnack?.(refused);
        this.onConnack = undefined;
      } else if (type === PUBACK) {
        this.acked++;
        this.o.onAcked?.();
      }
    });
    if (!this.connected) return;
    if (this.acked >= this.o.count) this.settle.resolve();
    else this.resume();
  }
}
