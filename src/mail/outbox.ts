// The mail outbox: a mail is written in the transaction of the change it tells of (so it goes
// out if and only if the change landed, and a request never waits on the relay), and a worker
// in every instance sends what is due. Rows are claimed with FOR UPDATE SKIP LOCKED, so two
// instances never send one mail twice; a claim is a lease, so a mail whose instance died
// mid-send is tried again later. Messages are sealed at rest: their links hold tokens.
import type { DatabaseClient, PrismaClient } from '../core/db/client.js';
import type { Logger } from '../core/logger.js';
import type { SecretBox } from '../core/secret-box.js';
import { addressHint, type MailMessage, type MailTransport } from './transport.js';

const SEAL_PURPOSE = 'mail outbox';
const BATCH = 10;
/** A claimed mail is someone else's to retry after this long (the send's own time-outs are far shorter). */
const LEASE_SECONDS = 120;
/** Tries before a mail is dropped (with an error in the log): about a day, backing off. */
const MAX_ATTEMPTS = 12;
const POLL_MS = 2_000;
/** After an enqueue: long enough for its transaction to commit, short enough to feel immediate. */
const SOON_MS = 50;

/** Seconds until the next try after `attempts` failed ones: 30 s, 1 min, 2 min, ... at most 4 h. */
export const retryDelaySeconds = (attempts: number) => Math.min(30 * 2 ** (attempts - 1), 4 * 3_600);

interface ClaimedRow {
  id: bigint;
  sealed: string;
  attempts: number;
}

export function mailOutbox(deps: { prisma: PrismaClient; box: SecretBox; transport: MailTransport; logger: Logger }) {
  const { prisma, box, transport, logger } = deps;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = true;

  async function deliverOne(row: ClaimedRow): Promise<void> {
    const opened = box.open(row.sealed, SEAL_PURPOSE);
    if (opened === undefined) {
      // Sealed with a key no longer configured (a development restart with a fresh secret).
      logger.error({ mailId: String(row.id) }, 'a queued mail could not be opened with the configured keys; dropped');
      await prisma.mailOutbox.delete({ where: { id: row.id } });
      return;
    }
    const message = JSON.parse(opened) as MailMessage;
    try {
      await transport.send(message);
      await prisma.mailOutbox.delete({ where: { id: row.id } });
      logger.info({ mailId: String(row.id), to: addressHint(message.to), subject: message.subject }, 'mail sent');
    } catch (error) {
      const reason = error instanceof Error ? error.message.slice(0, 500) : 'unknown error';
      if (row.attempts >= MAX_ATTEMPTS) {
        logger.error(
          { mailId: String(row.id), to: addressHint(message.to), reason },
          'mail dropped after every try failed',
        );
        await prisma.mailOutbox.delete({ where: { id: row.id } });
        return;
      }
      const delay = retryDelaySeconds(row.attempts);
      logger.warn(
        { mailId: String(row.id), to: addressHint(message.to), reason, retryInSeconds: delay },
        'mail not sent; will try again',
      );
      await prisma.mailOutbox.update({
        where: { id: row.id },
        data: { lastError: reason, nextAttemptAt: new Date(Date.now() + delay * 1_000) },
      });
    }
  }

  /** Sends every mail that is due, a batch at a time. */
  async function deliverDue(): Promise<void> {
    for (;;) {
      const rows = await prisma.$queryRaw<ClaimedRow[]>`
        UPDATE mail_outbox SET attempts = attempts + 1,
               next_attempt_at = now() + make_interval(secs => ${LEASE_SECONDS})
         WHERE id IN (SELECT id FROM mail_outbox WHERE next_attempt_at <= now()
                       ORDER BY id LIMIT ${BATCH} FOR UPDATE SKIP LOCKED)
        RETURNING id, sealed, attempts`;
      for (const row of rows) await deliverOne(row);
      if (rows.length < BATCH || stopped) return;
    }
  }

  function run(): Promise<void> {
    // One run at a time in this process; a run asked for meanwhile waits for the next tick.
    running ??= deliverDue()
      .catch((error: unknown) => logger.warn({ err: error }, 'the mail outbox could not be read; will try again'))
      .finally(() => {
        running = undefined;
      });
    return running;
  }

  function schedule(ms: number): void {
    if (stopped) return;
    clearTimeout(timer);
    timer = setTimeout(() => void run().finally(() => schedule(POLL_MS)), ms);
    timer.unref();
  }

  return {
    /** Queues `message` inside `db` (the transaction of the change it tells of). */
    async enqueue(message: MailMessage, db: DatabaseClient): Promise<void> {
      await db.mailOutbox.create({ data: { sealed: box.seal(JSON.stringify(message), SEAL_PURPOSE) } });
      schedule(SOON_MS);
    },

    /** Starts sending: now, then every few seconds (mail queued by other instances, retries). */
    start(): void {
      stopped = false;
      schedule(0);
    },

    /** Stops the worker and waits for a send in progress. */
    async stop(): Promise<void> {
      stopped = true;
      clearTimeout(timer);
      await running;
    },

    deliverDue: run,
  };
}

export type MailOutbox = ReturnType<typeof mailOutbox>;
