// Random bytes for the values made on busy pages (the passkey challenge every view of /login
// makes). Each call to the system's CSPRNG costs a fixed few microseconds whatever its size, and
// WebCrypto's, which SimpleWebAuthn uses by default, more (bench/findings.md), so small values
// are cut from a block drawn in one call, as Node does for randomUUID. Every byte is handed out
// once, as a copy of its own: nothing returned shares memory with the block or another value.
import { randomFillSync } from 'node:crypto';

const BLOCK_SIZE = 4096;

let block = Buffer.alloc(0);
let used = 0;

/** `size` bytes from the CSPRNG, never handed out before, in an ArrayBuffer of their own. */
export function randomBytesFromBlock(size: number): Uint8Array<ArrayBuffer> {
  if (size > BLOCK_SIZE) return randomFillSync(new Uint8Array(size));
  if (used + size > block.length) {
    block = randomFillSync(Buffer.allocUnsafeSlow(BLOCK_SIZE));
    used = 0;
  }
  const bytes = new Uint8Array(block.subarray(used, used + size));
  // What was handed out does not stay behind in the block.
  block.fill(0, used, used + size);
  used += size;
  return bytes;
}
