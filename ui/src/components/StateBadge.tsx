/** A state in words with a colour that repeats it (never colour alone). */
import type { Health } from '../lib/flow-health.js';

export function StateBadge({ health, label, title }: { health: Health | 'warning' | 'critical'; label: string; title?: string }) {
  return (
    <span class={`badge badge-${health}`} title={title}>
      {label}
    </span>
  );
}
