// `npm run build`'s browser step, built from src/ each time, so no copy is kept by hand:
// - pgfeed/client as one script for pages that load it with <script src>, exposing `window.pgfeed` (live, subscribe, ...);
// - the demo pages' script (/assets/pages.js): live() and the same row templates the server renders with.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const common = {
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: ['es2020'],
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
};
await Promise.all([
  build({
    ...common,
    entryPoints: [path.join(root, 'src', 'client', 'index.ts')],
    outfile: path.join(root, 'dist', 'browser', 'pgfeed-client.js'),
    globalName: 'pgfeed',
  }),
  build({
    ...common,
    entryPoints: [path.join(root, 'src', 'domain', 'pages', 'browser', 'page.ts')],
    outfile: path.join(root, 'dist', 'browser', 'pgfeed-pages.js'),
  }),
]);
