// `npm run admin:create -- <email>`: makes the first admin. An existing account is promoted;
// otherwise an account is created with ADMIN_PASSWORD, or with a generated passphrase that is
// printed once. Uses DATABASE_URL, or the embedded database when it is not set: through the
// running app when it has it open, so the app sees the new admin at once and nothing is lost.
import { randomInt } from 'node:crypto';
import { dictionary } from '@zxcvbn-ts/language-common';
import { PrismaPg } from '@prisma/adapter-pg';
import { emailField } from '../web/forms/accounts.js';
import { hashPassword, normalisePassword, passwordProblem } from '../accounts/passwords.js';
import { loadConfig } from '../config.js';
import { applyMigrations } from '../core/db/migrations.js';
import { PrismaClient } from '../generated/prisma/client.js';
import { commandDatabase } from './database.js';

function passphrase(): string {
  const words = dictionary['diceware-common'];
  return Array.from({ length: 6 }, () => words[randomInt(words.length)]).join(' ');
}

const email = emailField.safeParse(process.argv[2] ?? '');
if (!email.success) {
  console.error('Usage: npm run admin:create -- <email>');
  process.exit(2);
}
async function makeAdmin(url: string, address: string): Promise<void> {
  const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: url }) });
  try {
    const existing = await prisma.user.findUnique({ where: { email: address } });
    if (existing) {
      await prisma.user.update({ where: { id: existing.id }, data: { role: 'ADMIN' } });
      console.log(`${address} is now an admin.`);
    } else {
      const given = process.env.ADMIN_PASSWORD;
      const password = normalisePassword(given ?? passphrase());
      const problem = passwordProblem(password, address);
      if (problem) throw new Error(`ADMIN_PASSWORD: ${problem}`);
      await prisma.user.create({ data: { email: address, passwordHash: await hashPassword(password), role: 'ADMIN' } });
      console.log(`Created the admin ${address}.`);
      if (!given) console.log(`Password (shown once, keep it safe): ${password}`);
    }
  } finally {
    await prisma.$disconnect();
  }
}

try {
  const database = await commandDatabase(loadConfig().database);
  try {
    await applyMigrations(database.url);
    await makeAdmin(database.url, email.data);
  } finally {
    await database.close();
  }
  console.log('In production, turn on two-factor authentication on /account before opening /admin.');
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
}
