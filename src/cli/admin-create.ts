// `npm run admin:create -- <email>`: makes the first admin. An existing account is promoted;
// otherwise an account is created with ADMIN_PASSWORD, or with a generated passphrase that is
// printed once. Uses DATABASE_URL, or the embedded database when it is not set: through the
// running app when it has it open, so the app sees the new admin at once and nothing is lost.
// Goes through the accounts feature like the pages do, so the change is audited (admin_created).
import { randomInt } from 'node:crypto';
import { dictionary } from '@zxcvbn-ts/language-common';
import { z } from 'zod';
import {
  MAX_EMAIL_LENGTH,
  MAX_PASSWORD_LENGTH,
  MIN_PASSWORD_LENGTH,
  normaliseEmail,
  type AccountsService,
  type PasswordProblem,
} from '../accounts/index.js';
import type { RequestContext } from '../audit/index.js';
import { openMail } from '../mail/index.js';
import { composeDomain } from '../compose.js';
import { loadConfig } from '../config.js';
import { openDatabase } from '../core/db/client.js';
import { createLogger } from '../core/logger.js';
import { commandDatabase } from './database.js';

// The CLI's own wording of the password rules (the pages word them in src/web/messages.ts).
const PASSWORD_PROBLEMS: Record<PasswordProblem, string> = {
  too_short: `Use at least ${MIN_PASSWORD_LENGTH} characters. A few unrelated words make a strong password.`,
  too_long: `Use at most ${MAX_PASSWORD_LENGTH} characters.`,
  control_characters: 'Use only characters you can type: no control characters.',
  common: 'This password is one of the most commonly used and easy to guess. Choose another.',
  is_email: 'Do not use your email address as your password.',
  repeated: 'A single repeated character is easy to guess. Choose another password.',
};

function passphrase(): string {
  const words = dictionary['diceware-common'];
  return Array.from({ length: 6 }, () => words[randomInt(words.length)]).join(' ');
}

const email = z
  .string()
  .transform(normaliseEmail)
  .pipe(z.email().max(MAX_EMAIL_LENGTH))
  .safeParse(process.argv[2] ?? '');
if (!email.success) {
  console.error('Usage: npm run admin:create -- <email>');
  process.exit(2);
}

/** A command run on the server: no IP address, no browser. */
const COMMAND_LINE: RequestContext = { ip: undefined, userAgent: undefined };

async function makeAdmin(accounts: AccountsService, address: string): Promise<void> {
  if ((await accounts.makeAdmin(address, COMMAND_LINE)) === 'done') {
    console.log(`${address} is now an admin.`);
    return;
  }
  const given = process.env.ADMIN_PASSWORD;
  const password = given ?? passphrase();
  const created = await accounts.createAdmin(address, password, COMMAND_LINE);
  if (created.ok) {
    console.log(`Created the admin ${address}.`);
    if (!given) console.log(`Password (shown once, keep it safe): ${password}`);
    return;
  }
  if (created.reason === 'weak_password') throw new Error(`ADMIN_PASSWORD: ${PASSWORD_PROBLEMS[created.problem]}`);
  // Someone signed up with this email meanwhile: promote that account.
  if ((await accounts.makeAdmin(address, COMMAND_LINE)) !== 'done')
    throw new Error(`${address}: the account changed meanwhile; run the command again.`);
  console.log(`${address} is now an admin.`);
}

try {
  const config = loadConfig();
  // Only errors: the command's own lines are its output (the console code sender's notice is not).
  const logger = createLogger('error', config.logFormat);
  const target = await commandDatabase(config.database);
  try {
    // The schema is brought up to date first, as the app does. One connection is all this
    // command needs, and all a running app's embedded database takes at a time (client.ts).
    const database = await openDatabase(
      { ...config.database, url: target.url, migrateOnStart: true, poolSize: 1 },
      logger,
    );
    try {
      // Mail queued here (none is, today) would be sent by the running app's outbox worker.
      const mail = openMail(config.mail, database.prisma, logger);
      try {
        const { accounts } = composeDomain({ config, logger, database, redis: undefined, mail });
        await makeAdmin(accounts, email.data);
      } finally {
        await mail.close();
      }
    } finally {
      await database.close();
    }
  } finally {
    await target.close();
  }
  console.log('In production, turn on two-factor authentication on /account before opening /admin.');
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
}
