/**
 * The control API: a small HTTP server on loopback to inspect the simulator and switch faults,
 * defects and the job at run time.
 *
 *   GET  /state                      simulated time, machine state, layer, counters, active faults/defects
 *   GET  /faults   GET /defects      every known fault/defect with description, parameters and on/off
 *   POST /faults   {name, on, params}   switch a fault (one-shot faults run once)
 *   POST /defects  {name, on, params}   switch a defect
 *   POST /job      {action: "pause" | "resume" | "abort"}
 *
 * Errors are JSON {error} with 400 (bad request, naming the field) or 404.
 */
import http from 'node:http';
import type { Logger } from 'pino';
import { ConditionError } from './faults.js';

export interface ControlServer {
  port: number;
  url: string;
  close(): Promise<void>;
}

/**
 * What the control API drives: the running simulator (engine.ts), seen only through the calls it answers
 * (declared here rather than imported, so the engine that starts this API and the API do not import each other).
 */
export interface SimulatorControls {
  state(): { state: string };
  conditionList(kind: 'fault' | 'defect'): unknown;
  setCondition(kind: 'fault' | 'defect', name: string, on: boolean, params: Record<string, unknown>): unknown;
  jobControl(action: 'pause' | 'resume' | 'abort'): boolean;
}

export async function startControlApi(sim: SimulatorControls, port: number, log: Logger, host = '127.0.0.1'): Promise<ControlServer> {
  const server = http.createServer((req, res) => {
    void handle(sim, req, res).catch((err: unknown) => {
      log.error({ err }, 'control API request failed');
      send(res, 500, { error: (err as Error).message });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const actual = (server.address() as { port: number }).port;
  log.info({ url: `http://${host}:${actual}` }, 'control API listening');
  return {
    port: actual,
    url: `http://${host}:${actual}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function readJson(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > 65536) throw new ConditionError('request body larger than 64 KiB');
    chunks.push(c);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  let o: unknown;
  try {
    o = JSON.parse(text || '{}');
  } catch {
    throw new ConditionError('request body is not JSON');
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new ConditionError('request body must be a JSON object');
  return o as Record<string, unknown>;
}

async function handle(sim: SimulatorControls, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://x');
  const route = `${req.method} ${url.pathname}`;
  try {
    switch (route) {
      case 'GET /state':
        return send(res, 200, sim.state());
      case 'GET /faults':
        return send(res, 200, sim.conditionList('fault'));
      case 'GET /defects':
        return send(res, 200, sim.conditionList('defect'));
      case 'POST /faults':
      case 'POST /defects': {
        const body = await readJson(req);
        if (typeof body.name !== 'string') throw new ConditionError('field "name" must be a string');
        if (body.on !== undefined && typeof body.on !== 'boolean') throw new ConditionError('field "on" must be true or false');
        if (body.params !== undefined && (typeof body.params !== 'object' || body.params === null))
          throw new ConditionError('field "params" must be an object');
        const kind = route === 'POST /faults' ? 'fault' : 'defect';
        return send(res, 200, sim.setCondition(kind, body.name, body.on !== false, (body.params ?? {}) as Record<string, unknown>));
      }
      case 'POST /job': {
        const body = await readJson(req);
        const action = body.action;
        if (action !== 'pause' && action !== 'resume' && action !== 'abort') throw new ConditionError('field "action" must be "pause", "resume" or "abort"');
        const ok = sim.jobControl(action);
        return send(res, ok ? 200 : 409, ok ? sim.state() : { error: `cannot ${action} in state ${sim.state().state}` });
      }
      default:
        return send(res, 404, { error: `no route ${route}` });
    }
  } catch (err) {
    if (err instanceof ConditionError) return send(res, 400, { error: err.message });
    throw err;
  }
}
