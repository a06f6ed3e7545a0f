/**
 * A form generated from the configuration's JSON Schema: one component per node, chosen by what
 * the node is (ui/src/lib/config/schema.ts `kindOf`), editing the document through `ctx.edit`.
 *
 * Our own, some three hundred lines, rather than a schema-form library: the maintained ones
 * (react-jsonschema-form, JSON Forms, uniforms) are React libraries of 100-300 KiB with an AJV
 * validator of their own, which would double the bundle, need preact/compat, and validate again what
 * the gateway's loader already checks (its problem lines are the ones shown). The schema this renders
 * is ours and small in vocabulary (no $ref, no conditionals), so the renderer is too.
 *
 * Each field: a label (the key, as written in the file), the description, unit help and default as
 * help text (aria-describedby), and the loader's problems for that path next to it (aria-invalid).
 * Unset keys show empty: the gateway's default applies, and nothing is written for them.
 */
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import {
  branchLabel,
  branchOf,
  enumValues,
  fieldId,
  helpOf,
  isRecord,
  kindOf,
  type Path,
  pathText,
  type SchemaNode,
  unitValue,
} from '../../lib/config/schema.js';
import { isReference, REDACTED } from '../../lib/config/yaml-doc.js';
import { InstanceList } from './InstanceList.js';
import { useDraft } from './use-draft.js';

export interface FormContext {
  /** set a path (undefined: remove the key) */
  edit(path: Path, value: unknown): void;
  /** append an item to the list at a path */
  append(path: Path, item: unknown): void;
  /** the loader's problems by path text */
  problems: Map<string, string[]>;
}

export interface FieldProps {
  node: SchemaNode;
  path: Path;
  value: unknown;
  label: string;
  required?: boolean;
  ctx: FormContext;
}

function Help({ id, node, path, ctx, extra }: { id: string; node: SchemaNode; path: Path; ctx: FormContext; extra?: string }) {
  const help = [helpOf(node), extra].filter(Boolean).join(' ');
  const problems = ctx.problems.get(pathText(path)) ?? [];
  return (
    <>
      {help && (
        <p class="field-help" id={`${id}-help`}>
          {help}
        </p>
      )}
      {problems.map((p, i) => (
        <p class="field-problem" id={i === 0 ? `${id}-problem` : undefined} key={p}>
          {p}
        </p>
      ))}
    </>
  );
}

function described(id: string, node: SchemaNode, path: Path, ctx: FormContext, extra?: string) {
  const ids = [];
  if (helpOf(node) || extra) ids.push(`${id}-help`);
  const invalid = ctx.problems.has(pathText(path));
  if (invalid) ids.push(`${id}-problem`);
  return { 'aria-describedby': ids.length > 0 ? ids.join(' ') : undefined, 'aria-invalid': invalid ? ('true' as const) : undefined };
}

function LabelText({ label, required }: { label: string; required?: boolean | undefined }) {
  return (
    <>
      <span class="field-name">{label}</span>
      {required && <span class="field-required"> (required)</span>}
    </>
  );
}

const asText = (v: unknown): string => (v === undefined || v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v));

function TextField({ node, path, value, label, required, ctx, unit }: FieldProps & { unit?: boolean }) {
  const id = fieldId(path);
  const numeric = kindOf(node) === 'number';
  const draft = useDraft(asText(value));
  return (
    <div class="field">
      <label for={id}>
        <LabelText label={label} required={required} />
      </label>
      <input
        id={id}
        type="text"
        inputMode={numeric ? 'decimal' : undefined}
        spellcheck={false}
        autoComplete="off"
        value={draft.value}
        placeholder={node.default !== undefined && !isRecord(node.default) ? String(node.default) : ''}
        onInput={draft.onInput}
        onChange={draft.commit((text) => ctx.edit(path, unit || numeric ? unitValue(text) : text === '' ? undefined : text))}
        {...described(id, node, path, ctx)}
      />
      <Help id={id} node={node} path={path} ctx={ctx} />
    </div>
  );
}

/**
 * A secret: a password field that is empty while the value is a `${VAR}` reference (or hidden), so
 * the reference is kept unless something is typed; emptying it again puts the reference back.
 */
function SecretField({ node, path, value, label, required, ctx }: FieldProps) {
  const id = fieldId(path);
  const [kept] = useState(() => value);
  const typed = value !== kept && typeof value === 'string' ? value : '';
  const draft = useDraft(typed);
  const note = isReference(kept)
    ? `Kept as the reference ${kept}: the secret stays in the gateway's environment unless you type a new one here.`
    : kept === REDACTED
      ? 'The stored value is hidden and cannot be sent back: type it again, or better, a ${VAR} reference to the environment.'
      : 'Prefer a ${VAR} reference to the gateway environment over a value written into the file.';
  return (
    <div class="field">
      <label for={id}>
        <LabelText label={label} required={required} />
      </label>
      <input
        id={id}
        type="password"
        autoComplete="new-password"
        value={draft.value}
        placeholder={isReference(kept) ? `keep ${kept}` : ''}
        onInput={draft.onInput}
        onChange={draft.commit((text) => ctx.edit(path, text === '' ? kept : text))}
        {...described(id, node, path, ctx, note)}
      />
      <Help id={id} node={node} path={path} ctx={ctx} extra={note} />
    </div>
  );
}

function SelectField({ node, path, value, label, required, ctx, options }: FieldProps & { options: unknown[] }) {
  const id = fieldId(path);
  const index = options.indexOf(value);
  const unsetLabel = node.default !== undefined ? `default (${String(node.default)})` : 'not set';
  return (
    <div class="field">
      <label for={id}>
        <LabelText label={label} required={required} />
      </label>
      <select
        id={id}
        value={index >= 0 ? String(index) : value === undefined ? '' : 'other'}
        onChange={(e) => {
          const v = e.currentTarget.value;
          ctx.edit(path, v === '' ? undefined : options[Number(v)]);
        }}
        {...described(id, node, path, ctx)}
      >
        <option value="">{unsetLabel}</option>
        {index < 0 && value !== undefined && <option value="other">{asText(value)} (not allowed)</option>}
        {options.map((o, i) => (
          <option key={String(o)} value={String(i)}>
            {String(o)}
          </option>
        ))}
      </select>
      <Help id={id} node={node} path={path} ctx={ctx} />
    </div>
  );
}

function EnumListField({ node, path, value, label, required, ctx }: FieldProps) {
  const id = fieldId(path);
  const options = enumValues(node);
  const chosen = Array.isArray(value) ? value : [];
  return (
    <fieldset class="field field-group" id={id} {...described(id, node, path, ctx)}>
      <legend>
        <LabelText label={label} required={required} />
      </legend>
      <div class="check-row">
        {options.map((o) => (
          <label key={String(o)} class="check">
            <input
              type="checkbox"
              checked={chosen.includes(o)}
              onChange={(e) => {
                const next = e.currentTarget.checked ? [...chosen, o] : chosen.filter((c) => c !== o);
                ctx.edit(path, next.length > 0 ? options.filter((x) => next.includes(x)) : undefined);
              }}
            />
            {String(o)}
          </label>
        ))}
      </div>
      <Help id={id} node={node} path={path} ctx={ctx} />
    </fieldset>
  );
}

function TextListField({ node, path, value, label, required, ctx }: FieldProps) {
  const id = fieldId(path);
  const items = Array.isArray(value) ? value.map(asText) : [];
  const itemKind = node.items ? kindOf(node.items) : 'string';
  const draft = useDraft(items.join('\n'));
  return (
    <div class="field">
      <label for={id}>
        <LabelText label={label} required={required} /> <span class="field-note">(one per line)</span>
      </label>
      <textarea
        id={id}
        rows={Math.max(2, items.length + 1)}
        spellcheck={false}
        value={draft.value}
        onInput={draft.onInput}
        onChange={draft.commit((text) => {
          const lines = text
            .split('\n')
            .map((l) => l.trim())
            .filter((l) => l !== '');
          ctx.edit(path, lines.length === 0 ? undefined : lines.map((l) => (itemKind === 'string' ? l : unitValue(l))));
        })}
        {...described(id, node, path, ctx)}
      />
      <Help id={id} node={node} path={path} ctx={ctx} />
    </div>
  );
}

function BooleanField(props: FieldProps) {
  return <SelectField {...props} options={[true, false]} />;
}

/** a group of fields in a collapsible box, open when something in it is set or wrong */
export function Group({
  id,
  title,
  summary,
  open,
  children,
  actions,
}: {
  id: string;
  title: ComponentChildren;
  summary?: ComponentChildren;
  open: boolean;
  children: ComponentChildren;
  actions?: ComponentChildren;
}) {
  return (
    <details class="field-box" id={id} open={open}>
      <summary>
        <span class="field-box-title">{title}</span>
        {summary && <span class="field-box-summary"> {summary}</span>}
      </summary>
      <div class="field-box-body">
        {actions && <div class="field-box-actions">{actions}</div>}
        {children}
      </div>
    </details>
  );
}

/** is anything under this path set wrong (a problem to show)? */
export function hasProblemsUnder(ctx: FormContext, path: Path): boolean {
  const p = pathText(path);
  for (const k of ctx.problems.keys()) if (k === p || k.startsWith(`${p}.`) || k.startsWith(`${p}[`)) return true;
  return false;
}

/** the properties of an object node, each as its field */
export function ObjectFields({ node, path, value, ctx, skip = [] }: { node: SchemaNode; path: Path; value: unknown; ctx: FormContext; skip?: string[] }) {
  const data = isRecord(value) ? value : {};
  const required = new Set(node.required ?? []);
  return (
    <>
      {Object.entries(node.properties ?? {})
        .filter(([k]) => !skip.includes(k))
        .map(([k, child]) => (
          <SchemaField key={k} node={child} path={[...path, k]} value={data[k]} label={k} required={required.has(k)} ctx={ctx} />
        ))}
    </>
  );
}

function ObjectListField({ node, path, value, label, ctx }: FieldProps) {
  const items = Array.isArray(value) ? value : [];
  const item = node.items ?? {};
  const singular = label.endsWith('s') ? label.slice(0, -1) : label;
  return (
    <fieldset class="field field-group" id={fieldId(path)}>
      <legend>
        <LabelText label={label} />
      </legend>
      <Help id={fieldId(path)} node={node} path={path} ctx={ctx} />
      {items.map((it, i) => {
        const name = isRecord(it) && typeof it.name === 'string' && it.name !== '' ? it.name : `${singular} ${i + 1}`;
        return (
          <Group
            key={i}
            id={`${fieldId([...path, i])}-box`}
            title={name}
            open={hasProblemsUnder(ctx, [...path, i]) || !isRecord(it) || Object.keys(it).length === 0}
            actions={
              <button type="button" class="button button-quiet" onClick={() => ctx.edit([...path, i], undefined)}>
                Remove {singular} {name}
              </button>
            }
          >
            <ObjectFields node={item} path={[...path, i]} value={it} ctx={ctx} />
          </Group>
        );
      })}
      <button type="button" class="button" onClick={() => ctx.append(path, {})}>
        Add {singular}
      </button>
    </fieldset>
  );
}

function MapField({ node, path, value, label, ctx }: FieldProps) {
  const entries = isRecord(value) ? Object.entries(value) : [];
  const child = isRecord(node.additionalProperties) ? node.additionalProperties : {};
  const [name, setName] = useState('');
  const id = fieldId(path);
  return (
    <fieldset class="field field-group" id={id}>
      <legend>
        <LabelText label={label} />
      </legend>
      <Help id={id} node={node} path={path} ctx={ctx} />
      {entries.map(([k, v]) => (
        <div key={k} class="map-entry">
          <SchemaField node={child} path={[...path, k]} value={v} label={k} ctx={ctx} />
          <button type="button" class="button button-quiet" onClick={() => ctx.edit([...path, k], undefined)}>
            Remove {k}
          </button>
        </div>
      ))}
      <div class="inline-add">
        <label for={`${id}-new`}>New entry name</label>
        <input id={`${id}-new`} type="text" value={name} onInput={(e) => setName(e.currentTarget.value)} />
        <button
          type="button"
          class="button"
          disabled={name.trim() === '' || entries.some(([k]) => k === name.trim())}
          onClick={() => {
            ctx.edit([...path, name.trim()], kindOf(child) === 'object' ? {} : '');
            setName('');
          }}
        >
          Add entry
        </button>
      </div>
    </fieldset>
  );
}

function ChoiceField({ node, path, value, label, required, ctx }: FieldProps) {
  const branches = node.anyOf ?? [];
  const [picked, setPicked] = useState(0);
  const i = value === undefined ? picked : branchOf(node, value);
  const branch = branches[i] ?? {};
  const id = `${fieldId(path)}-form`;
  return (
    <div class="field field-choice">
      <div class="field choice-picker">
        <label for={id}>
          <LabelText label={label} required={required} /> <span class="field-note">written as</span>
        </label>
        <select
          id={id}
          value={String(i)}
          onChange={(e) => {
            // another form of the value: the old one does not fit it
            setPicked(Number(e.currentTarget.value));
            ctx.edit(path, undefined);
          }}
        >
          {branches.map((b, j) => (
            <option key={branchLabel(b)} value={String(j)}>
              {branchLabel(b)}
            </option>
          ))}
        </select>
      </div>
      <SchemaField node={{ ...branch, description: branch.description ?? node.description }} path={path} value={value} label={label} ctx={ctx} />
    </div>
  );
}

export function SchemaField(props: FieldProps) {
  const { node, path, value, label, ctx } = props;
  switch (kindOf(node)) {
    case 'string':
    case 'number':
      return <TextField {...props} />;
    case 'unit':
      return <TextField {...props} unit />;
    case 'secret':
      return <SecretField {...props} />;
    case 'enum':
      return <SelectField {...props} options={enumValues(node)} />;
    case 'boolean':
      return <BooleanField {...props} />;
    case 'const':
      return (
        <div class="field">
          <span class="field-name">{label}</span>: <code>{String(node.const)}</code>
        </div>
      );
    case 'enum-list':
      return <EnumListField {...props} />;
    case 'text-list':
      return <TextListField {...props} />;
    case 'object-list':
      return <ObjectListField {...props} />;
    case 'map':
      return <MapField {...props} />;
    case 'instances':
      return <InstanceList node={node} path={path} value={value} label={label} ctx={ctx} />;
    case 'choice':
      return <ChoiceField {...props} />;
    case 'object':
      return (
        <Group
          id={`${fieldId(path)}-box`}
          title={label}
          summary={node.description}
          open={hasProblemsUnder(ctx, path) || (isRecord(value) && Object.keys(value).length > 0)}
        >
          <ObjectFields node={node} path={path} value={value} ctx={ctx} />
        </Group>
      );
    default:
      return (
        <div class="field">
          <span class="field-name">{label}</span>: <span class="field-note">edit this key in the YAML view</span>
          {value !== undefined && <code class="field-value">{asText(value)}</code>}
        </div>
      );
  }
}
