// `npm run admin:create -- <email>`: makes the first admin. An existing account is promoted;
// otherwise an account is created with ADMIN_PASSWORD, or with a generated passphrase that is
// printed once. Uses DATABASE_URL, or the embedded database when it is not set.
import { randomInt } from 'node:crypto';
import { dictionary } from '@zxcvbn-ts/language-common';
import { PrismaPg } from '@prisma/adapter-pg';
import { emailField } from '../accounts/forms.js';
import { hashPassword, normalisePassword, passwordProblem } from '../accounts/passwords.js';
import { loadConfig } from '../config.js';
import { startEmbeddedPostgres } from '../core/db/embedded-postgres.js';
import { applyMigrations } from '../core/db/migrations.js';
import { PrismaClient } from '../generated/prisma/client.js';

function passphrase(): string {
  const words = dictionary['diceware-common'];
  return Array.from({ length: 6 }, () => words[randomInt(words.length)]).join(' ');
}

const email = emailField.safeParse(process.argv[2] ?? '');
if (!email.success) {
  console.error('Usage: npm run admin:create -- <email>');
  process.exit(2);
}
const { database } = loadConfig();
const embedded = database.url ? undefined : await startEmbeddedPostgres(database.pgliteDataDir);
const url = database.url ?? embedded!.url;
const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: url }) });
try {
  await applyMigrations(url);
  const existing = await prisma.user.findUnique({ where: { email: email.data } });
  if (existing) {
    await prisma.user.update({ where: { id: existing.id }, data: { role: 'ADMIN' } });
    console.log(`${email.data} is now an admin.`);
  } else {
    const given = process.env.ADMIN_PASSWORD;
    const password = normalisePassword(given ?? passphrase());
    const problem = passwordProblem(password, email.data);
    if (problem) throw new Error(`ADMIN_PASSWORD: ${problem}`);
    await prisma.user.create({ data: { email: email.data, passwordHash: await hashPassword(password), role: 'ADMIN' } });
    console.log(`Created the admin ${email.data}.`);
    if (!given) console.log(`Password (shown once, keep it safe): ${password}`);
  }
  console.log('In production, turn on two-factor authentication on /account before opening /admin.');
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
} finally {
  await prisma.$disconnect();
  await embedded?.stop();
}
