/**
 * The configuration page (admins): the running configuration edited through forms generated from
 * the JSON Schema or as YAML (one document, kept in step), validated by the gateway's loader (its
 * problems next to the fields they name), compared with the running version, applied live with a
 * comment; and the history of versions with a diff of any two and a rollback.
 *
 * The text edited starts from the newest version in the history (GET /config/versions/:n), which is
 * the one in force: it keeps the file's comments and its `${VAR}` references, so secrets given
 * through the environment stay references. GET /config's YAML (defaults applied, secrets replaced by
 * `<redacted>`) is only the fallback when there is no history; a candidate that still holds
 * `<redacted>` is not applied, as it would become the secret.
 */
import { createTwoFilesPatch } from 'diff';
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { Document } from 'yaml';
import { ApiError, api } from '../api/client.js';
import type { ConfigApplied, ConfigValidation, ConfigVersionInfo, ConfigVersionText, RunningConfig } from '../api/types.js';
import { roleAllows, useSession } from '../app/session.js';
import { Card } from '../components/Card.js';
import { AppliedSummary } from '../components/config/AppliedSummary.js';
import { DiffView } from '../components/config/DiffView.js';
import { type FormContext, Group, hasProblemsUnder, ObjectFields, SchemaField } from '../components/config/SchemaField.js';
import { VersionsPanel } from '../components/config/VersionsPanel.js';
import { YamlEditor } from '../components/config/YamlEditor.js';
import { FormMessage } from '../components/FormMessage.js';
import { type Problem, parseProblem, problemsByPath } from '../lib/config/problems.js';
import { fieldId, isRecord, pathOf, type SchemaNode } from '../lib/config/schema.js';
import { appendAt, dataOf, parseText, redactedPaths, setAt } from '../lib/config/yaml-doc.js';

type Tab = 'form' | 'yaml' | 'review' | 'versions';
const TABS: { id: Tab; title: string }[] = [
  { id: 'form', title: 'Form' },
  { id: 'yaml', title: 'YAML' },
  { id: 'review', title: 'Review and apply' },
  { id: 'versions', title: 'Versions' },
];

/** the sections hot reload applies, shown first; the rest need a restart */
const LIVE_KEYS = ['inputs', 'outputs', 'classification', 'routing'] as const;
const LIVE_TITLES: Record<(typeof LIVE_KEYS)[number], string> = { inputs: 'Inputs', outputs: 'Outputs', classification: 'Classification', routing: 'Routing' };

interface Base {
  text: string;
  /** the version the text is, or null when it is GET /config's redacted dump */
  version: number | null;
  origin: string;
}

interface Checked {
  forText: string;
  ok: boolean;
  problems: Problem[];
  warnings: string[];
}

/** the form's text ends in a newline and a file may not: that is no change worth a diff line */
const withNewline = (t: string): string => (t.endsWith('\n') ? t : `${t}\n`);

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** the problem lines inside a 422's message (`(text): invalid configuration\n  path: ...`) */
function linesOfRefusal(msg: string): Problem[] {
  return msg
    .split('\n')
    .slice(1)
    .filter((l) => l.startsWith('  '))
    .map((l) => parseProblem(l.trim()));
}

async function loadBase(): Promise<{ base: Base; versions: ConfigVersionInfo[] }> {
  const versions = await api.get<ConfigVersionInfo[]>('/api/v1/config/versions');
  const newest = versions[0];
  if (newest) {
    const v = await api.get<ConfigVersionText>(`/api/v1/config/versions/${newest.n}`);
    return { base: { text: v.text, version: newest.n, origin: newest.origin }, versions };
  }
  const running = await api.get<RunningConfig>('/api/v1/config');
  return { base: { text: running.yaml, version: null, origin: running.origin }, versions };
}

function Tabs({ tab, onTab }: { tab: Tab; onTab(t: Tab): void }) {
  const refs = useRef<(HTMLButtonElement | null)[]>([]);
  const move = (i: number): void => {
    const n = (i + TABS.length) % TABS.length;
    const t = TABS[n];
    if (!t) return;
    onTab(t.id);
    refs.current[n]?.focus();
  };
  return (
    <div class="tabs" role="tablist" aria-label="Configuration views">
      {TABS.map((t, i) => (
        <button
          key={t.id}
          ref={(el) => {
            refs.current[i] = el;
          }}
          type="button"
          role="tab"
          id={`config-tab-${t.id}`}
          aria-selected={tab === t.id}
          aria-controls={`config-panel-${t.id}`}
          tabIndex={tab === t.id ? 0 : -1}
          class="tab"
          onClick={() => onTab(t.id)}
          onKeyDown={(e) => {
            if (e.key === 'ArrowRight') move(i + 1);
            else if (e.key === 'ArrowLeft') move(i - 1);
            else if (e.key === 'Home') move(0);
            else if (e.key === 'End') move(TABS.length - 1);
          }}
        >
          {t.title}
        </button>
      ))}
    </div>
  );
}

interface Outcome {
  /** set for a rollback: the version whose text was applied */
  rolledBackTo: number | null;
  applied: ConfigApplied;
}

function Editor({
  schema,
  base,
  versions,
  reload,
  tab,
  setTab,
  onOutcome,
}: {
  schema: SchemaNode;
  base: Base;
  versions: ConfigVersionInfo[];
  reload(): Promise<void>;
  tab: Tab;
  setTab(t: Tab): void;
  onOutcome(o: Outcome | null): void;
}) {
  const [text, setText] = useState(base.text);
  const doc = useRef<Document | null>(parseText(base.text).doc);
  const [parseError, setParseError] = useState<string | null>(() => parseText(base.text).error);
  const [checked, setChecked] = useState<Checked | null>(null);
  const [checking, setChecking] = useState(false);
  const [comment, setComment] = useState('');
  const [applying, setApplying] = useState(false);
  const [refusal, setRefusal] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  const data = useMemo(() => (doc.current && !parseError ? dataOf(doc.current) : {}), [text, parseError]);
  const problems = checked?.problems ?? [];
  const byPath = useMemo(() => problemsByPath(problems), [problems]);
  const stale = checked !== null && checked.forText !== text;
  const redacted = useMemo(() => (doc.current && !parseError ? redactedPaths(doc.current) : []), [text, parseError]);
  const diff = useMemo(
    () =>
      createTwoFilesPatch(
        base.version ? `version ${base.version} (running)` : 'running',
        'candidate',
        withNewline(base.text),
        withNewline(text),
        undefined,
        undefined,
        { context: 3 },
      ),
    [base, text],
  );
  const changed = text !== base.text;

  const fromDoc = (): void => {
    if (doc.current) setText(doc.current.toString());
  };
  const ctx: FormContext = {
    edit(path, value) {
      if (!doc.current) return;
      setAt(doc.current, path, value);
      fromDoc();
    },
    append(path, item) {
      if (!doc.current) return;
      appendAt(doc.current, path, item);
      fromDoc();
    },
    problems: byPath,
  };
  const typed = (t: string): void => {
    setText(t);
    const parsed = parseText(t);
    setParseError(parsed.error);
    if (parsed.doc) doc.current = parsed.doc;
  };

  const validate = useCallback(async (): Promise<Checked | null> => {
    setChecking(true);
    setError(null);
    try {
      const v = await api.post<ConfigValidation>('/api/v1/config/validate', { yaml: text });
      const c = { forText: text, ok: v.ok, problems: v.problems.map(parseProblem), warnings: v.warnings };
      setChecked(c);
      return c;
    } catch (err) {
      setError(message(err));
      return null;
    } finally {
      setChecking(false);
    }
  }, [text]);

  const apply = async (): Promise<void> => {
    onOutcome(null);
    setRefusal(null);
    const c = await validate();
    if (!c) return;
    if (!c.ok) {
      setRefusal('The candidate does not load; nothing was applied. Fix the problems listed above.');
      return;
    }
    setApplying(true);
    try {
      const answer = await api.post<ConfigApplied>('/api/v1/config/apply', { yaml: text, comment });
      onOutcome({ rolledBackTo: null, applied: answer });
      setComment('');
      await reload();
    } catch (err) {
      if (err instanceof ApiError && err.status === 422) {
        setRefusal(err.message);
        const lines = linesOfRefusal(err.message);
        if (lines.length > 0) setChecked({ forText: text, ok: false, problems: lines, warnings: [] });
      } else setRefusal(message(err));
    } finally {
      setApplying(false);
    }
  };

  const showProblem = (p: Problem): void => {
    if (p.path === null) {
      setTab('yaml');
      return;
    }
    setTab('form');
    requestAnimationFrame(() => {
      // the field, else the nearest enclosing group that is on the page
      let path = pathOf(p.path ?? '');
      while (path.length > 0) {
        const el = document.getElementById(fieldId(path)) ?? document.getElementById(`${fieldId(path)}-box`);
        if (el) {
          for (let d = el.closest('details'); d; d = d.parentElement?.closest('details') ?? null) d.open = true;
          el.focus();
          el.scrollIntoView({ block: 'center' });
          return;
        }
        path = path.slice(0, -1);
      }
    });
  };

  const properties = schema.properties ?? {};
  const others = Object.keys(properties).filter((k) => !(LIVE_KEYS as readonly string[]).includes(k));

  return (
    <>
      <div class="config-toolbar">
        <button type="button" class="button" disabled={checking || parseError !== null} onClick={() => void validate()}>
          {checking ? 'Validating…' : 'Validate'}
        </button>
        <button type="button" class="button" disabled={!changed} onClick={() => typed(base.text)}>
          Discard changes
        </button>
        <span class="config-state" role="status">
          {parseError
            ? 'The YAML does not parse'
            : checked === null
              ? changed
                ? 'Changed, not validated yet'
                : 'No changes'
              : stale
                ? 'Changed since the last validation'
                : checked.ok
                  ? 'Valid'
                  : `${checked.problems.length} problem${checked.problems.length === 1 ? '' : 's'}`}
        </span>
      </div>
      {error && <FormMessage kind="error">{error}</FormMessage>}
      {problems.length > 0 && (
        <section class="config-problems" aria-labelledby="config-problems-title">
          <h2 id="config-problems-title">Problems the gateway found{stale ? ' (in an earlier text)' : ''}</h2>
          <ul>
            {problems.map((p) => (
              <li key={p.line} data-problem={p.path ?? ''}>
                <span class="problem-line">{p.line}</span>{' '}
                <button type="button" class="button button-quiet" onClick={() => showProblem(p)}>
                  Show {p.path ?? 'in YAML'}
                </button>
              </li>
            ))}
          </ul>
        </section>
      )}
      {checked && checked.warnings.length > 0 && !stale && (
        <ul class="config-warnings" aria-label="Warnings">
          {checked.warnings.map((w) => (
            <li key={w}>{w}</li>
          ))}
        </ul>
      )}

      <Tabs tab={tab} onTab={setTab} />

      <div id="config-panel-form" role="tabpanel" aria-labelledby="config-tab-form" hidden={tab !== 'form'} class="config-panel">
        {parseError ? (
          <FormMessage kind="error">The YAML has a syntax error ({parseError}): fix it in the YAML view to use the form.</FormMessage>
        ) : (
          <div class="config-form" key={`${base.version}-${base.text.length}`}>
            {LIVE_KEYS.map((k) => {
              const node = properties[k];
              if (!node) return null;
              return (
                <Card key={k} id={`config-${k}`} title={LIVE_TITLES[k]} wide>
                  {node.description && <p class="field-help">{node.description}</p>}
                  {node.properties ? (
                    <ObjectFields node={node} path={[k]} value={data[k]} ctx={ctx} />
                  ) : (
                    <SchemaField node={node} path={[k]} value={data[k]} label={k} ctx={ctx} />
                  )}
                </Card>
              );
            })}
            <Card id="config-other" title="Other settings (restart needed)" wide>
              <p class="field-help">
                Hot reload applies inputs, outputs, classification and routing. A change here is refused by apply: edit the file and restart the gateway.
              </p>
              {others.map((k) => {
                const node = properties[k];
                if (!node) return null;
                return (
                  <Group key={k} id={`${fieldId([k])}-box`} title={k} summary={node.description} open={hasProblemsUnder(ctx, [k])}>
                    <ObjectFields node={node} path={[k]} value={isRecord(data[k]) ? data[k] : undefined} ctx={ctx} />
                  </Group>
                );
              })}
            </Card>
          </div>
        )}
      </div>

      <div id="config-panel-yaml" role="tabpanel" aria-labelledby="config-tab-yaml" hidden={tab !== 'yaml'} class="config-panel">
        <label for="config-yaml" class="yaml-label">
          Configuration (YAML)
        </label>
        <p id="config-yaml-help" class="field-help">
          The same document as the form: edits here show there and back. Comments are kept where the form does not replace their node.
        </p>
        {parseError && (
          <p class="field-problem" id="config-yaml-error" role="alert">
            {parseError}
          </p>
        )}
        <YamlEditor id="config-yaml" text={text} onText={typed} describedBy={parseError ? 'config-yaml-help config-yaml-error' : 'config-yaml-help'} />
      </div>

      <div id="config-panel-review" role="tabpanel" aria-labelledby="config-tab-review" hidden={tab !== 'review'} class="config-panel">
        <h2>Changes against the running configuration</h2>
        <DiffView diff={diff} label="Diff of the candidate against the running configuration" />
        {redacted.length > 0 && (
          <FormMessage kind="error">
            {redacted.join(', ')}: the value is the placeholder {'<redacted>'}, which would become the secret. Type the secret again or, better, a {'${VAR}'}{' '}
            reference.
          </FormMessage>
        )}
        <div class="field">
          <label for="config-comment">Comment (kept with the version)</label>
          <input id="config-comment" type="text" maxLength={500} value={comment} onInput={(e) => setComment(e.currentTarget.value)} />
        </div>
        <button
          type="button"
          class="button button-primary"
          disabled={!changed || applying || parseError !== null || redacted.length > 0}
          onClick={() => void apply()}
        >
          {applying ? 'Applying…' : 'Apply to the running gateway'}
        </button>
        {refusal && <FormMessage kind="error">{refusal}</FormMessage>}
      </div>

      <div id="config-panel-versions" role="tabpanel" aria-labelledby="config-tab-versions" hidden={tab !== 'versions'} class="config-panel">
        <VersionsPanel
          versions={versions}
          onRollingBack={() => onOutcome(null)}
          onRolledBack={(to, applied) => {
            onOutcome({ rolledBackTo: to, applied });
            void reload();
          }}
        />
      </div>
    </>
  );
}

export function ConfigPage() {
  const session = useSession();
  const admin = roleAllows(session.role, 'admin');
  const [schema, setSchema] = useState<SchemaNode | null>(null);
  const [loaded, setLoaded] = useState<{ base: Base; versions: ConfigVersionInfo[] } | null>(null);
  const [error, setError] = useState<string | null>(null);
  // kept here, not in the editor: a new version remounts the editor on its text
  const [tab, setTab] = useState<Tab>('form');
  const [outcome, setOutcome] = useState<Outcome | null>(null);

  const reload = useCallback(async (): Promise<void> => {
    try {
      setLoaded(await loadBase());
    } catch (err) {
      setError(message(err));
    }
  }, []);

  useEffect(() => {
    if (!admin) return;
    api.get<SchemaNode>('/api/v1/config/schema').then(setSchema, (err: unknown) => setError(message(err)));
    void reload();
  }, [admin, reload]);

  return (
    <div class="page config-page">
      <h1>Configuration</h1>
      {!admin ? (
        <FormMessage kind="notice">Only admins see and change the configuration. Your role is {session.role}.</FormMessage>
      ) : (
        <>
          <p class="page-intro">
            Edit the running configuration in the form or as YAML, validate it, review the changes and apply them: only the inputs and outputs that change
            restart. Secrets stay <code>{'${VAR}'}</code> references to the gateway's environment; a secret field left empty keeps its reference.
          </p>
          {error && <FormMessage kind="error">{error}</FormMessage>}
          {loaded && loaded.base.version === null && (
            <FormMessage kind="notice">
              The history holds no version, so the text below is the running configuration with its defaults filled in and secrets hidden: retype any secret
              before applying.
            </FormMessage>
          )}
          {outcome && (
            <div class="config-result" role="status">
              <p>
                {outcome.rolledBackTo !== null ? `Rolled back to the text of version ${outcome.rolledBackTo}` : 'Applied'}
                {outcome.applied.version !== null ? `: version ${outcome.applied.version} is in force` : ''}.
              </p>
              <AppliedSummary applied={outcome.applied} />
            </div>
          )}
          {schema && loaded ? (
            <Editor
              tab={tab}
              setTab={setTab}
              onOutcome={setOutcome}
              key={`${loaded.base.version}-${loaded.base.text}`}
              schema={schema}
              base={loaded.base}
              versions={loaded.versions}
              reload={reload}
            />
          ) : (
            !error && <p role="status">Loading the configuration…</p>
          )}
        </>
      )}
    </div>
  );
}
