import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseEnv } from 'node:util';

/**
 * The environment with the `.env` file of `dir` beneath it, as .env.example
 * promises and as docker compose reads it: a variable set in the environment
 * wins over the file. No file, no change.
 */
export function withEnvFile(env: NodeJS.ProcessEnv, dir = process.cwd()): NodeJS.ProcessEnv {
  let text: string;
  try {
    text = readFileSync(path.join(dir, '.env'), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return env;
    throw error;
  }
  return { ...parseEnv(text), ...env };
}
