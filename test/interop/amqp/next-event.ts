/** Resolves with the next `event` that `emitter` emits (e.g. a channel's 'error'); rejects after `timeoutMs`. */
export function nextEvent<T = unknown>(
  emitter: { once(event: string, listener: (value: T) => void): unknown },
  event: string,
  timeoutMs = 5_000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${event}' event within ${timeoutMs} ms`)), timeoutMs);
    emitter.once(event, (value: T) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}
