// Waiting for a state the app reaches on its own (a dependency reconnected, a request parked
// on a lock), polling instead of sleeping for a guessed time.
import assert from 'node:assert/strict';

export async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail(`timed out waiting until ${what}`);
}
