/**
 * The V8 options the gateway process starts with, in one place: the systemd unit's ExecStart and the
 * CLI's shebang carry them (systemd/systemd.test.ts and gateway/cli/node-flags.test.ts check both
 * against this list), and the end-to-end benchmark starts its gateway child with them, so what it
 * measures is what a plant runs.
 *
 * `--max-old-space-size=768`. V8 lets the old generation grow to its live size times a factor before
 * the next full collection, and picks the factor from the heap limit: 4x on a 64-bit machine with the
 * default limit of several GB, 1.3x to 2x, rising linearly, for a limit between 256 MB and 2 GB. The
 * gateway's live heap is about 100 MB (mostly code: node-opcua, the AWS SDK, zod schemas), but
 * ingest promotes tens of MB/s of short-lived records to the old generation whenever the event loop
 * lags (a backlog, a slow commit), and with the 4x factor that garbage reached 350 MB before a full
 * collection (W1 -> Kafka: peak RSS 580 MB, peak heap in use 346 MB with 95 MB live). At 768 MB the
 * factor is about 1.5: peak RSS 330 MB, peak heap in use 150 MB (compiled, as a plant runs it: 480 ->
 * 280 MB). The cost is more frequent full collections (incremental, mostly concurrent): CPU per
 * million records ingested was 32-59 CPU-s before and 31-50 after over seven runs on a shared 2-core
 * machine, within the noise, which does not rule out a cost of 10-20 %. The limit itself is 7x the
 * live heap: far beyond anything the bounded buffer reads, batches and queues hold.
 *
 * `--max-semi-space-size=32` (MB; V8's default is 16 on 64-bit). A record lives from its input's
 * group commit through a forwarder's read-ahead and send: a second or two at plant rates. With the
 * default young generation the scavenger runs several times a second, so most records outlive two
 * scavenges and are promoted, and the old generation's marking (four concurrent V8 threads plus the
 * main thread) then costs more than the gateway's own work: at W1 into the lake the gateway's four
 * V8 helper threads took 13-16 % of a core each beside its 83 % main thread. With 32 MB, W1 into
 * the lake (bench:e2e --compiled, 30 s, interleaved runs on a shared 2-core machine) went from a
 * median of 41.7 to 35.1 CPU-s per million records and from 0.59 to 0.66 delivered/offered, for about
 * 35 MB more peak RSS (453-481 -> 500-506 MB); 64 MB measured the same CPU for about 180 MB more.
 */
export const GATEWAY_NODE_FLAGS: readonly string[] = ['--max-old-space-size=768', '--max-semi-space-size=32'];
