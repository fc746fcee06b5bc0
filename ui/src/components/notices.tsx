import { useEffect, useState } from 'preact/hooks';

/** A short message at the corner of the screen: what an action did, or why it failed. */
export interface Notice {
  readonly id: number;
  readonly kind: 'success' | 'error';
  readonly text: string;
}

type Listener = (notices: readonly Notice[]) => void;

let notices: readonly Notice[] = [];
let nextId = 1;
const listeners = new Set<Listener>();

function publish(next: readonly Notice[]): void {
  notices = next;
  for (const listener of listeners) listener(notices);
}

/** Shows a notice; successes go after 4 s, errors after 10 s (or when closed). */
export function notify(kind: Notice['kind'], text: string): void {
  const notice: Notice = { id: nextId++, kind, text };
  // At most five at once: the oldest go first.
  publish([...notices, notice].slice(-5));
  setTimeout(() => dismiss(notice.id), kind === 'error' ? 10_000 : 4_000);
}

function dismiss(id: number): void {
  publish(notices.filter((notice) => notice.id !== id));
}

/** Renders the notices; mounted once by the app shell. */
export function NoticeHost() {
  const [shown, setShown] = useState(notices);
  useEffect(() => {
    listeners.add(setShown);
    return () => void listeners.delete(setShown);
  }, []);
  return (
    <div class="notices" role="status" aria-live="polite">
      {shown.map((notice) => (
        <div key={notice.id} class={`notice notice-${notice.kind}`} data-testid={`notice-${notice.kind}`}>
          <span>{notice.text}</span>
          <button type="button" class="notice-close" aria-label="Dismiss" onClick={() => dismiss(notice.id)}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}
