// `npm run db:migration <name>`: writes prisma/migrations/<timestamp>_<name>/migration.sql with
// the SQL that brings the committed migrations up to prisma/schema.prisma. Needs no database.
import { writeNextMigration } from '../core/db/migrations.js';

const name = process.argv[2] ?? '';
if (!/^[a-z0-9_]{1,60}$/.test(name)) {
  console.error('Usage: npm run db:migration <name>   (lower-case letters, digits and _, e.g. add_phone)');
  process.exit(2);
}
const folder = await writeNextMigration(name);
console.log(folder ? `Wrote ${folder}/migration.sql` : 'The schema has no changes: no migration written.');
