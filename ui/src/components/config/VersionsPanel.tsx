/**
 * The configuration's history: every version with when, who and why; one version's text; a diff of
 * any two (the API's, secrets hidden); and a rollback to one, after a confirmation.
 */
import { useEffect, useState } from 'preact/hooks';
import { ApiError, api } from '../../api/client.js';
import type { ConfigApplied, ConfigDiff, ConfigVersionInfo, ConfigVersionText } from '../../api/types.js';
import * as fmt from '../../lib/format.js';
import { FormMessage } from '../FormMessage.js';
import { TableScroll } from '../TableScroll.js';
import { ConfirmDialog } from './ConfirmDialog.js';
import { DiffView } from './DiffView.js';

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export function VersionsPanel({
  versions,
  onRollingBack,
  onRolledBack,
}: {
  versions: ConfigVersionInfo[];
  onRollingBack(): void;
  onRolledBack(to: number, applied: ConfigApplied): void;
}) {
  const newest = versions[0]?.n;
  const [viewed, setViewed] = useState<ConfigVersionText | null>(null);
  const [from, setFrom] = useState(versions[1]?.n ?? newest ?? 1);
  const [to, setTo] = useState(newest ?? 1);
  const [diff, setDiff] = useState<ConfigDiff | null>(null);
  const [asked, setAsked] = useState<ConfigVersionInfo | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    setTo(versions[0]?.n ?? 1);
    setFrom(versions[1]?.n ?? versions[0]?.n ?? 1);
  }, [versions]);

  const view = async (n: number): Promise<void> => {
    setError(null);
    try {
      setViewed(await api.get<ConfigVersionText>(`/api/v1/config/versions/${n}`));
    } catch (err) {
      setError(message(err));
    }
  };
  const compare = async (): Promise<void> => {
    setError(null);
    try {
      setDiff(await api.get<ConfigDiff>(`/api/v1/config/diff?from=${from}&to=${to}`));
    } catch (err) {
      setError(message(err));
    }
  };
  const rollback = async (v: ConfigVersionInfo): Promise<void> => {
    setAsked(null);
    setBusy(true);
    setError(null);
    onRollingBack();
    try {
      const applied = await api.post<ConfigApplied>('/api/v1/config/rollback', { version: v.n, comment: `rollback to version ${v.n}` });
      onRolledBack(v.n, applied);
    } catch (err) {
      setError(err instanceof ApiError ? `Rollback refused: ${err.message}` : message(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div class="versions">
      {error && <FormMessage kind="error">{error}</FormMessage>}
      <TableScroll label="Configuration versions">
        <table class="versions-table">
          <caption class="visually-hidden">Configuration versions, newest first</caption>
          <thead>
            <tr>
              <th scope="col" class="num">
                Version
              </th>
              <th scope="col">When</th>
              <th scope="col">Author</th>
              <th scope="col">Comment</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {versions.map((v) => (
              <tr key={v.n} data-version={v.n}>
                <th scope="row" class="num">
                  {v.n}
                  {v.n === newest && <span class="badge-inline"> in force</span>}
                </th>
                <td>{fmt.time(v.at)}</td>
                <td>{v.author}</td>
                <td>{v.comment || <span class="field-note">—</span>}</td>
                <td class="row-actions">
                  <button type="button" class="button button-quiet" onClick={() => void view(v.n)}>
                    View version {v.n}
                  </button>
                  {v.n !== newest && (
                    <button type="button" class="button" disabled={busy} onClick={() => setAsked(v)}>
                      Roll back to version {v.n}
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableScroll>

      <div class="compare">
        <h3>Compare two versions</h3>
        <div class="compare-row">
          <div class="field">
            <label for="compare-from">From version</label>
            <select id="compare-from" value={String(from)} onChange={(e) => setFrom(Number(e.currentTarget.value))}>
              {versions.map((v) => (
                <option key={v.n} value={String(v.n)}>
                  {v.n}
                </option>
              ))}
            </select>
          </div>
          <div class="field">
            <label for="compare-to">To version</label>
            <select id="compare-to" value={String(to)} onChange={(e) => setTo(Number(e.currentTarget.value))}>
              {versions.map((v) => (
                <option key={v.n} value={String(v.n)}>
                  {v.n}
                </option>
              ))}
            </select>
          </div>
          <button type="button" class="button" onClick={() => void compare()}>
            Show diff
          </button>
        </div>
        {diff && <DiffView diff={diff.diff} label={`Diff from version ${diff.from} to version ${diff.to}`} />}
      </div>

      {viewed && (
        <div class="version-text">
          <h3>Version {viewed.version.n}</h3>
          <p class="field-note">
            {fmt.time(viewed.version.at)} by {viewed.version.author}
            {viewed.version.comment ? `: ${viewed.version.comment}` : ''} ({viewed.version.origin}). Secrets written in plain text are hidden.
          </p>
          {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling region must be reachable by keyboard */}
          <section class="code-block" tabIndex={0} aria-label={`Text of version ${viewed.version.n}`}>
            <pre>{viewed.text}</pre>
          </section>
        </div>
      )}

      {asked && (
        <ConfirmDialog
          title={`Roll back to version ${asked.n}?`}
          confirmLabel={`Roll back to version ${asked.n}`}
          onConfirm={() => void rollback(asked)}
          onCancel={() => setAsked(null)}
        >
          <p>
            The text of version {asked.n} ({fmt.time(asked.at)}, by {asked.author}) is applied to the running gateway now: the inputs and outputs it changes
            restart. It becomes a new version.
          </p>
        </ConfirmDialog>
      )}
    </div>
  );
}
