// A person's factors as a whole: which they have (2FA is on while there is one), which they
// used last, and removing them: one (later, with several kinds) or all (turning 2FA off, an
// admin's reset). Each removal goes through the factor's kind, so a vendor's copy goes too.
import type { AuditLog, RequestContext } from '../audit/index.js';
import type { DatabaseClient, InTransaction } from '../core/db/client.js';
import type { UserFactor } from './factor.js';
import type { FactorRegistry } from './registry.js';
import type { FactorsRepository } from './repository.js';

export function factorsService(deps: {
  repository: FactorsRepository;
  registry: FactorRegistry;
  audit: AuditLog;
  inTransaction: InTransaction;
  now?: () => Date;
}) {
  const { repository, registry, audit, inTransaction } = deps;
  const now = deps.now ?? (() => new Date());

  async function removeAllIn(tx: DatabaseClient, userId: string, context: RequestContext): Promise<number> {
    await repository.lockUser(userId, tx);
    const factors = await repository.listForUser(userId, tx);
    for (const factor of factors)
      await registry.kindOf(factor)?.remove(factor, { userId, purpose: 'enrolment', context }, tx);
    return repository.removeAll(userId, tx);
  }

  return {
    /** The person's factors, the one used last first. */
    list: (userId: string): Promise<UserFactor[]> => repository.listForUser(userId),

    /** One factor of the person, or undefined. */
    async find(userId: string, factorId: string): Promise<UserFactor | undefined> {
      return (await repository.listForUser(userId)).find((factor) => factor.id === factorId);
    },

    /** Records that a sign-in was finished with this factor, so it is offered first next time. */
    markUsed: (factor: UserFactor): Promise<void> => repository.markUsed(factor.id, now()),

    /** Turns two-factor authentication off: every factor goes, in one transaction with its audit event. */
    disable(userId: string, context: RequestContext): Promise<void> {
      return inTransaction(async (tx) => {
        await removeAllIn(tx, userId, context);
        await audit.record({ type: 'two_factor_disabled', outcome: 'ok', userId, context }, tx);
      });
    },

    /**
     * Removes every factor of the person inside the caller's transaction `tx` (an admin's reset,
     * audited by the caller as its own action); says how many there were.
     */
    removeAllIn,

    /** How many people have two-factor authentication on. */
    countUsersWithFactors: () => repository.countUsersWithFactors(),

    /** Which of these people have two-factor authentication on. */
    usersWithFactors: (userIds: string[]) => repository.usersWithFactors(userIds),

    /** The phone number of each of these people who has a phone factor: E.164, to be shown masked. */
    phonesOf: (userIds: string[]): Promise<Map<string, string>> => repository.phonesOf(userIds),
  };
}

export type FactorsService = ReturnType<typeof factorsService>;
