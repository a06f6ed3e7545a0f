/**
 * A process that appends to a buffer as fast as it can until it is killed, for buffer.crash.test.ts.
 *
 *   node --import tsx gateway/buffer/test-support/crash-writer.ts DIR START_N
 *
 * Record n has body bodyFor(n, size(n)) and attribute n; every 5th record is larger than the inline
 * limit (spooled), and some of those repeat earlier content (deduplicated blobs). After each append
 * returns it prints "firstSeq lastSeq firstN" on stdout (a pipe: synchronous on Linux), so every line
 * the parent reads names records whose commit had completed.
 */
import { pino } from 'pino';
import { openBuffer } from '../append-log.js';
import { CRASH_INLINE_MAX, bodyFor, crashBodyKey, crashRecordSize, rec } from './records.js';

const [dir, startArg] = process.argv.slice(2);
if (!dir) throw new Error('usage: crash-writer.ts DIR START_N');
{
  const buf = openBuffer({ dir, maxBytes: 1024 ** 3, sinks: ['kafka'], inlineMaxBytes: CRASH_INLINE_MAX }, pino({ level: 'warn' }, pino.destination(2)));
  let n = Number(startArg ?? 1);
  for (;;) {
    const batchSize = 1 + (n % 17);
    const batch = [];
    const firstN = n;
    for (let i = 0; i < batchSize; i++, n++) {
      const size = crashRecordSize(n);
      const r = rec({ n, size, body: bodyFor(crashBodyKey(n), size) });
      batch.push(r);
    }
    const { firstSeq, lastSeq } = buf.append(batch);
    process.stdout.write(`${firstSeq} ${lastSeq} ${firstN}\n`);
  }
}
