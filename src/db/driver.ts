import type Postgres from 'postgres';

/**
 * postgres.js 3.4.9 with pgfeed's fix (patches/README.md: without it the
 * process exits when PostgreSQL restarts under load), loaded from the copy
 * pgfeed ships in vendor/postgres/ — so an application that installs pgfeed
 * runs the fixed driver too, whatever its package manager does with install
 * scripts. The `postgres` package stays a dependency for its types. Every
 * connection pgfeed opens goes through this export.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const postgres = require('../../vendor/postgres/index.js') as typeof Postgres;
