import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

/** What {@link usePoll} gives a page. */
export interface Poll<T> {
  /** The last answer; kept while a later poll fails, so the page does not flicker. */
  readonly data: T | undefined;
  /** The last poll's failure, cleared by the next success. */
  readonly error: unknown;
  /** Polls now (after a change the page made). */
  readonly refresh: () => void;
}

/**
 * Calls `load` now and then every `intervalMs` after each answer (never two
 * at once), while the page is visible; again at once when it becomes visible.
 * `key` restarts polling from scratch (another queue, another page).
 */
export function usePoll<T>(load: () => Promise<T>, intervalMs: number, key: string): Poll<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const loadRef = useRef(load);
  loadRef.current = load;
  const wake = useRef<() => void>(() => undefined);

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let running = false;
    let again = false;
    setData(undefined);
    setError(undefined);
    const tick = async (): Promise<void> => {
      if (stopped) return;
      if (running) {
        again = true; // A refresh during a poll: poll once more right after it.
        return;
      }
      clearTimeout(timer);
      if (document.visibilityState === 'hidden') return; // Resumed by the visibility listener.
      running = true;
      try {
        const value = await loadRef.current();
        if (!stopped) {
          setData(value);
          setError(undefined);
        }
      } catch (failure) {
        if (!stopped) setError(failure);
      } finally {
        running = false;
        if (!stopped) timer = setTimeout(() => void tick(), again ? 0 : intervalMs);
        again = false;
      }
    };
    wake.current = () => void tick();
    const onVisibility = (): void => {
      if (document.visibilityState === 'visible') void tick();
    };
    document.addEventListener('visibilitychange', onVisibility);
    void tick();
    return () => {
      stopped = true;
      clearTimeout(timer);
      document.removeEventListener('visibilitychange', onVisibility);
    };
  }, [key, intervalMs]);

  const refresh = useCallback(() => wake.current(), []);
  return { data, error, refresh };
}
