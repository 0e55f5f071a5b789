// Client addresses, as the audit trail records them and per-IP limits count them.
import { isIP } from 'node:net';

/**
 * The address when it parses as one, else null. Behind a trusted proxy the address comes from
 * X-Forwarded-For, which Express passes on without checking it is an address.
 */
export function validIp(ip: string | undefined): string | null {
  return ip !== undefined && isIP(ip) ? ip : null;
}

const MAPPED_IPV4_PREFIX = ['0', '0', '0', '0', '0', 'ffff'];

/**
 * The key per-IP limits count a client under. One IPv6 subscriber is given a whole /64 (often
 * more) and may use any address in it, so IPv6 is counted per /64, or a single client would
 * get 2^64 budgets. An IPv4-mapped IPv6 address (::ffff:1.2.3.4, what a dual-stack socket
 * reports for an IPv4 client) is its IPv4 address. Whatever is not an address shares one key.
 */
export function ipLimitKey(ip: string | undefined): string {
  const address = validIp(ip);
  if (!address) return 'unknown';
  if (isIP(address) === 4) return address;
  const groups = ipv6Groups(address.split('%')[0]!);
  if (groups.slice(0, 6).join(':') === MAPPED_IPV4_PREFIX.join(':')) {
    const [high, low] = groups.slice(6).map((group) => parseInt(group, 16));
    return [high! >> 8, high! & 0xff, low! >> 8, low! & 0xff].join('.');
  }
  return `${groups.slice(0, 4).join(':')}::/64`;
}

/** The eight groups of a valid IPv6 address, lower-case without leading zeros. */
function ipv6Groups(address: string): string[] {
  const [head, tail] = address.includes('::') ? address.split('::') : [address, undefined];
  const parts = (text: string | undefined) => (text ? text.split(':').flatMap(dottedToGroups) : []);
  const before = parts(head);
  const after = parts(tail);
  const zeros = tail === undefined ? [] : Array<string>(8 - before.length - after.length).fill('0');
  return [...before, ...zeros, ...after].map((group) => parseInt(group, 16).toString(16));
}

/** A trailing dotted IPv4 part (::ffff:1.2.3.4) as the two groups it stands for. */
function dottedToGroups(part: string): string[] {
  if (!part.includes('.')) return [part];
  const [a, b, c, d] = part.split('.').map(Number);
  return [((a! << 8) | b!).toString(16), ((c! << 8) | d!).toString(16)];
}
