/**
 * The driver pgfeed runs is the copy it ships (vendor/postgres/README.md):
 * the patched postgres 3.4.9 byte for byte, and the only one src/ loads.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './support/build';

test('vendor/postgres is postgres 3.4.9 with patches/postgres+3.4.9.patch applied (as `prepare` leaves node_modules)', () => {
  const installed = path.join(ROOT, 'node_modules', 'postgres');
  expect((JSON.parse(readFileSync(path.join(installed, 'package.json'), 'utf8')) as { version: string }).version).toBe('3.4.9');
  const upstream = readdirSync(path.join(installed, 'cjs', 'src')).sort();
  const vendored = readdirSync(path.join(ROOT, 'vendor', 'postgres')).filter((f) => f.endsWith('.js'));
  expect(vendored.sort()).toEqual(upstream);
  for (const file of upstream) {
    const copy = readFileSync(path.join(ROOT, 'vendor', 'postgres', file), 'utf8');
    expect({ file, same: copy === readFileSync(path.join(installed, 'cjs', 'src', file), 'utf8') }).toEqual({ file, same: true });
  }
  expect(readFileSync(path.join(ROOT, 'vendor', 'postgres', 'connection.js'), 'utf8')).toContain(
    'The socket closed before these bytes could go out',
  );
});

test('src/ opens connections only through the shipped copy (src/db/driver.ts)', () => {
  const src = path.join(ROOT, 'src');
  const files = (readdirSync(src, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts'));
  const loaders = files.filter((f) =>
    /^import (?!type )[^;]*from 'postgres'|require\('postgres'\)/m.test(readFileSync(path.join(src, f), 'utf8')),
  );
  expect(loaders).toEqual([]);
});
