import { isConnectionError } from '../src/db/errors';
import { AppError } from '../src/errors';

const withCode = (code: string) => Object.assign(new Error(code), { code });

describe('isConnectionError: which failures the API answers 503 not_ready', () => {
  test.each([
    'CONNECTION_CLOSED',
    'CONNECTION_ENDED',
    'CONNECTION_DESTROYED',
    'CONNECT_TIMEOUT',
    'ECONNREFUSED',
    'ECONNRESET',
    'EPIPE',
    '57P01',
    '57P02',
    '57P03',
    '08006',
    '08P01',
  ])('%s is a connection error', (code) => {
    expect(isConnectionError(withCode(code))).toBe(true);
  });

  test.each(['23505', '23514', '40001', '57014', 'ENOTFOUND', 'UNDEFINED_VALUE', '0800'])('%s is not', (code) => {
    expect(isConnectionError(withCode(code))).toBe(false);
  });

  test('looks through `cause`, and answers false for non-errors', () => {
    expect(isConnectionError(new AppError('conflict', 'x', { cause: withCode('ECONNRESET') }))).toBe(true);
    expect(isConnectionError(new Error('plain'))).toBe(false);
    for (const value of [undefined, null, 'ECONNRESET', 57, { code: 57 }]) expect(isConnectionError(value)).toBe(false);
  });
});
