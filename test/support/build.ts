/**
 * The compiled package (dist/) as the CLI, the image and installs run it,
 * built once per test run in global setup, and only when src/ changed since the
 * last build: test files then read dist/ without racing a rebuild.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..');
const STAMP = path.join(ROOT, 'node_modules', '.cache', 'pgfeed-build-stamp');

function newest(dir: string): number {
  let max = statSync(dir).mtimeMs;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    max = Math.max(max, entry.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return max;
}

function stampTime(): number {
  try {
    return statSync(STAMP).mtimeMs;
  } catch {
    return 0;
  }
}

/** Runs `npm run build` unless dist/ is newer than every file of src/ and the build configuration. */
export function ensureBuilt(): void {
  const sources = Math.max(
    newest(path.join(ROOT, 'src')),
    ...['package.json', 'tsconfig.json', 'tsconfig.build.json'].map((f) => statSync(path.join(ROOT, f)).mtimeMs),
  );
  if (stampTime() > sources) return;
  execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'ignore' });
  mkdirSync(path.dirname(STAMP), { recursive: true });
  writeFileSync(STAMP, '');
}
