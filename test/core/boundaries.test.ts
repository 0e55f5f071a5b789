// The module boundaries of eslint.config.js: each small import below is linted as if it were
// written in the named file, and must be refused by the named boundary (or, for the allowed
// ones, pass). Removing or loosening a boundary rule fails this test.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { before, describe, it } from 'node:test';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';

const root = fileURLToPath(new URL('../..', import.meta.url));
const BOUNDARY_RULES = new Set(['no-restricted-imports', 'no-restricted-syntax']);

interface Case {
  file: string;
  code: string;
  // The boundary's name, as in "[feature-index] ..."; null when the import is allowed.
  boundary: string | null;
}

const imports = (source: string): string => `import '${source}';\n`;

const cases: Case[] = [
  // core is the bottom layer.
  { file: 'src/core/sessions.ts', code: imports('../accounts/index.js'), boundary: 'bottom-layer' },
  { file: 'src/core/db/client.ts', code: imports('../../web/app.js'), boundary: 'bottom-layer' },
  { file: 'src/core/services.ts', code: imports('../compose.js'), boundary: 'bottom-layer' },
  { file: 'src/config.ts', code: imports('./sign-in/index.js'), boundary: 'bottom-layer' },
  { file: 'src/core/services.ts', code: imports('./db/client.js'), boundary: null },
  { file: 'src/core/db/client.ts', code: imports('../../config.js'), boundary: null },

  // Features reach each other only through index.ts, and know nothing of web, cli or compose.
  { file: 'src/accounts/service.ts', code: imports('../factors/repository.js'), boundary: 'feature-index' },
  {
    file: 'src/accounts/service.ts',
    code: "import type { AuditLog } from '../audit/audit-log.js';\nexport type { AuditLog };\n",
    boundary: 'feature-index',
  },
  { file: 'src/admin/service.ts', code: "export * from '../factors/phone/numbers.js';\n", boundary: 'feature-index' },
  { file: 'src/factors/phone/service.ts', code: imports('../../audit/audit-log.js'), boundary: 'feature-index' },
  { file: 'src/sign-in/flow.ts', code: imports('../web/guards.js'), boundary: 'feature-layer' },
  { file: 'src/admin/service.ts', code: imports('../compose.js'), boundary: 'feature-layer' },
  { file: 'src/factors/phone/senders/twilio.ts', code: imports('../../../cli/database.js'), boundary: 'feature-layer' },
  { file: 'src/accounts/service.ts', code: imports('../factors/index.js'), boundary: null },
  { file: 'src/factors/phone/service.ts', code: imports('../repository.js'), boundary: null },
  { file: 'src/factors/phone/senders/twilio.ts', code: imports('../../../core/logger.js'), boundary: null },

  // Web and CLI: features through index.ts; core, config and compose freely; not each other.
  { file: 'src/web/accounts.ts', code: imports('../accounts/service.js'), boundary: 'feature-index' },
  { file: 'src/web/forms/phone.ts', code: imports('../../factors/phone/numbers.js'), boundary: 'feature-index' },
  { file: 'src/cli/admin-create.ts', code: imports('../accounts/passwords.js'), boundary: 'feature-index' },
  { file: 'src/cli/admin-create.ts', code: imports('../web/forms/accounts.js'), boundary: 'web-cli' },
  { file: 'src/web/app.ts', code: imports('../cli/database.js'), boundary: 'web-cli' },
  { file: 'src/web/app.ts', code: imports('../accounts/index.js'), boundary: null },
  { file: 'src/web/app.ts', code: imports('../compose.js'), boundary: null },
  { file: 'src/cli/admin-create.ts', code: imports('../compose.js'), boundary: null },
  { file: 'src/compose.ts', code: imports('./factors/registry.js'), boundary: 'feature-index' },
  { file: 'src/compose.ts', code: imports('./factors/index.js'), boundary: null },
  { file: 'src/web/phone.ts', code: imports('./code-step.js'), boundary: null },

  // Route modules do not import each other; shared web modules and app.ts are fine.
  { file: 'src/web/phone.ts', code: imports('./accounts.js'), boundary: 'web-route-module' },
  { file: 'src/web/admin.ts', code: imports('./sign-in.js'), boundary: 'web-route-module' },
  { file: 'src/web/forms/phone.ts', code: imports('../accounts.js'), boundary: 'web-route-module' },
  { file: 'src/web/phone.ts', code: imports('./guards.js'), boundary: null },
  { file: 'src/web/phone.ts', code: imports('./forms/phone.js'), boundary: null },
  { file: 'src/web/forms/phone.ts', code: imports('../messages.js'), boundary: null },
  { file: 'src/web/app.ts', code: imports('./accounts.js'), boundary: null },

  // The JSON API: a sibling of the pages, mounted by web/app.ts through its index.ts; route modules apart.
  { file: 'src/web/app.ts', code: imports('../api/index.js'), boundary: null },
  { file: 'src/web/app.ts', code: imports('../api/tokens.js'), boundary: 'api-entry' },
  { file: 'src/web/accounts.ts', code: imports('../api/messages.js'), boundary: 'api-entry' },
  { file: 'src/api/tokens.ts', code: imports('../web/messages.js'), boundary: 'api-entry' },
  { file: 'src/api/app.ts', code: imports('../cli/database.js'), boundary: 'api-entry' },
  { file: 'src/api/tokens.ts', code: imports('../tokens/service.js'), boundary: 'feature-index' },
  { file: 'src/api/tokens.ts', code: imports('./phone-verification.js'), boundary: 'api-route-module' },
  { file: 'src/api/tokens.ts', code: imports('./bearer.js'), boundary: null },
  { file: 'src/api/app.ts', code: imports('./tokens.js'), boundary: null },
  { file: 'src/tokens/service.ts', code: imports('../api/errors.js'), boundary: 'feature-layer' },
  { file: 'src/core/errors.ts', code: imports('../api/index.js'), boundary: 'bottom-layer' },
  { file: 'src/phone-verification/service.ts', code: imports('../tokens/repository.js'), boundary: 'feature-index' },

  // Only core/db imports the generated Prisma client; tests, tools and bench neither.
  { file: 'src/accounts/repository.ts', code: imports('../generated/prisma/client.js'), boundary: 'generated-client' },
  { file: 'src/server.ts', code: imports('./generated/prisma/client.js'), boundary: 'generated-client' },
  { file: 'test/support/app.ts', code: imports('../../src/generated/prisma/client.js'), boundary: 'generated-client' },
  { file: 'tools/soak/main.ts', code: imports('../../src/generated/prisma/client.js'), boundary: 'generated-client' },
  { file: 'src/core/db/client.ts', code: imports('../../generated/prisma/client.js'), boundary: null },
  // Tests may import any module's internals.
  { file: 'test/accounts/signin.test.ts', code: imports('../../src/factors/repository.js'), boundary: null },

  // No way around the patterns: odd paths and dynamic imports.
  { file: 'src/web/phone.ts', code: imports('./forms/../accounts.js'), boundary: 'normalised-path' },
  { file: 'src/accounts/service.ts', code: imports('./../factors/repository.js'), boundary: 'normalised-path' },
  {
    file: 'src/accounts/service.ts',
    code: "export const load = () => import('../factors/repository.js');\n",
    boundary: 'static-import',
  },
  { file: 'src/core/db/client.ts', code: "export const load = () => import('pg');\n", boundary: null },
];

describe('module boundaries (eslint.config.js)', () => {
  let eslint: ESLint;

  before(() => {
    eslint = new ESLint({
      cwd: root,
      // Only the boundary rules, without type information: the snippets are not files of the project.
      overrideConfig: [tseslint.configs.disableTypeChecked],
      ruleFilter: ({ ruleId }) => BOUNDARY_RULES.has(ruleId),
    });
  });

  for (const { file, code, boundary } of cases) {
    const source = /['"]([^'"]+)['"]/.exec(code)?.[1] ?? code;
    const title = boundary ? `${file}: '${source}' is refused by [${boundary}]` : `${file}: '${source}' is allowed`;
    it(title, async () => {
      const [result] = await eslint.lintText(code, { filePath: file });
      assert.ok(result);
      const found = result.messages.map((m) => ({ rule: m.ruleId, message: m.message }));
      if (boundary === null) {
        assert.deepEqual(found, []);
      } else {
        assert.equal(found.length, 1, JSON.stringify(found));
        assert.ok(BOUNDARY_RULES.has(found[0]?.rule ?? ''), JSON.stringify(found));
        assert.match(found[0]?.message ?? '', new RegExp(`\\[${boundary}\\]`));
      }
    });
  }
});
