/** @jest-config-loader esbuild-register */
import type { Config } from 'jest';

const config: Config = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // What only CAPTURE=wal has needs a server with wal_level=logical: it runs when the suite does (.ci/run).
  testPathIgnorePatterns:
    process.env.PGFEED_TEST_CAPTURE === 'wal' ? ['/node_modules/'] : ['/node_modules/', '/test/wal-[^/]*\\.test\\.ts$'],
  transform: {
    // Type errors are `npm run typecheck`'s job; tests only transpile.
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }],
  },
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  testTimeout: 30_000,
  maxWorkers: 2,
  // A test that leaves a pool or server open is a bug; --detectOpenHandles finds it.
  forceExit: false,
};

export default config;
