/**
 * The logged-in page's live status: one status stream for the whole app (the header's machine name
 * and every page read it), and the records/s history of each input and output kept from it.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from '../api/client.js';
import { openStatusStream, type StreamState } from '../api/status-stream.js';
import type { GatewayStatus, MeAnswer } from '../api/types.js';
import { RateHistory } from '../lib/rate-history.js';

export interface LiveStatus {
  status: GatewayStatus | null;
  stream: StreamState;
  history: RateHistory;
  /** the browser's clock (Unix seconds) at the last status */
  receivedAt: number;
}

export const inputKey = (name: string): string => `input:${name}`;
export const outputKey = (name: string): string => `output:${name}`;

export function useLiveStatus(): LiveStatus {
  const history = useRef(new RateHistory()).current;
  const [live, setLive] = useState<Omit<LiveStatus, 'history'>>({ status: null, stream: 'connecting', receivedAt: 0 });
  useEffect(() => {
    const stream = openStatusStream({
      onStatus(status) {
        const at = Date.now() / 1000;
        for (const i of status.inputs) history.add(inputKey(i.name), at, i.recordsPerSecond);
        for (const o of status.outputs) history.add(outputKey(o.name), at, o.recordsPerSecond);
        setLive((l) => ({ ...l, status, receivedAt: at }));
      },
      onState(state) {
        setLive((l) => (l.stream === state ? l : { ...l, stream: state }));
      },
      // a 401 here reaches the client's session-ended handler, which leaves the page (and closes this)
      check: () => api.get<MeAnswer>('/api/v1/me').then(() => true),
    });
    return () => stream.close();
  }, [history]);
  return { ...live, history };
}
