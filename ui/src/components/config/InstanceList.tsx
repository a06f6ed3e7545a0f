/**
 * Inputs or outputs: a map of instance name -> { type, ...settings }. Each instance's form comes from
 * its plugin's entry in the schema (the `oneOf` branch whose `type` is that plugin); a new one is
 * added by name and plugin type, and starts as `{ type }` (validate then names what it still needs).
 */
import { useState } from 'preact/hooks';
import { fieldId, isRecord, type Path, pluginEntries, type SchemaNode } from '../../lib/config/schema.js';
import { type FormContext, Group, hasProblemsUnder, ObjectFields } from './SchemaField.js';

const NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

export function InstanceList({ node, path, value, label, ctx }: { node: SchemaNode; path: Path; value: unknown; label: string; ctx: FormContext }) {
  const entries = pluginEntries(node);
  const instances = isRecord(value) ? Object.entries(value) : [];
  const [added, setAdded] = useState<string[]>([]);
  const [name, setName] = useState('');
  const [type, setType] = useState(entries[0]?.type ?? '');
  const id = fieldId(path);
  const singular = label.replace(/s$/, '');
  const trimmed = name.trim();
  const nameProblem =
    trimmed === ''
      ? null
      : !NAME.test(trimmed)
        ? 'letters, digits, _ and - only, starting with a letter or digit'
        : instances.some(([k]) => k === trimmed)
          ? `there is a ${singular} ${trimmed} already`
          : null;
  return (
    <div class="instances" id={id}>
      {instances.length === 0 && <p class="field-note">No {label} configured.</p>}
      {instances.map(([k, v]) => {
        const t = isRecord(v) && typeof v.type === 'string' ? v.type : '';
        const entry = entries.find((e) => e.type === t);
        const p = [...path, k];
        return (
          <Group
            key={k}
            id={`${fieldId(p)}-box`}
            title={k}
            summary={t || 'no type'}
            open={added.includes(k) || hasProblemsUnder(ctx, p)}
            actions={
              <button type="button" class="button button-quiet" onClick={() => ctx.edit(p, undefined)}>
                Remove {singular} {k}
              </button>
            }
          >
            <p class="field">
              <span class="field-name">type</span>: <code>{t || '—'}</code>
              {entry?.node.properties?.type?.description && <span class="field-help"> ({entry.node.properties.type.description})</span>}
            </p>
            {entry ? (
              <ObjectFields node={entry.node} path={p} value={v} ctx={ctx} skip={['type']} />
            ) : (
              <p class="field-problem">
                {t ? `No plugin of type ${t} is known to this gateway.` : 'This entry names no type.'} Edit it in the YAML view, or remove it.
              </p>
            )}
          </Group>
        );
      })}
      <fieldset class="inline-add">
        <legend>Add {singular === label ? `${label} entry` : `an ${singular}`}</legend>
        <div class="field">
          <label for={`${id}-new-name`}>Name</label>
          <input
            id={`${id}-new-name`}
            type="text"
            autoComplete="off"
            spellcheck={false}
            value={name}
            onInput={(e) => setName(e.currentTarget.value)}
            aria-invalid={nameProblem ? 'true' : undefined}
            aria-describedby={nameProblem ? `${id}-new-name-problem` : undefined}
          />
          {nameProblem && (
            <p class="field-problem" id={`${id}-new-name-problem`}>
              {nameProblem}
            </p>
          )}
        </div>
        <div class="field">
          <label for={`${id}-new-type`}>Plugin type</label>
          <select id={`${id}-new-type`} value={type} onChange={(e) => setType(e.currentTarget.value)}>
            {entries.map((e) => (
              <option key={e.type} value={e.type}>
                {e.type}
              </option>
            ))}
          </select>
        </div>
        <button
          type="button"
          class="button"
          disabled={trimmed === '' || nameProblem !== null || type === ''}
          onClick={() => {
            ctx.edit([...path, trimmed], { type });
            setAdded([...added, trimmed]);
            setName('');
          }}
        >
          Add {singular}
        </button>
      </fieldset>
    </div>
  );
}
