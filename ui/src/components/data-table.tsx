import type { ComponentChildren } from 'preact';
import { useMemo, useState } from 'preact/hooks';

/** One column of a {@link DataTable}. */
export interface Column<Row> {
  readonly key: string;
  readonly label: string;
  /** The value sorted and filtered on (and shown, without `render`). */
  readonly value: (row: Row) => string | number | boolean | null;
  readonly render?: (row: Row) => ComponentChildren;
  /** Numbers align right. */
  readonly numeric?: boolean;
  /** Hidden on narrow screens, where the table would not fit. */
  readonly secondary?: boolean;
}

/** Settings of a {@link DataTable}. */
export interface DataTableProps<Row> {
  readonly columns: ReadonlyArray<Column<Row>>;
  readonly rows: readonly Row[] | undefined;
  readonly rowKey: (row: Row) => string;
  /** Names what the table lists, for the filter's label and the empty text ("queues"). */
  readonly noun: string;
  readonly initialSort?: { readonly key: string; readonly descending?: boolean };
  readonly testId?: string;
  /** Without a filter box (short tables on detail pages). */
  readonly plain?: boolean;
}

/** Rows shown before "Show more": thousands of rows would slow every poll's render. */
const PAGE_ROWS = 100;

/**
 * A table that sorts by any column (click its header; again to reverse) and
 * filters rows by text in any column (case-insensitive; `name:orders`
 * filters one column, by its label). Rows arrive whole from the poll.
 */
export function DataTable<Row>({ columns, rows, rowKey, noun, initialSort, testId, plain }: DataTableProps<Row>) {
  const [filter, setFilter] = useState('');
  const [sort, setSort] = useState<{ key: string; descending: boolean }>({ key: initialSort?.key ?? columns[0]?.key ?? '', descending: initialSort?.descending ?? false });
  const [limit, setLimit] = useState(PAGE_ROWS);

  const shown = useMemo(() => {
    if (rows === undefined) return [];
    const matches = filterRows(rows, columns, filter);
    const column = columns.find((candidate) => candidate.key === sort.key);
    if (column === undefined) return matches;
    const direction = sort.descending ? -1 : 1;
    return [...matches].sort((left, right) => direction * compare(column.value(left), column.value(right)));
  }, [rows, columns, filter, sort]);

  const toggleSort = (key: string): void => setSort((current) => (current.key === key ? { key, descending: !current.descending } : { key, descending: false }));

  return (
    <div class="data-table" data-testid={testId}>
      {!plain && (
        <div class="table-tools">
          <label class="filter">
            <span class="visually-hidden">Filter {noun}</span>
            <input type="search" placeholder={`Filter ${noun}…`} value={filter} onInput={(event) => setFilter(event.currentTarget.value)} data-testid={testId ? `${testId}-filter` : undefined} />
          </label>
          <span class="table-count">{rows === undefined ? 'Loading…' : filter ? `${shown.length} of ${rows.length}` : `${rows.length} ${noun}`}</span>
        </div>
      )}
      <div class="table-scroll">
        <table>
          <thead>
            <tr>
              {columns.map((column) => (
                <th
                  key={column.key}
                  class={[column.numeric ? 'numeric' : '', column.secondary ? 'secondary' : ''].join(' ')}
                  aria-sort={sort.key === column.key ? (sort.descending ? 'descending' : 'ascending') : 'none'}
                  scope="col"
                >
                  <button type="button" class="sort-button" onClick={() => toggleSort(column.key)}>
                    {column.label}
                    <span class="sort-mark" aria-hidden="true">
                      {sort.key === column.key ? (sort.descending ? '▼' : '▲') : ''}
                    </span>
                  </button>
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {shown.slice(0, limit).map((row) => (
              <tr key={rowKey(row)}>
                {columns.map((column) => (
                  <td key={column.key} class={[column.numeric ? 'numeric' : '', column.secondary ? 'secondary' : ''].join(' ')} data-label={column.label}>
                    {column.render ? column.render(row) : display(column.value(row))}
                  </td>
                ))}
              </tr>
            ))}
            {rows !== undefined && shown.length === 0 && (
              <tr>
                <td colSpan={columns.length} class="empty">
                  {rows.length === 0 ? `No ${noun} yet.` : `No ${noun} match “${filter}”.`}
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      {shown.length > limit && (
        <button type="button" class="button show-more" onClick={() => setLimit(limit + PAGE_ROWS)}>
          Show {Math.min(PAGE_ROWS, shown.length - limit)} more of {shown.length - limit}
        </button>
      )}
    </div>
  );
}

function filterRows<Row>(rows: readonly Row[], columns: ReadonlyArray<Column<Row>>, filter: string): readonly Row[] {
  const text = filter.trim().toLowerCase();
  if (text.length === 0) return rows;
  // `label:text` filters one column, when the label names one.
  const colon = text.indexOf(':');
  const named = colon > 0 ? columns.find((column) => column.label.toLowerCase() === text.slice(0, colon).trim()) : undefined;
  const needle = named ? text.slice(colon + 1).trim() : text;
  const searched = named ? [named] : columns;
  return rows.filter((row) => searched.some((column) => String(column.value(row) ?? '').toLowerCase().includes(needle)));
}

/** Nulls last; numbers as numbers; text in natural order ("q2" before "q10"). */
function compare(left: string | number | boolean | null, right: string | number | boolean | null): number {
  if (left === right) return 0;
  if (left === null) return 1;
  if (right === null) return -1;
  if (typeof left === 'number' && typeof right === 'number') return left - right;
  return String(left).localeCompare(String(right), undefined, { numeric: true, sensitivity: 'base' });
}

function display(value: string | number | boolean | null): string {
  if (value === null) return '–';
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  return String(value);
}
