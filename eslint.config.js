// Lint rules: the recommended sets of ESLint and typescript-eslint, type-aware, plus the module
// boundaries of issue #10 (see "Module boundaries" below). Formatting is Prettier's job (npm run format);
// none of the rules here clashes with it, so eslint-config-prettier is not needed.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// ---------------------------------------------------------------------------------------------
// Module boundaries, enforced with ESLint's own no-restricted-imports.
//
// The patterns match the import path as written. Imports inside src are relative, so a pattern
// allows './' or any number of '../' before a top-level folder name ('../factors/index.js' from
// src/accounts, '../../audit/audit-log.js' from src/factors/phone). The normalised-path pattern
// keeps paths such as './x/../../factors/repository.js' from slipping past the others. (So a folder
// inside a feature should not share a name with a top-level folder of src: it would be read as that.)
// Each message starts with the boundary's name in brackets; test/core/boundaries.test.ts checks them.
//
// Rule options do not merge across config blocks (the last block that matches a file wins), so every
// block below lists all the patterns for its files.

// Feature folders: each is imported from outside only through its index.ts.
const FEATURES = ['accounts', 'audit', 'factors', 'sign-in', 'admin', 'tokens', 'phone-verification'];
// The src/web modules other web modules may import. Every other src/web/*.ts is a route module
// (it exports a router) and only app.ts mounts route modules. A new shared web helper goes here.
const WEB_SHARED = ['guards', 'messages', 'errors', 'session', 'code-step', 'views', 'security', 'passport', 'health'];
// Likewise for the JSON API (src/api): its shared modules; app.ts mounts the route modules.
const API_SHARED = ['errors', 'messages', 'forms', 'bearer', 'openapi'];

const UP = String.raw`^(?:\./|(?:\.\./)+)`; // './' or '../', '../../', ...
const any = (names) => `(?:${names.join('|')})`;
const restrict = (...patterns) => ({ 'no-restricted-imports': ['error', { patterns }] });

// Paths are written without '.' or '..' segments after the start, so the patterns below can read them.
const normalisedPath = {
  regex: String.raw`(?:^|/)(?!\.\.(?:/|$))[^/]+/\.\.?(?:/|$)`,
  message: "[normalised-path] Write the path without './' or '../' in the middle.",
};
// Only src/core/db/** imports the generated Prisma client; everyone else uses what core/db/client.ts re-exports.
const generatedClient = {
  regex: String.raw`${UP}(?:src/)?generated(?:/|$)`,
  message: '[generated-client] Only src/core/db/** imports src/generated: use the types core/db/client.ts re-exports.',
};
// core and config are the bottom layer: they know no feature, no web, no CLI, no composition.
const bottomLayer = {
  regex: String.raw`${UP}${any([...FEATURES, 'web', 'api', 'cli'])}(?:/|$)|${UP}(?:compose|server)\.js$`,
  message:
    '[bottom-layer] src/core and src/config.ts import no feature, src/web, src/api, src/cli, compose.ts or server.ts.',
};
// A feature's internals are its own: from outside, only its index.ts.
const featureIndex = (features) => ({
  regex: String.raw`${UP}${any(features)}/(?!index\.js$)`,
  message: "[feature-index] Import another feature only through its index.ts ('../factors/index.js').",
});
// Features sit below the web pages, the CLI and the composition that uses them.
const featureLayer = {
  regex: String.raw`${UP}(?:web|api|cli)(?:/|$)|${UP}(?:compose|server)\.js$`,
  message: '[feature-layer] Features import no src/web, src/api, src/cli, compose.ts or server.ts.',
};
// web and cli are siblings on top: they share code through features, core or compose.ts, not each other.
const notCli = {
  regex: String.raw`${UP}cli(?:/|$)|${UP}server\.js$`,
  message: '[web-cli] src/web imports nothing from src/cli or server.ts.',
};
const notWeb = {
  regex: String.raw`${UP}web(?:/|$)|${UP}server\.js$`,
  message: '[web-cli] src/cli imports nothing from src/web or server.ts.',
};
// The JSON API is the pages' sibling: neither uses the other's modules; web/app.ts mounts the API through its index.ts.
const apiIndex = {
  regex: String.raw`${UP}api/(?!index\.js$)`,
  message: "[api-entry] Outside src/api, use the API only through '../api/index.js'.",
};
const apiApart = {
  regex: String.raw`${UP}(?:web|cli)(?:/|$)|${UP}server\.js$`,
  message: '[api-entry] src/api imports nothing from src/web, src/cli or server.ts.',
};
const apiRouteModuleMessage =
  '[api-route-module] API route modules do not import each other: src/api modules other than app.ts and ' +
  'index.ts import only the shared modules listed in API_SHARED (eslint.config.js).';
const apiRouteModules = { regex: String.raw`^\./(?!${any(API_SHARED)}\.js$)`, message: apiRouteModuleMessage };
// Route modules do not import each other; what they share lives in a shared web module (WEB_SHARED).
const routeModuleMessage =
  '[web-route-module] Route modules do not import each other: web modules other than app.ts import only ' +
  'forms/ and the shared web modules listed in WEB_SHARED (eslint.config.js).';
const routeModules = { regex: String.raw`^\./(?!${any(WEB_SHARED)}\.js$|forms/)`, message: routeModuleMessage };
const routeModulesFromForms = {
  regex: String.raw`^\.\./(?!\.\./|${any(WEB_SHARED)}\.js$|forms/)`,
  message: routeModuleMessage,
};

const boundaries = [
  // Everywhere (tests, tools and bench too; tests may otherwise import anything): normalised paths,
  // and the generated client stays behind core/db.
  { files: ['**/*.ts'], rules: restrict(normalisedPath, generatedClient) },
  // core and config: the bottom layer; core/db alone may use the generated client.
  { files: ['src/core/**/*.ts', 'src/config.ts'], rules: restrict(normalisedPath, generatedClient, bottomLayer) },
  { files: ['src/core/db/**/*.ts'], rules: restrict(normalisedPath, bottomLayer) },
  // Each feature: anything inside its own folder, other features through index.ts, nothing above it.
  ...FEATURES.map((feature) => ({
    files: [`src/${feature}/**/*.ts`],
    rules: restrict(
      normalisedPath,
      generatedClient,
      featureIndex(FEATURES.filter((other) => other !== feature)),
      featureLayer,
    ),
  })),
  // The composition root and the process use features through index.ts too.
  {
    files: ['src/compose.ts', 'src/server.ts'],
    rules: restrict(normalisedPath, generatedClient, featureIndex(FEATURES)),
  },
  // Web pages: features through index.ts, not the CLI; route modules apart (app.ts mounts them all).
  {
    files: ['src/web/**/*.ts'],
    rules: restrict(normalisedPath, generatedClient, featureIndex(FEATURES), notCli, apiIndex),
  },
  {
    files: ['src/web/*.ts'],
    ignores: ['src/web/app.ts'],
    rules: restrict(normalisedPath, generatedClient, featureIndex(FEATURES), notCli, apiIndex, routeModules),
  },
  {
    files: ['src/web/forms/**/*.ts'],
    rules: restrict(normalisedPath, generatedClient, featureIndex(FEATURES), notCli, apiIndex, routeModulesFromForms),
  },
  // The JSON API: features through index.ts, not the pages or the CLI; route modules apart.
  { files: ['src/api/**/*.ts'], rules: restrict(normalisedPath, generatedClient, featureIndex(FEATURES), apiApart) },
  {
    files: ['src/api/*.ts'],
    ignores: ['src/api/app.ts', 'src/api/index.ts'],
    rules: restrict(normalisedPath, generatedClient, featureIndex(FEATURES), apiApart, apiRouteModules),
  },
  // CLI commands: features through index.ts, not the web pages.
  { files: ['src/cli/**/*.ts'], rules: restrict(normalisedPath, generatedClient, featureIndex(FEATURES), notWeb) },
  {
    // no-restricted-imports does not see import(): inside src, modules of src are imported statically.
    files: ['src/**/*.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: 'ImportExpression[source.value=/^\\./], ImportExpression:not([source.type="Literal"])',
          message: '[static-import] Import modules of src statically, so the boundary rules see the import.',
        },
      ],
    },
  },
];

export default tseslint.config(
  { ignores: ['node_modules', 'src/generated', 'data', 'coverage'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      // node:test's describe/it return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite'] },
          ],
        },
      ],
    },
  },
  ...boundaries,
  { files: ['eslint.config.js', 'tools/prisma-streams-local-unused/*.js'], ...tseslint.configs.disableTypeChecked },
  {
    // Browser scripts: plain JavaScript enhancements, no type information.
    files: ['public/**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      sourceType: 'script',
      parserOptions: { projectService: false },
      globals: {
        window: 'readonly',
        document: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        navigator: 'readonly',
      },
    },
  },
);
