/**
 * The live status: an EventSource on /api/v1/status/stream (one `status` event per
 * api.statusInterval), reconnecting with backoff.
 *
 * Reconnects are ours, not the browser's: EventSource retries a dropped stream by itself but cannot
 * tell why it dropped (the API ends the stream of a session that ended, and answers the retry 401,
 * which EventSource does not expose). So on any error the stream is closed and, after a growing
 * delay, `check()` runs first (the app asks GET /api/v1/me: a 401 there ends the session at once and
 * closes this), then a new stream is opened.
 */
import { ApiError } from './client.js';
import type { GatewayStatus } from './types.js';

export type StreamState = 'connecting' | 'live' | 'reconnecting';

export interface StatusStreamOptions {
  onStatus(status: GatewayStatus): void;
  onState(state: StreamState): void;
  /** before each reconnect: resolve false, or reject with a 401 ApiError, to stop reconnecting */
  check(): Promise<boolean>;
  url?: string;
}

const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 15_000;

export function openStatusStream(opts: StatusStreamOptions): { close(): void } {
  const url = opts.url ?? '/api/v1/status/stream';
  let source: EventSource | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let delay = FIRST_DELAY_MS;
  let closed = false;

  const open = (): void => {
    if (closed) return;
    opts.onState('connecting');
    const es = new EventSource(url, { withCredentials: true });
    source = es;
    es.addEventListener('status', (ev) => {
      delay = FIRST_DELAY_MS;
      opts.onState('live');
      opts.onStatus(JSON.parse((ev as MessageEvent<string>).data) as GatewayStatus);
    });
    es.onerror = () => {
      if (closed) return;
      opts.onState('reconnecting');
      es.close();
      timer = setTimeout(() => {
        void opts.check().then(
          (go) => {
            if (go) open();
          },
          // the session ended (the app leaves the page); anything else (the gateway restarting): try again
          (err: unknown) => {
            if (!(err instanceof ApiError && err.status === 401)) open();
          },
        );
      }, delay);
      delay = Math.min(delay * 2, MAX_DELAY_MS);
    };
  };

  open();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      source?.close();
    },
  };
}
