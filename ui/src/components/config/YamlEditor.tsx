/**
 * The raw YAML for experts: a plain textarea with a line-number gutter beside it (scrolled with
 * it), no editor library; the lines the loader or the parser names are listed above it by the page.
 */
import { useRef } from 'preact/hooks';

export function YamlEditor({ id, text, onText, describedBy }: { id: string; text: string; onText(text: string): void; describedBy?: string }) {
  const gutter = useRef<HTMLPreElement>(null);
  const lines = text.split('\n').length;
  return (
    <div class="yaml-editor">
      <pre class="yaml-gutter" aria-hidden="true" ref={gutter}>
        {Array.from({ length: lines }, (_, i) => i + 1).join('\n')}
      </pre>
      <textarea
        id={id}
        class="yaml-text"
        spellcheck={false}
        autoComplete="off"
        wrap="off"
        rows={Math.min(40, Math.max(12, lines + 1))}
        value={text}
        aria-describedby={describedBy}
        onInput={(e) => onText(e.currentTarget.value)}
        onScroll={(e) => {
          if (gutter.current) gutter.current.scrollTop = e.currentTarget.scrollTop;
        }}
      />
    </div>
  );
}
