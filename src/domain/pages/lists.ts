/**
 * What each live list shows and in which order, shared by the server (the first paint reads these rows) and
 * the pages' browser bundle (which keeps them in this order as rows change). Pure: no server import.
 */
type Row = Record<string, unknown>;

/** Recent activity the pages show: newest first, this many. */
export const RECENT = { booking: 50, checkout: 100 } as const;

/** The most rows of one entity a page renders: past it, the page says so and the API pages through the rest. */
export const PAGE_ROWS = 500;

const time = (v: unknown) => (typeof v === 'string' ? Date.parse(v) || 0 : 0);
const text = (v: unknown) => (typeof v === 'string' ? v : '');
const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

interface ListOrder {
  compare: (a: { key: string; row: Row }, b: { key: string; row: Row }) => number;
  limit: number;
}

/** The order of each list; the same as the SQL the first paint reads (src/domain/snapshots.ts TABLES). */
export const LIST_ORDER: Record<string, ListOrder> = {
  trip: { compare: (a, b) => time(a.row.departsAt) - time(b.row.departsAt) || byText(a.key, b.key), limit: PAGE_ROWS },
  stock: { compare: (a, b) => byText(text(a.row.sku), text(b.row.sku)) || byText(a.key, b.key), limit: PAGE_ROWS },
  booking: { compare: (a, b) => time(b.row.createdAt) - time(a.row.createdAt) || byText(b.key, a.key), limit: RECENT.booking },
  checkout: {
    compare: (a, b) => time(b.row.checkedOutAt) - time(a.row.checkedOutAt) || byText(b.key, a.key),
    limit: RECENT.checkout,
  },
};
