/** The files a newcomer reads first stay in step with the code: license, Node version, settings. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { configSchema, loadConfig } from '../src/config';
import { ROOT } from './support/build';

const read = (file: string) => readFile(path.join(ROOT, file), 'utf8');
const SETTINGS = Object.keys(configSchema.shape);

test('LICENSE is the license package.json names', async () => {
  const { license } = JSON.parse(await read('package.json')) as { license: string };
  expect(license).toBe('MIT');
  expect((await read('LICENSE')).split('\n')[0]).toBe('MIT License');
});

test('.nvmrc names the Node major the image runs', async () => {
  const major = (await read('.nvmrc')).trim();
  expect(await read('Dockerfile')).toContain(`ARG NODE_IMAGE=node:${major}-`);
});

test('.env.example shows every setting, with values pgfeed accepts', async () => {
  const lines = (await read('.env.example')).split('\n');
  const entries = lines.map((l) => /^# ([A-Z_]+)=(.*)$/.exec(l)).filter((m) => m !== null);
  expect(entries.map((m) => m[1]).sort()).toEqual([...SETTINGS].sort());
  expect(() => loadConfig(Object.fromEntries(entries.map((m) => [m[1], m[2]])))).not.toThrow();
});

test('the README lists every setting and speaks to its readers', async () => {
  const readme = await read('README.md');
  const table = readme.slice(readme.indexOf('## Configuration'), readme.indexOf('## Command line'));
  expect(SETTINGS.filter((name) => !table.includes(`\`${name}\``))).toEqual([]);
  expect(readme).not.toMatch(/contract|\*added\*/i);
  // The first screen: what it is and the two commands.
  const first = readme.split('\n').slice(0, 15).join('\n');
  expect(first).toContain('npm install && npm start');
  expect(first).toContain('npm test');
});
