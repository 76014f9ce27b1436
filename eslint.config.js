import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'data/**', 'corpus/**', 'test-artifacts/**', '.bench/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly',
        setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly',
        setImmediate: 'readonly', AbortController: 'readonly', AbortSignal: 'readonly', performance: 'readonly',
        TextEncoder: 'readonly', TextDecoder: 'readonly', fetch: 'readonly', WebAssembly: 'readonly',
        structuredClone: 'readonly', queueMicrotask: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-syntax': ['error', { selector: 'TSEnumDeclaration', message: 'Use union types: Node runs TypeScript by stripping types.' }],
    },
  },
  {
    // The alignment core is pure arithmetic: no files, processes or clocks.
    files: ['src/align/**/*.ts'],
    ignores: ['src/align/**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['node:fs*', 'node:child_process', 'node:net', 'node:http*', '../media/*', '../pipeline/*', '../jobs/*', '../server/*'], message: 'src/align is pure DSP: no I/O and no higher layers.' }] }],
    },
  },
  {
    files: ['src/media/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['../pipeline/*', '../jobs/*', '../server/*', '../cli/*'], message: 'Data flows server → jobs → pipeline → media/align.' }] }],
    },
  },
  {
    files: ['src/pipeline/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['../jobs/*', '../server/*', '../cli/*'], message: 'Data flows server → jobs → pipeline → media/align.' }] }],
    },
  },
  {
    files: ['src/jobs/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['../server/*', '../cli/*'], message: 'Data flows server → jobs → pipeline → media/align.' }] }],
    },
  },
);
