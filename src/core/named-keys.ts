// Lists of keys named by an id, as the environment gives them: "k2:<key>,k1:<key>", the first
// one in use, the others still accepted (rotation). Each kind of key says how its value reads.

/** `read` turns one key's text into a key, or says what is wrong with it (a sentence naming the key). */
export function parseNamedKeys<Key>(
  value: string,
  options: { idPattern: RegExp; idRule: string; read: (id: string, text: string) => Key | { problem: string } },
): { ok: true; keys: Array<{ id: string; key: Key }> } | { ok: false; problem: string } {
  const keys: Array<{ id: string; key: Key }> = [];
  for (const part of value
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)) {
    const colon = part.indexOf(':');
    const id = colon > 0 ? part.slice(0, colon) : '';
    if (!options.idPattern.test(id)) return { ok: false, problem: options.idRule };
    const key = options.read(id, part.slice(colon + 1));
    if (key && typeof key === 'object' && 'problem' in key) return { ok: false, problem: key.problem };
    if (keys.some((existing) => existing.id === id)) return { ok: false, problem: `key id ${id} is given twice` };
    keys.push({ id, key });
  }
  if (!keys.length) return { ok: false, problem: 'no key given' };
  return { ok: true, keys };
}
