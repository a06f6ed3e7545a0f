/**
 * A frame at full size in a modal <dialog>: Escape closes it (the browser's own), the left and right
 * arrows move to the previous and next layer, and focus goes back to where it was on close.
 */
import { useEffect, useRef } from 'preact/hooks';
import type { FrameInfo } from '../../api/types.js';
import { bytes } from '../../lib/format.js';
import { describeFrame } from '../../lib/layers.js';

export function FrameViewer({
  frame,
  hasPrevious,
  hasNext,
  onStep,
  onClose,
}: {
  frame: FrameInfo | null;
  hasPrevious: boolean;
  hasNext: boolean;
  onStep(delta: -1 | 1): void;
  onClose(): void;
}) {
  const dialog = useRef<HTMLDialogElement>(null);
  const returnTo = useRef<HTMLElement | null>(null);
  const open = frame !== null;

  useEffect(() => {
    const d = dialog.current;
    if (!d) return;
    if (open && !d.open) {
      returnTo.current = document.activeElement as HTMLElement | null;
      d.showModal();
    } else if (!open && d.open) d.close();
  }, [open]);

  const closed = (): void => {
    onClose();
    const back = returnTo.current;
    returnTo.current = null;
    if (back?.isConnected) back.focus();
  };

  const onKey = (e: KeyboardEvent): void => {
    if (e.key === 'ArrowLeft' && hasPrevious) {
      e.preventDefault();
      onStep(-1);
    } else if (e.key === 'ArrowRight' && hasNext) {
      e.preventDefault();
      onStep(1);
    }
  };

  return (
    <dialog ref={dialog} class="frame-viewer" aria-labelledby="frame-viewer-title" onClose={closed} onKeyDown={onKey}>
      {frame && (
        <>
          <div class="frame-viewer-head">
            <h2 id="frame-viewer-title">{describeFrame(frame)}</h2>
            <button type="button" class="button" onClick={() => dialog.current?.close()}>
              Close
            </button>
          </div>
          <img
            class="frame-viewer-image"
            src={`/api/v1/frames/${frame.seq}/image`}
            alt={describeFrame(frame)}
            width={frame.width ?? undefined}
            height={frame.height ?? undefined}
          />
          <div class="frame-viewer-foot">
            <button type="button" class="button" disabled={!hasPrevious} onClick={() => onStep(-1)}>
              ← Previous layer
            </button>
            <span class="muted">
              {frame.width && frame.height ? `${frame.width} × ${frame.height} px, ` : ''}
              {bytes(frame.size)}, {frame.class}, received {new Date(frame.receivedAt).toLocaleTimeString()}. Arrow keys: previous/next layer; Escape: close.
            </span>
            <button type="button" class="button" disabled={!hasNext} onClick={() => onStep(1)}>
              Next layer →
            </button>
          </div>
        </>
      )}
    </dialog>
  );
}
