/**
 * The compiled package (dist/) as the CLI, the image and installs run it,
 * built once per test run in global setup, and only when src/ changed since the
 * last build: test files then read dist/ without racing a rebuild.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..');

/** Runs `npm run build` unless dist/ is newer than every file of src/ and the build configuration (what `npm start` does first). */
export function ensureBuilt(): void {
  execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'build-if-stale.mjs'), '--quiet'], { cwd: ROOT, stdio: 'ignore' });
}
