/**
 * What the operations pages share: DELETE and PATCH through the shared client (dropping a removed
 * output's sink, deleting a user, revoking a token, resetting a password), an error as the page says
 * it, and a small hook that loads one answer and can load it again.
 */
import { useCallback, useEffect, useState } from 'preact/hooks';
import { ApiError, api } from '../../api/client.js';

export const apiDelete = <T>(path: string): Promise<T> => api.delete<T>(path);
export const apiPatch = <T>(path: string, body: unknown): Promise<T> => api.patch<T>(path, body);

/** an error as the page says it: the API's own words */
export function messageOf(err: unknown): string {
  return err instanceof ApiError || err instanceof Error ? err.message : String(err);
}

export interface Loaded<T> {
  data: T | null;
  error: string | null;
  loading: boolean;
  reload(): void;
}

/** GET `path` when it changes (null: nothing to load); `reload()` asks again, keeping the old answer shown meanwhile */
export function useApiGet<T>(path: string | null): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(path !== null);
  const [round, setRound] = useState(0);
  useEffect(() => {
    if (path === null) return;
    let current = true;
    setLoading(true);
    api.get<T>(path).then(
      (answer) => {
        if (!current) return;
        setData(answer);
        setError(null);
        setLoading(false);
      },
      (err: unknown) => {
        if (!current) return;
        setError(messageOf(err));
        setLoading(false);
      },
    );
    return () => {
      current = false;
    };
  }, [path, round]);
  const reload = useCallback(() => setRound((r) => r + 1), []);
  return { data, error, loading, reload };
}
