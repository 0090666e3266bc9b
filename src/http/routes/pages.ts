import { Router } from 'express';
import type { Sql } from '../../db/connect';
import type { Auth } from '../auth';

export interface PageRoutesDeps {
  sql: Sql;
  auth: Auth;
}

/** The demo dashboard and cashier pages. */
export function pageRoutes(_deps: PageRoutesDeps): Router {
  return Router();
}
