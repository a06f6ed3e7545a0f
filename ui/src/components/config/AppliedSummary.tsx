/** What an apply or rollback did: which inputs and outputs restarted, the policy, the file. */
import type { ConfigApplied, InstanceChanges } from '../../api/types.js';

function changes(c: InstanceChanges): string {
  const parts = [
    c.added.length > 0 ? `added ${c.added.join(', ')}` : '',
    c.changed.length > 0 ? `restarted ${c.changed.join(', ')}` : '',
    c.removed.length > 0 ? `removed ${c.removed.join(', ')}` : '',
  ].filter(Boolean);
  return parts.length > 0 ? parts.join('; ') : 'none changed';
}

export function AppliedSummary({ applied }: { applied: ConfigApplied }) {
  const f = applied.file;
  return (
    <dl class="applied">
      <div>
        <dt>Version</dt>
        <dd data-figure="applied-version">{applied.version ?? 'not recorded (the history could not be written)'}</dd>
      </div>
      <div>
        <dt>Inputs</dt>
        <dd>{changes(applied.inputs)}</dd>
      </div>
      <div>
        <dt>Outputs</dt>
        <dd>{changes(applied.outputs)}</dd>
      </div>
      <div>
        <dt>Classification and routing</dt>
        <dd>{applied.policyChanged ? 'changed' : 'unchanged'}</dd>
      </div>
      <div>
        <dt>Configuration file</dt>
        <dd data-figure="applied-file">
          {f === null
            ? 'none: the gateway was started from text, so a restart does not keep this'
            : f.written
              ? `written: ${f.path}`
              : `not written (${f.reason ?? 'unknown reason'}): a restart goes back to ${f.path}`}
        </dd>
      </div>
    </dl>
  );
}
