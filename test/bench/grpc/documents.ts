/** The small documents of `npm run bench:grpc`: the same bytes through gRPC Store and through MQTT. */

/** a JSON machine event (`{"type": ...}`, what the MQTT input's `event` decoder takes) of exactly `size` bytes */
export function smallDocument(i: number, size: number): Buffer {
  const head = `{"type":"bench-doc","i":${i},"pad":"`;
  const tail = '"}';
  return Buffer.from(head + 'x'.repeat(Math.max(0, size - head.length - tail.length)) + tail);
}
