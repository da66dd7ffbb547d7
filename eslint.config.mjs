// Lint (npm run lint:es; .ci/run runs it): ESLint's and typescript-eslint's recommended rules.
// Unused locals and parameters are the compiler's job (tsconfig noUnusedLocals/noUnusedParameters),
// import direction and cycles dependency-cruiser's (.dependency-cruiser.cjs).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'cdk.out/', 'node_modules/', 'agent/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { ecmaVersion: 2022, sourceType: 'module' },
    rules: {
      // tsc reports these (with `_` prefixes allowed where a signature needs the slot).
      '@typescript-eslint/no-unused-vars': 'off',
      // require() is how heavy or native modules are loaded on first use (resvg, the Lambda handlers
      // in the benchmarks): a synchronous call site, which import() is not.
      '@typescript-eslint/no-require-imports': 'off',
    },
  },
  {
    files: ['**/*.cjs', '**/*.js', '**/*.mjs'],
    languageOptions: { globals: { require: 'readonly', module: 'writable', process: 'readonly', __dirname: 'readonly', console: 'readonly' } },
  },
);
