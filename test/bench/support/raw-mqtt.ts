/**
 * Raw MQTT 3.1.1 packets for the benchmarks' load generators, which write pre-encoded CONNECT and
 * QoS 1 PUBLISH packets straight to a socket: no client library in the way, so a publisher offers
 * far more than the gateway under test takes.
 */

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

/** CONNECT: protocol "MQTT", level 4 (3.1.1), clean session, keep-alive 60 s. */
export function connectPacket(clientId: string): Buffer {
  const variable = Buffer.concat([utf8Field('MQTT'), Buffer.from([4, 0x02, 0, 60]), utf8Field(clientId)]);
  return Buffer.concat([Buffer.from([0x10]), remainingLength(variable.length), variable]);
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
