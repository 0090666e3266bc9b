import { TokenCache } from '../src/http/token-cache';
import { Auth } from '../src/http/auth';

const now = Date.parse('2026-12-06T09:00:00Z');
const claims = (exp: number) => ({ sub: 'alice', company: 'acme', role: 'admin' as const, exp });

test('a verified token is remembered until it expires, and only that exact token', () => {
  const cache = new TokenCache<ReturnType<typeof claims>>(10);
  const exp = now / 1000 + 60;
  cache.set('header.payload.sig', claims(exp));
  expect(cache.get('header.payload.sig', now)).toEqual(claims(exp));
  expect(cache.get('header.payload.forged', now)).toBeUndefined();
  expect(cache.get('header.payload.sig', exp * 1000)).toBeUndefined();
  expect(cache.size).toBe(0); // an expired entry is dropped, not kept
});

test('the cache is bounded: the least recently used token goes first', () => {
  const cache = new TokenCache<ReturnType<typeof claims>>(2);
  const exp = now / 1000 + 60;
  cache.set('a', claims(exp));
  cache.set('b', claims(exp));
  cache.get('a', now); // a is now the most recently used
  cache.set('c', claims(exp));
  expect(cache.size).toBe(2);
  expect(cache.get('b', now)).toBeUndefined();
  expect(cache.get('a', now)).toBeDefined();
  expect(cache.get('c', now)).toBeDefined();
});

test('Auth answers a token it verified before without verifying it again, and still refuses it once expired', async () => {
  const auth = new Auth('x'.repeat(32));
  const token = await auth.sign({ sub: 'alice', company: 'acme', role: 'admin' }, 2);
  const first = await auth.verify(token);
  expect(await auth.verify(token)).toBe(first); // the same claims object: served from the cache
  await expect(auth.verify(token.slice(0, -2) + (token.endsWith('AA') ? 'BB' : 'AA'))).rejects.toMatchObject({
    code: 'unauthorized',
  });
  // Past its expiry (the clock moved on, not a sleep) the cached token is verified again, and refused.
  jest.useFakeTimers({ now: Date.now() + 3000, doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
  try {
    await expect(auth.verify(token)).rejects.toMatchObject({ code: 'unauthorized', message: 'the token has expired' });
  } finally {
    jest.useRealTimers();
  }
});
