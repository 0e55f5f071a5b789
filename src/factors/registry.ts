// Every kind of second factor the app knows. Adding a kind: a folder beside phone/ that
// implements FactorKind (factor.ts), and one line here.
import type { FactorKind } from './factor.js';
import type { PhoneFactor } from './phone/factor.js';

export interface FactorKinds {
  phone: PhoneFactor;
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
  };
}

export type FactorRegistry = ReturnType<typeof factorRegistry>;
