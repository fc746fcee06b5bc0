import { describeError } from '../api/api-client.js';

/** Why a page's data could not be loaded; shown above what was loaded before, which stays. */
export function LoadError({ error }: { error: unknown }) {
  if (error === undefined) return null;
  return (
    <p class="load-error" role="alert">
      Could not load: {describeError(error)}
    </p>
  );
}
