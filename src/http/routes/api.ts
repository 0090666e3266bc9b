import { Router } from 'express';
import type { Sql } from '../../db/connect';
import type { Auth } from '../auth';

export interface ApiRoutesDeps {
  sql: Sql;
  auth: Auth;
}

/** Snapshots and writes (section 6). */
export function apiRoutes(_deps: ApiRoutesDeps): Router {
  return Router();
}
