/**
 * A modal confirmation for what cannot be undone: the native <dialog> (focus kept inside, Escape
 * cancels, the page behind is inert), titled, with the consequence in words and the action's own
 * name on its button (never a bare "OK").
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';

export function ConfirmDialog({
  id,
  title,
  confirmLabel,
  busy,
  danger = true,
  onConfirm,
  onCancel,
  children,
}: {
  id: string;
  title: string;
  confirmLabel: string;
  busy?: boolean;
  /** the confirm button in the danger colour (default); false for a change that is not a loss */
  danger?: boolean;
  onConfirm(): void;
  onCancel(): void;
  children: ComponentChildren;
}) {
  const dialog = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = dialog.current;
    if (d && !d.open) d.showModal();
    return () => d?.close();
  }, []);
  return (
    <dialog
      ref={dialog}
      class="confirm-dialog"
      aria-labelledby={`${id}-title`}
      aria-describedby={`${id}-body`}
      onCancel={(e) => {
        e.preventDefault();
        onCancel();
      }}
    >
      <h2 id={`${id}-title`}>{title}</h2>
      <div id={`${id}-body`}>{children}</div>
      <div class="confirm-actions">
        <button type="button" class="button" onClick={onCancel} disabled={busy}>
          Cancel
        </button>
        <button type="button" class={danger ? 'button button-danger' : 'button button-primary'} onClick={onConfirm} disabled={busy}>
          {busy ? 'Working…' : confirmLabel}
        </button>
      </div>
    </dialog>
  );
}
