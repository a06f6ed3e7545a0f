/**
 * A text field's own text while it is being edited. The form's fields are controlled by the
 * document, and the whole page re-renders on every live status (once per status interval): Preact
 * then writes the document's value back into an input whose text differs, under the user's cursor,
 * and the edit is lost before its change event (on blur or Enter) commits it. The draft holds what
 * was typed from the first input event until that change event commits it to the document.
 */
import { useState } from 'preact/hooks';

export interface Draft {
  /** the text to show: the draft while editing, else the committed value */
  value: string;
  onInput(e: { currentTarget: { value: string } }): void;
  /** the change event's text, committed; the draft ends */
  commit(apply: (text: string) => void): (e: { currentTarget: { value: string } }) => void;
}

export function useDraft(committed: string): Draft {
  const [draft, setDraft] = useState<string | null>(null);
  return {
    value: draft ?? committed,
    onInput: (e) => setDraft(e.currentTarget.value),
    commit: (apply) => (e) => {
      apply(e.currentTarget.value);
      setDraft(null);
    },
  };
}
