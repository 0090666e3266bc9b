/** The demo domain's routes described for /openapi.json, from the schemas its routes parse and its rows. */
import { z } from 'zod';
import { type Operation, type OperationResponse, errorBody } from '../express';
import { adjustBody, bookingBody, checkoutBody, pageQuery, tripPatch } from './routes/api';
import { bookingRow, checkoutRow, stockRow, tripRow } from './schema';
import { TABLES } from './snapshots';

const ROWS = { trip: tripRow, booking: bookingRow, stock: stockRow, checkout: checkoutRow } as const;

const failures: Record<number, OperationResponse> = {
  400: { description: 'The body or a parameter is invalid (`invalid_body` lists the issues).', schema: errorBody },
  401: { description: 'No valid token.', schema: errorBody },
  403: { description: 'The role may not do this.', schema: errorBody },
  404: { description: 'No such row in the token’s company.', schema: errorBody },
};
const conflict = { 409: { description: 'The change would break a rule (seats, stock, halted booking).', schema: errorBody } };

const write = (
  method: Operation['method'],
  path: string,
  summary: string,
  row: z.ZodType,
  options: { body?: z.ZodType; created?: boolean; params?: Record<string, string> } = {},
): Operation => ({
  method,
  path,
  summary,
  tags: ['writes'],
  params: options.params ?? { id: 'The row’s id.' },
  ...(options.body ? { body: options.body } : {}),
  responses: {
    [options.created ? 201 : 200]: { description: 'The row after the change.', schema: row },
    ...failures,
    ...conflict,
  },
});

const html = (path: string, summary: string, auth: boolean, params?: Record<string, string>): Operation => ({
  method: 'get',
  path,
  summary,
  tags: ['pages'],
  auth,
  ...(params ? { params } : {}),
  responses: { 200: { description: 'An HTML page.', contentType: 'text/html' } },
});

export const DOMAIN_OPERATIONS: Operation[] = [
  ...Object.entries(TABLES).map(([entity, t]): Operation => ({
    method: 'get',
    path: `/api/companies/:companyId/${t.path}`,
    summary: `Snapshot of the company's ${t.path} and the lastEventId to subscribe from.`,
    tags: ['snapshots'],
    params: { companyId: 'The company; must be the token’s `company` claim.' },
    query: pageQuery,
    responses: {
      200: {
        description:
          'One keyset page (at most `limit` rows). Subscribing from lastEventId delivers every change not yet in items; `next` is the cursor of the following page.',
        schema: z.object({
          items: z.array(ROWS[entity as keyof typeof ROWS]),
          lastEventId: z.string(),
          next: z.string().nullable(),
        }),
      },
      ...failures,
    },
  })),
  write('post', '/api/trips/:id/bookings', 'Book seats on a trip.', bookingRow, { body: bookingBody, created: true }),
  write('post', '/api/bookings/:id/cancel', 'Cancel a booking; its seats go back.', bookingRow),
  write('patch', '/api/trips/:id', 'Halt or resume booking on a trip (admin).', tripRow, { body: tripPatch }),
  write('post', '/api/stock/:id/adjust', 'Add to or take from an item’s quantity.', stockRow, { body: adjustBody }),
  write('post', '/api/checkouts', 'Check an item out to a user (reserves one unit).', checkoutRow, {
    body: checkoutBody,
    created: true,
    params: {},
  }),
  write('post', '/api/checkouts/:id/return', 'Return a checked-out item.', checkoutRow),
  html('/', 'The demo’s start page.', false),
  html('/dashboard', 'Live dashboard of the token’s company (admin or cashier).', true),
  html('/cashier', 'Cashier page: sell seats, see them go live.', true),
  html('/public/:companyId', 'Public availability page.', false, { companyId: 'The company.' }),
  {
    method: 'get',
    path: '/public',
    summary: 'Go to the public page of `?company=` (the start page’s form).',
    tags: ['pages'],
    auth: false,
    query: z.object({ company: z.string().optional() }),
    responses: { 303: { description: 'A redirect to /public/:companyId, or to / without a company.' } },
  },
  {
    method: 'post',
    path: '/session',
    summary: 'Switch this browser’s session to the token of a link, after the user confirmed it (form post).',
    tags: ['pages'],
    auth: false,
    responses: {
      303: { description: 'Signed in; a redirect to the local page the link asked for.' },
      401: { description: 'The token was refused; a sign-in page says why.', contentType: 'text/html' },
      403: { description: 'The form came from another origin (`cross_origin`).', schema: errorBody },
    },
  },
];
