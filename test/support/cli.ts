/** The `pgfeed` command as users run it: the compiled bin (dist/cli/index.js, built in global setup). */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import path from 'node:path';
import { ROOT } from './build';

const BIN = path.join(ROOT, 'dist', 'cli', 'index.js');

/** A clean environment: only what the test gives, so the machine's own settings do not leak in. */
export function cleanEnv(env: Record<string, string>): Record<string, string> {
  return { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env };
}

/** `pgfeed <args>` with only `env` (and PATH, HOME) in its environment, run in `cwd` (default: the checkout). */
export function pgfeed(args: string[], env: Record<string, string> = {}, cwd = ROOT): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, [BIN, ...args], { cwd, env: cleanEnv(env) });
}

/** Its exit code and everything it printed. */
export function finish(child: ChildProcessWithoutNullStreams): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
}
