// `npm run build`'s browser step: pgfeed/client as one script for pages that load it with <script src>
// (the demo pages do), exposing `window.pgfeed` (live, subscribe, ...). Built from src/ each time, so no
// copy is kept by hand.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
await build({
  entryPoints: [path.join(root, 'src', 'client', 'index.ts')],
  outfile: path.join(root, 'dist', 'browser', 'pgfeed-client.js'),
  bundle: true,
  format: 'iife',
  globalName: 'pgfeed',
  platform: 'browser',
  target: ['es2020'],
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
});
