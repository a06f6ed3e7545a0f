/** A titled region of a page: a <section> named by its heading, so screen readers can jump to it. */
import type { ComponentChildren } from 'preact';

export function Card({
  id,
  title,
  children,
  wide,
  actions,
}: {
  id: string;
  title: string;
  children: ComponentChildren;
  wide?: boolean;
  actions?: ComponentChildren;
}) {
  return (
    <section class={wide ? 'card card-wide' : 'card'} aria-labelledby={`${id}-title`} id={id}>
      <div class="card-head">
        <h2 id={`${id}-title`}>{title}</h2>
        {actions}
      </div>
      {children}
    </section>
  );
}
