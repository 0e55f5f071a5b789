// The only place that reads and writes `user_factors`. A row exists only once its factor was
// verified, so "two-factor authentication is on" is "the person has a row".
import { selectList, type Database, type DatabaseClient, type UserFactor } from '../core/db/client.js';

export type { UserFactor };

/** Every column of `user_factors`, by the model's field (a new field fails to compile until added). */
const FACTOR_COLUMNS = {
  id: 'id',
  userId: 'user_id',
  kind: 'kind',
  label: 'label',
  phoneNumber: 'phone_number',
  totpSecret: 'totp_secret',
  totpLastStep: 'totp_last_step',
  twilioEntity: 'twilio_entity',
  twilioFactorSid: 'twilio_factor_sid',
  totpLastCode: 'totp_last_code',
  createdAt: 'created_at',
  lastUsedAt: 'last_used_at',
} satisfies Record<keyof UserFactor, string>;

/** The order of every list of a person's factors: the one used last first, then the oldest. */
const FACTOR_ORDER = 'last_used_at DESC NULLS LAST, created_at ASC';

const READ_FACTORS = `SELECT ${selectList(FACTOR_COLUMNS)} FROM user_factors WHERE user_id = $1 ORDER BY ${FACTOR_ORDER}`;

/**
 * The factors of the person whose id is the SQL expression `userId`, as one json array, for a
 * statement that reads them with more (the signed-in person, src/sign-in): one round trip
 * where two were. `factorsFromJson` makes of it what `listForUser` returns.
 */
export const factorsAsJson = (userId: string): string =>
  `(SELECT coalesce(json_agg(json_build_object(${Object.entries(FACTOR_COLUMNS)
    .map(([field, column]) => `'${field}', ${column}`)
    .join(', ')}) ORDER BY ${FACTOR_ORDER}), '[]') FROM user_factors WHERE user_id = ${userId})`;

/** A factor as json has it: its dates are strings. */
export type FactorJson = {
  [Field in keyof UserFactor]: UserFactor[Field] extends Date
    ? string
    : UserFactor[Field] extends Date | null
      ? string | null
      : UserFactor[Field];
};

/** The factors of `factorsAsJson`, with their dates made Dates again (a new date field fails to compile here). */
export const factorsFromJson = (factors: FactorJson[]): UserFactor[] =>
  factors.map((factor) => ({
    ...factor,
    createdAt: new Date(factor.createdAt),
    lastUsedAt: factor.lastUsedAt === null ? null : new Date(factor.lastUsedAt),
  }));

export function factorsRepository({ prisma, read, write }: Pick<Database, 'prisma' | 'read' | 'write'>) {
  return {
    /**
     * The person's factors, the one they used last first (then the oldest). Outside a
     * transaction in plain SQL: every signed-in request reads them.
     */
    listForUser(userId: string, db?: DatabaseClient): Promise<UserFactor[]> {
      if (!db) return read<UserFactor>(READ_FACTORS, [userId]);
      return db.userFactor.findMany({
        where: { userId },
        orderBy: [{ lastUsedAt: { sort: 'desc', nulls: 'last' } }, { createdAt: 'asc' }],
      });
    },

    /**
     * Serialises changes to one person's factors: within the transaction `db`, every other
     * change to them waits, so two parallel enrolments cannot both add "the" phone.
     */
    async lockUser(userId: string, db: DatabaseClient): Promise<void> {
      await db.$queryRaw`SELECT 1 FROM users WHERE id = ${userId}::uuid FOR UPDATE`;
    },

    add(
      data: {
        userId: string;
        kind: string;
        label?: string | null;
        phoneNumber?: string | null;
        totpSecret?: string | null;
        totpLastStep?: number | null;
        twilioEntity?: string | null;
        twilioFactorSid?: string | null;
        totpLastCode?: string | null;
      },
      db: DatabaseClient = prisma,
    ): Promise<UserFactor> {
      return db.userFactor.create({ data });
    },

    async update(
      id: string,
      data: { label?: string | null; phoneNumber?: string | null; totpSecret?: string | null },
      db: DatabaseClient = prisma,
    ): Promise<void> {
      await db.userFactor.update({ where: { id }, data });
    },

    /**
     * Moves an authenticator app's mark of the last code accepted (its time step, and for Twilio
     * a hash of the code) from `from` to `to`, only if it is still `from`: of two requests with
     * the same code, one wins. Says whether this one did.
     */
    async advanceTotpStep(
      id: string,
      from: { step: number | null; code: string | null },
      to: { step: number; code: string | null },
      db: DatabaseClient = prisma,
    ): Promise<boolean> {
      const { count } = await db.userFactor.updateMany({
        where: { id, kind: 'totp', totpLastStep: from.step, totpLastCode: from.code },
        data: { totpLastStep: to.step, totpLastCode: to.code },
      });
      return count === 1;
    },

    async markUsed(id: string, at: Date): Promise<void> {
      // A factor removed meanwhile is simply not there to mark. Plain SQL: every sign-in with a
      // factor marks it.
      await write('UPDATE user_factors SET last_used_at = $2 WHERE id = $1::uuid', [id, at]);
    },

    /** Removes one factor of the person; says whether it was there. */
    async remove(userId: string, id: string, db: DatabaseClient = prisma): Promise<boolean> {
      const { count } = await db.userFactor.deleteMany({ where: { id, userId } });
      return count === 1;
    },

    /** Removes every factor of the person; says how many there were. */
    async removeAll(userId: string, db: DatabaseClient = prisma): Promise<number> {
      const { count } = await db.userFactor.deleteMany({ where: { userId } });
      return count;
    },

    /** How many people have at least one factor of a kind other than `notKinds`. */
    countUsersWithFactors(notKinds: string[]): Promise<number> {
      return prisma.user.count({ where: { factors: { some: { kind: { notIn: notKinds } } } } });
    },

    /** How many people have at least one factor of each kind, by kind. */
    async countUsersByKind(): Promise<Map<string, number>> {
      const rows = await prisma.$queryRaw<Array<{ kind: string; people: bigint }>>`
        SELECT kind, count(DISTINCT user_id) AS people FROM user_factors GROUP BY kind`;
      return new Map(rows.map((row) => [row.kind, Number(row.people)]));
    },

    /** The factors of each of these people, each person's used last first. */
    async listForUsers(userIds: string[]): Promise<Map<string, UserFactor[]>> {
      const rows = await prisma.userFactor.findMany({
        where: { userId: { in: userIds } },
        orderBy: [{ lastUsedAt: { sort: 'desc', nulls: 'last' } }, { createdAt: 'asc' }],
      });
      const byUser = new Map<string, UserFactor[]>();
      for (const row of rows) byUser.set(row.userId, [...(byUser.get(row.userId) ?? []), row]);
      return byUser;
    },
  };
}

export type FactorsRepository = ReturnType<typeof factorsRepository>;
