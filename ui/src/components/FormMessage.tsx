/** A form's outcome in words: errors announced at once (role=alert), notices politely (role=status). */
import type { ComponentChildren } from 'preact';

export function FormMessage({ kind, children }: { kind: 'error' | 'notice' | 'success'; children: ComponentChildren }) {
  return (
    <p class={`message message-${kind}`} role={kind === 'error' ? 'alert' : 'status'}>
      {children}
    </p>
  );
}
