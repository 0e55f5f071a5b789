// Every kind of second factor the app knows. Adding a kind: a folder beside phone/ that
// implements FactorKind (factor.ts), and one line here.
import type { FactorKind } from './factor.js';
import type { PasskeyFactor } from './passkey/factor.js';
import type { PhoneFactor } from './phone/factor.js';
import type { RecoveryCodesFactor } from './recovery-codes/factor.js';
import type { TotpFactor } from './totp/factor.js';

export interface FactorKinds {
  phone: PhoneFactor;
  totp: TotpFactor;
  passkey: PasskeyFactor;
  recovery_codes: RecoveryCodesFactor;
}

export type FactorKindName = keyof FactorKinds;

export function factorRegistry(kinds: FactorKinds) {
  const byName = new Map<string, FactorKind>(Object.entries(kinds));
  return {
    ...kinds,
    /** The kind of a stored factor; undefined for a kind this version does not know (a rollback). */
    kindOf(factor: { kind: string }): FactorKind | undefined {
      return byName.get(factor.kind);
    },
    /**
     * Whether a stored factor is a way back in (recovery codes) rather than a second factor. A
     * kind this version does not know counts as a second factor: 2FA stays on for it.
     */
    isBackup(factor: { kind: string }): boolean {
      return byName.get(factor.kind)?.backup === true;
    },
    /** The kinds that are ways back in rather than second factors. */
    backupKinds(): string[] {
      return [...byName.values()].filter((kind) => kind.backup === true).map((kind) => kind.kind);
    },
  };
}

export type FactorRegistry = ReturnType<typeof factorRegistry>;
