import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { demoSecret } from '../src/domain';
import { Auth } from '../src/http/auth';

// `npm start` without JWT_SECRET: yesterday's printed links and cookies must still sign in today.
test('the demo secret is made once in DATA_DIR and read back after a restart, so tokens stay valid', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pgfeed-demo-'));
  try {
    const first = demoSecret(dir);
    expect(first.secret).toMatch(/^[0-9a-f]{64}$/);
    expect(first.file).toBe(path.join(dir, 'pgfeed-demo-jwt-secret'));
    expect(statSync(first.file).mode & 0o777).toBe(0o600);
    const link = await new Auth(first.secret).sign({ sub: 'alice', company: 'acme', role: 'admin' });

    const afterRestart = demoSecret(dir);
    expect(afterRestart.secret).toBe(first.secret);
    await expect(new Auth(afterRestart.secret).verify(link)).resolves.toMatchObject({ sub: 'alice' });

    // Another DATA_DIR is another demo, with its own secret.
    const elsewhere = mkdtempSync(path.join(os.tmpdir(), 'pgfeed-demo-'));
    expect(demoSecret(elsewhere).secret).not.toBe(first.secret);
    rmSync(elsewhere, { recursive: true, force: true });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
