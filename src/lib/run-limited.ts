/**
 * Runs `work` on every item with at most `limit` calls in flight, starting each as one ends
 * (in item order). Resolves once all have resolved; after a failure starts no more, waits for
 * the calls in flight, then rejects with the first failure.
 */
export async function runLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { readonly error: unknown } | null = null;
  const worker = async (): Promise<void> => {
    while (failure === null && next < items.length) {
      const item = items[next++]!;
      try {
        await work(item);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure !== null) throw (failure as { readonly error: unknown }).error;
}
