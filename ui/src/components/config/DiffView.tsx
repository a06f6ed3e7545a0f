/** A unified diff, each line marked added, removed or context (by colour and by its +/- sign). */
export function DiffView({ diff, label }: { diff: string; label: string }) {
  const lines = diff.split('\n').filter((l, i, all) => !(i === all.length - 1 && l === '') && !/^={10,}$/.test(l));
  const changed = lines.some((l) => (l.startsWith('+') || l.startsWith('-')) && !l.startsWith('+++') && !l.startsWith('---'));
  if (!changed) return <p class="field-note">No changes.</p>;
  return (
    // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling region must be reachable by keyboard (axe scrollable-region-focusable)
    <section class="diff" aria-label={label} tabIndex={0}>
      <pre>
        {lines.map((l, i) => {
          const kind =
            l.startsWith('+++') || l.startsWith('---') ? 'file' : l.startsWith('@@') ? 'hunk' : l.startsWith('+') ? 'add' : l.startsWith('-') ? 'del' : 'ctx';
          return (
            <span key={i} class={`diff-line diff-${kind}`}>
              {l}
              {'\n'}
            </span>
          );
        })}
      </pre>
    </section>
  );
}
