import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { ApiClient } from '../api/api-client.js';

/** The logged-in API client, provided by the app shell to every page. */
export const ApiContext = createContext<ApiClient | null>(null);

/** The API client of the logged-in user (pages render only after login). */
export function useApi(): ApiClient {
  const api = useContext(ApiContext);
  if (api === null) throw new Error('useApi() outside the logged-in app shell');
  return api;
}
