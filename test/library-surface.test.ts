/**
 * The library's entry points as an application imports them: `pgfeed` holds
 * what an application calls, `pgfeed/express` the helpers for its own routes,
 * `pgfeed/render` the row templates a page shares between server and browser.
 * The demo is an application like any other: it imports only those entries.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './support/build';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const names = (entry: string) => Object.keys(require(path.join(ROOT, entry)) as object).sort();

test('pgfeed exports what an application calls, and nothing of the demo or of express', () => {
  const expected = ['AppError', 'ConfigError', 'createLogger', 'defineEntity', 'loadConfig', 'migrate', 'startPgfeed'];
  expect(names('src/index.ts')).toEqual(expected);
  expect(names('dist/index.js')).toEqual(expected);
});

test('pgfeed/express exports the route-building helpers', () => {
  const expected = [
    'Html',
    'PG',
    'TOKEN_COOKIE',
    'camelKeys',
    'errorBody',
    'escapeHtml',
    'html',
    'listDomId',
    'parseBody',
    'parseId',
    'parseQuery',
    'perMinuteLimit',
    'pgText',
    'readCookie',
    'rowDomId',
    'rowId',
    'trustedHtml',
  ];
  expect(names('src/express.ts')).toEqual(expected);
  expect(names('dist/express.js')).toEqual(expected);
  const manifest = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, unknown> };
  expect(Object.keys(manifest.exports).sort()).toEqual([
    '.',
    './client',
    './client/browser',
    './express',
    './package.json',
    './react',
    './render',
  ]);
});

test('pgfeed/render holds the row templates and the escaping template, and nothing that needs Node', () => {
  const expected = ['Html', 'RowRenderer', 'escapeHtml', 'html', 'listDomId', 'rowDomId', 'trustedHtml'];
  expect(names('src/render.ts')).toEqual(expected);
  expect(names('dist/render.js')).toEqual(expected);
});

test('the demo imports pgfeed only through its entries, as an application would', () => {
  const domain = path.join(ROOT, 'src', 'domain');
  const files = (readdirSync(domain, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts'));
  const outside: string[] = [];
  for (const file of files) {
    const text = readFileSync(path.join(domain, file), 'utf8');
    for (const [, spec] of text.matchAll(/from '(\.[^']*)'/g)) {
      const target = path.relative(domain, path.resolve(path.dirname(path.join(domain, file)), spec!));
      if (target.startsWith('..') && !['../index', '../express', '../client', '../render'].includes(target))
        outside.push(`${file}: ${spec}`);
    }
  }
  expect(outside).toEqual([]);
});
