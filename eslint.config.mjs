// @ts-check
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'dist/',
      'node_modules/',
      'examples/*/node_modules/',
      'examples/browser/public/app.js',
      'coverage/',
      '.data/',
      'bench/results/',
      'vendor/',
    ],
  },
  eslint.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    // Scripts the pages load as they are: plain browser JavaScript.
    files: ['src/**/assets/*.js'],
    languageOptions: {
      globals: Object.fromEntries(
        [
          'document',
          'window',
          'navigator',
          'location',
          'fetch',
          'setTimeout',
          'clearTimeout',
          'setInterval',
          'Element',
          'HTMLElement',
          'EventSource',
          'BroadcastChannel',
          'AbortController',
          'DOMParser',
          'CSS',
          'Intl',
        ].map((name) => [name, 'readonly']),
      ),
    },
  },
  {
    // The examples: plain JavaScript as their users would write it.
    files: ['examples/node/**/*.mjs', 'examples/browser/serve.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', fetch: 'readonly', URL: 'readonly' } },
  },
  {
    files: ['examples/browser/src/**/*.js'],
    languageOptions: {
      globals: {
        document: 'readonly',
        location: 'readonly',
        sessionStorage: 'readonly',
        fetch: 'readonly',
        URLSearchParams: 'readonly',
      },
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off', '@typescript-eslint/no-non-null-assertion': 'off' },
  },
);
