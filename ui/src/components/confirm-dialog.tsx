import { useEffect, useRef, useState } from 'preact/hooks';

/** What to ask before a destructive action. */
export interface ConfirmRequest {
  readonly title: string;
  readonly message: string;
  /** The confirming button's text, naming the action ("Delete queue"). */
  readonly confirmLabel: string;
}

interface Pending extends ConfirmRequest {
  readonly resolve: (confirmed: boolean) => void;
}

let show: ((pending: Pending) => void) | null = null;

/**
 * Asks the user to confirm, in a modal dialog; resolves true only when the
 * confirming button was pressed (Escape, Cancel and the backdrop say no).
 */
export function confirmAction(request: ConfirmRequest): Promise<boolean> {
  return new Promise((resolve) => {
    if (show === null) {
      resolve(window.confirm(`${request.title}\n\n${request.message}`));
      return;
    }
    show({ ...request, resolve });
  });
}

/** The dialog behind {@link confirmAction}; mounted once by the app shell. */
export function ConfirmHost() {
  const [pending, setPending] = useState<Pending | null>(null);
  const dialog = useRef<HTMLDialogElement>(null);

  useEffect(() => {
    show = (next) => setPending(next);
    return () => {
      show = null;
    };
  }, []);

  useEffect(() => {
    const element = dialog.current;
    if (element === null) return;
    if (pending !== null && !element.open) element.showModal();
    if (pending === null && element.open) element.close();
  }, [pending]);

  const answer = (confirmed: boolean): void => {
    pending?.resolve(confirmed);
    setPending(null);
  };

  return (
    <dialog
      ref={dialog}
      class="confirm-dialog"
      aria-labelledby="confirm-title"
      data-testid="confirm-dialog"
      onCancel={(event) => {
        event.preventDefault();
        answer(false);
      }}
      onClick={(event) => {
        if (event.target === dialog.current) answer(false); // A click on the backdrop.
      }}
    >
      {pending !== null && (
        <form
          method="dialog"
          onSubmit={(event) => {
            event.preventDefault();
            answer(true);
          }}
        >
          <h2 id="confirm-title">{pending.title}</h2>
          <p>{pending.message}</p>
          <div class="actions">
            {/* Cancel has the focus: Enter alone must not destroy anything. */}
            <button type="button" class="button" onClick={() => answer(false)} autofocus>
              Cancel
            </button>
            <button type="submit" class="button button-danger" data-testid="confirm-button">
              {pending.confirmLabel}
            </button>
          </div>
        </form>
      )}
    </dialog>
  );
}
