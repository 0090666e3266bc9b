import type { ParseArgsConfig } from 'node:util';
import { type Config, ConfigError, loadConfig } from '../config';
import { connect, type Sql } from '../db/connect';

/** A mistake in how the command was called: printed as one line with a pointer to --help, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Exit code of a command that keeps running until a signal stops it. */
export const RUNNING = -1;

/** One `pgfeed <command>`. */
export interface Command {
  /** One line for `pgfeed --help`. */
  summary: string;
  /** The text `pgfeed <command> --help` prints. */
  usage: string;
  /** Its options (`--help` is added to every command). */
  options: NonNullable<ParseArgsConfig['options']>;
  /** What its positional arguments are (`<table>`); without it, it takes none. */
  positionals?: string;
  /** Resolves with the exit code, or RUNNING. */
  run(values: Record<string, string | boolean | undefined>, env: NodeJS.ProcessEnv, positionals?: string[]): Promise<number>;
}

/** Runs `use` on one connection to DATABASE_URL (required), closed afterwards: the commands that only talk to the database. */
export async function withDatabase(
  env: NodeJS.ProcessEnv,
  use: (sql: Sql, config: Config & { DATABASE_URL: string }) => Promise<number>,
): Promise<number> {
  const config = loadConfig(env);
  const url = config.DATABASE_URL;
  if (!url) throw new ConfigError('invalid configuration: DATABASE_URL must be set');
  const sql = connect(url, { max: 1 });
  try {
    return await use(sql, { ...config, DATABASE_URL: url });
  } finally {
    await sql.end();
  }
}
