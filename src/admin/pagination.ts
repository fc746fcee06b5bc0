import { FerryError } from '../lib/ferry-error.js';

/** Query string of list endpoints: `?page=2&page_size=50` (strings: the API does not coerce types). */
export interface ListQuery {
  readonly page?: string;
  readonly page_size?: string;
}

/** Most items in one page. */
export const PAGE_SIZE_MAX = 1_000;

/** JSON schema of {@link ListQuery}. */
export const LIST_QUERY_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    page: { type: 'string', pattern: '^[1-9][0-9]{0,8}$' },
    page_size: { type: 'string', pattern: '^[1-9][0-9]{0,8}$' },
  },
} as const;

/** One page of a list, as RabbitMQ's management API pages. */
export interface Page<T> {
  readonly items: T[];
  readonly page: number;
  readonly page_size: number;
  readonly page_count: number;
  readonly total_count: number;
}

/**
 * The whole list when no page is asked for; otherwise that page (1-based,
 * 100 items unless `page_size` says otherwise). `view` runs only for the items shown.
 */
export function paginate<S, T>(items: readonly S[], query: ListQuery, view: (item: S) => T): T[] | Page<T> {
  if (query.page === undefined && query.page_size === undefined) return items.map(view);
  const page = Number(query.page ?? 1);
  const pageSize = Number(query.page_size ?? 100);
  if (pageSize > PAGE_SIZE_MAX) throw new FerryError('INVALID_REQUEST', `page_size must be at most ${PAGE_SIZE_MAX}`);
  const start = (page - 1) * pageSize;
  return {
    items: items.slice(start, start + pageSize).map(view),
    page,
    page_size: pageSize,
    page_count: Math.max(1, Math.ceil(items.length / pageSize)),
    total_count: items.length,
  };
}
