/**
 * Which PostgreSQL the suite runs against, decided in one place:
 * TEST_DATABASE_URL if set, else a Testcontainers `postgres` container when a
 * Docker engine answers, else embedded PostgreSQL.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PostgreSqlContainer } from '@testcontainers/postgresql';
import { getContainerRuntimeClient } from 'testcontainers';
import { startEmbedded } from '../../src/db/embedded';
import { freePort } from './toolkit';

export interface TestServer {
  kind: 'url' | 'testcontainers' | 'embedded';
  /** URL of a database on the server to run admin commands (create database) from. */
  adminUrl: string;
  stop(): Promise<void>;
}

async function dockerAnswers(): Promise<boolean> {
  if (process.env.PGFEED_TEST_NO_DOCKER === '1') return false;
  try {
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

export async function startTestServer(): Promise<TestServer> {
  const url = process.env.TEST_DATABASE_URL;
  if (url) return { kind: 'url', adminUrl: url, stop: async () => {} };

  if (await dockerAnswers()) {
    const container = await new PostgreSqlContainer('postgres:17-alpine').start();
    return { kind: 'testcontainers', adminUrl: container.getConnectionUri(), stop: async () => void (await container.stop()) };
  }

  const dir = await mkdtemp(path.join(os.tmpdir(), 'pgfeed-test-'));
  await chmod(dir, 0o755); // the server may run as another user (see startEmbedded)
  const server = await startEmbedded({ dir: path.join(dir, 'pg'), port: await freePort(), persistent: false });
  return {
    kind: 'embedded',
    adminUrl: server.url(),
    stop: async () => {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
