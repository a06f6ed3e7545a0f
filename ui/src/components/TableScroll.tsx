/**
 * A table that scrolls sideways on a narrow screen. The scrolling box takes keyboard focus (and is
 * a named region) so it can be scrolled with the arrow keys, not only by touch or mouse.
 */
import type { ComponentChildren } from 'preact';

export function TableScroll({ label, children }: { label: string; children: ComponentChildren }) {
  return (
    // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling region must be reachable by keyboard to be scrolled (WCAG 2.1.1; axe scrollable-region-focusable)
    <section class="table-scroll" aria-label={label} tabIndex={0}>
      {children}
    </section>
  );
}
