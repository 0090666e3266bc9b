// `npm start` and `npm run demo` build first, but only when dist/ is older than
// a file of src/ or the build configuration: a full tsc build takes 15–40 s,
// a check of the timestamps a few milliseconds. The test suite's global setup
// uses the same check (test/support/build.ts).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const STAMP = path.join(ROOT, 'node_modules', '.cache', 'pgfeed-build-stamp');
const INPUTS = ['src', 'package.json', 'tsconfig.json', 'tsconfig.build.json'];

function newest(p) {
  const stat = statSync(p);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let max = stat.mtimeMs;
  for (const entry of readdirSync(p)) max = Math.max(max, newest(path.join(p, entry)));
  return max;
}

function stampTime() {
  try {
    // dist/ may have been removed since the stamp was written.
    statSync(path.join(ROOT, 'dist', 'cli', 'index.js'));
    return statSync(STAMP).mtimeMs;
  } catch {
    return 0;
  }
}

if (stampTime() > Math.max(...INPUTS.map((f) => newest(path.join(ROOT, f))))) process.exit(0);
execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: process.argv.includes('--quiet') ? 'ignore' : 'inherit' });
mkdirSync(path.dirname(STAMP), { recursive: true });
writeFileSync(STAMP, '');
