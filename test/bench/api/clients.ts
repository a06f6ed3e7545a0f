/**
 * The API clients of `npm run bench:api`, in a process of their own (forked by the benchmark through
 * ../e2e/children.ts), so that their CPU is neither the gateway's nor the measuring process's, as for
 * clients on other machines (on this machine they still share its cores: the benchmark reports their
 * CPU-s beside the gateway's).
 *
 *   clients.ts <url> <certFile> <pollers> <streams> <pollIntervalMs> <statusIntervalMs>
 *   (the API token in LG_BENCH_API_TOKEN: not on the command line, where `ps` shows it)
 *
 * - <pollers> clients `GET /api/v1/status`, each on a keep-alive connection of its own; with
 *   pollIntervalMs 0 each sends its next request as soon as the previous answer is read (a closed
 *   loop: as fast as the API answers), else one every pollIntervalMs on an absolute schedule (a late
 *   answer is followed by the next request sooner). Latency: request sent -> body read and parsed.
 * - <streams> clients hold `GET /api/v1/status/stream` open (server-sent events) and time the gap
 *   between consecutive `status` events of their stream against api.statusInterval.
 * Every connection is HTTPS trusting exactly the gateway's certificate (<certFile>), with the token as
 * `Authorization: Bearer`. Once every poller has had an answer and every stream an event the process
 * says `ready` and counts from then on; on `stop` it answers `result` and exits.
 */
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { LogHistogram } from '../e2e/histogram.js';
import type { ClientsCommand, ClientsMessage, ClientsResult } from './protocol.js';

const [url, certFile, pollersArg, streamsArg, pollIntervalArg, statusIntervalArg] = process.argv.slice(2);
const token = process.env.LG_BENCH_API_TOKEN;
const send = (m: ClientsMessage): void => {
  process.send?.(m);
};

const latency = new LogHistogram();
const interval = new LogHistogram();
const jitter = new LogHistogram();
const counts = { ok: 0, pollErrors: 0, events: 0, ended: 0, sseErrors: 0 };
const errorSamples: string[] = [];
let measuring = false;
let running = true;
const noteError = (what: string, err: unknown): void => {
  if (errorSamples.length < 10) errorSamples.push(`${what}: ${err instanceof Error ? err.message : String(err)}`);
};

async function main(): Promise<void> {
  if (!url || !certFile || !token)
    throw new Error('usage: clients.ts <url> <certFile> <pollers> <streams> <pollIntervalMs> <statusIntervalMs>, token in LG_BENCH_API_TOKEN');
  const ca = readFileSync(certFile, 'utf8');
  const pollers = Number(pollersArg);
  const streams = Number(streamsArg);
  const pollIntervalMs = Number(pollIntervalArg);
  const statusIntervalMs = Number(statusIntervalArg);
  const headers = { authorization: `Bearer ${token}` };
  let firsts = 0;
  let readyResolve: () => void = () => undefined;
  const allFirst = new Promise<void>((resolve) => (readyResolve = resolve));
  const first = (): void => {
    if (++firsts === pollers + streams) readyResolve();
  };

  const get = (agent: https.Agent): Promise<number> =>
    new Promise((resolve, reject) => {
      const req = https.get(`${url}/api/v1/status`, { agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          try {
            JSON.parse(Buffer.concat(chunks).toString('utf8'));
            resolve(res.statusCode ?? 0);
          } catch (err) {
            reject(err);
          }
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.setTimeout(30_000, () => req.destroy(new Error('no answer within 30 s')));
    });

  const poller = async (): Promise<void> => {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca });
    let isFirst = true;
    let due = performance.now();
    while (running) {
      const t0 = performance.now();
      try {
        const status = await get(agent);
        if (measuring) {
          latency.record(performance.now() - t0);
          if (status === 200) counts.ok++;
          else {
            counts.pollErrors++;
            noteError('poll', `HTTP ${status}`);
          }
        }
      } catch (err) {
        if (measuring) counts.pollErrors++;
        noteError('poll', err);
        await new Promise((r) => setTimeout(r, 100));
      }
      if (isFirst) {
        isFirst = false;
        first();
      }
      if (pollIntervalMs > 0) {
        due += pollIntervalMs;
        await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
      }
    }
    agent.destroy();
  };

  const requests: ReturnType<typeof https.get>[] = [];
  const stream = (): void => {
    let isFirst = true;
    let last: number | undefined;
    const req = https.get(`${url}/api/v1/status/stream`, { agent: false, ca, headers: { ...headers, accept: 'text/event-stream' } }, (res) => {
      if (res.statusCode !== 200) {
        counts.sseErrors++;
        noteError('stream', `HTTP ${res.statusCode}`);
        res.resume();
        return;
      }
      res.setEncoding('utf8');
      let buf = '';
      res.on('data', (chunk: string) => {
        buf += chunk;
        for (let end = buf.indexOf('\n\n'); end >= 0; end = buf.indexOf('\n\n')) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const lines = block.split('\n');
          if (!lines.includes('event: status')) continue;
          const now = performance.now();
          const data = lines.find((l) => l.startsWith('data: '));
          try {
            JSON.parse(data?.slice(6) ?? '');
          } catch (err) {
            counts.sseErrors++;
            noteError('stream data', err);
          }
          if (measuring) {
            counts.events++;
            if (last !== undefined) {
              interval.record(now - last);
              jitter.record(Math.abs(now - last - statusIntervalMs));
            }
          }
          last = now;
          if (isFirst) {
            isFirst = false;
            first();
          }
        }
      });
      res.on('end', () => {
        if (running) {
          counts.ended++;
          noteError('stream', 'ended by the server');
        }
      });
    });
    req.on('error', (err) => {
      if (!running) return;
      counts.sseErrors++;
      counts.ended++;
      noteError('stream', err);
    });
    requests.push(req);
  };

  for (let i = 0; i < streams; i++) stream();
  const loops = Array.from({ length: pollers }, () => poller());
  const readyBy = setTimeout(() => send({ type: 'failed', message: `not every client had an answer within 30 s: ${errorSamples.join('; ')}` }), 30_000);
  await allFirst;
  clearTimeout(readyBy);
  measuring = true;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  send({ type: 'ready' });

  await new Promise<void>((resolve) => {
    process.on('message', (m: ClientsCommand) => {
      if (m.type === 'stop') resolve();
    });
  });
  measuring = false;
  running = false;
  const windowMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  for (const r of requests) r.destroy();
  await Promise.all(loops);
  const result: ClientsResult = {
    windowMs,
    cpuUs: cpu.user + cpu.system,
    polls: { ok: counts.ok, errors: counts.pollErrors, latency: latency.toJSON() },
    sse: { events: counts.events, ended: counts.ended, errors: counts.sseErrors, interval: interval.toJSON(), jitter: jitter.toJSON() },
    errorSamples,
  };
  send({ type: 'result', result });
  setTimeout(() => process.exit(0), 100);
}

process.on('disconnect', () => process.exit(0));
main().catch((err: unknown) => {
  send({ type: 'failed', message: (err as Error).stack ?? String(err) });
  setTimeout(() => process.exit(1), 100);
});
