import type { ParseArgsConfig } from 'node:util';

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
  /** Resolves with the exit code, or RUNNING. */
  run(values: Record<string, string | boolean | undefined>, env: NodeJS.ProcessEnv): Promise<number>;
}
