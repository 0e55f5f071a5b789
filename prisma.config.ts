// Configuration for the Prisma CLI (`prisma generate`). The app itself applies migrations
// through the WebAssembly schema engine (src/core/db/migrations.ts), so no URL is needed here.
import { defineConfig } from 'prisma/config';

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
});
