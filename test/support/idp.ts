/**
 * A local identity provider for tests: signing keys, and their JSON Web Key Set
 * served over HTTP — healthy, or failing the ways real ones do (503, hanging,
 * an endless body), so tests see what pgfeed does with each.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { type JWK, type KeyLike, SignJWT, exportJWK, generateKeyPair } from 'jose';

export type SigningKey = { kid: string; alg: 'RS256' | 'ES256'; privateKey: KeyLike; jwk: JWK };

/** A fresh key pair; `jwk` is its public half as a key set lists it. */
export async function newKey(kid: string, alg: SigningKey['alg'] = 'RS256'): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  return { kid, alg, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

/** A token signed by `key` with exactly `payload` (plus `exp` in 5 minutes unless given): shape it like the provider you mean. */
export function signedBy(key: SigningKey, payload: Record<string, unknown>): Promise<string> {
  return new SignJWT({ exp: Math.floor(Date.now() / 1000) + 300, ...payload })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
    .sign(key.privateKey);
}

/** How the key set answers: the keys; 503; never (headers never come); or an endless body of `huge` bytes per chunk. */
export type IdpMode = 'ok' | 'unavailable' | 'hang' | 'endless';

export interface IdentityProvider {
  /** The key set's URL (loopback http). */
  url: string;
  /** What the key set lists now. */
  published: SigningKey[];
  mode: IdpMode;
  /** Requests for the key set so far. */
  fetches: number;
  /** Bytes written by the last `endless` answer before the client hung up. */
  endlessBytes: number;
  /** Resolves when the last `endless` answer's connection closed. */
  endlessClosed: Promise<void>;
  close(): Promise<void>;
}

/** Starts an identity provider publishing `keys` on a free loopback port. */
export async function startIdentityProvider(keys: SigningKey[]): Promise<IdentityProvider> {
  const hanging = new Set<http.ServerResponse>();
  let endlessDone: () => void = () => {};
  const idp: IdentityProvider = {
    url: '',
    published: keys,
    mode: 'ok',
    fetches: 0,
    endlessBytes: 0,
    endlessClosed: Promise.resolve(),
    close: async () => {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  const server = http.createServer((_req, res) => {
    idp.fetches += 1;
    switch (idp.mode) {
      case 'ok':
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ keys: idp.published.map((k) => k.jwk) }));
        return;
      case 'unavailable':
        res.statusCode = 503;
        res.end('down for maintenance');
        return;
      case 'hang':
        hanging.add(res);
        res.on('close', () => hanging.delete(res));
        return;
      case 'endless': {
        // A key set that never ends (a 400 MB answer is the same to a reader that stops in time).
        idp.endlessBytes = 0;
        idp.endlessClosed = new Promise((resolve) => (endlessDone = resolve));
        res.setHeader('content-type', 'application/json');
        const chunk = Buffer.alloc(64 * 1024, ' ');
        res.write('{"keys": [');
        const pump = () => {
          while (!res.destroyed && idp.endlessBytes < 400 * 1024 * 1024) {
            idp.endlessBytes += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          res.end();
        };
        res.on('close', () => endlessDone());
        pump();
        return;
      }
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  idp.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
  return idp;
}
