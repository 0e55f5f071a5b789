// `npm run api:try`: the JSON API's phone verification tried by hand, in a terminal: asks for a
// number, sends it a code, asks for the code (offering the one the console provider's outbox or
// the Twilio stand-in shows, when there is one), verifies it, calls the protected route with the
// token and prints the token decoded. Every request and answer is printed as it goes.
//
//   npm run api:try                                     # the app on http://localhost:3000
//   npm run api:try -- --url http://localhost:4000      # another address
//   npm run api:try -- --stand-in http://127.0.0.1:4010 # read codes from the Twilio stand-in
import { createInterface } from 'node:readline/promises';
import { parseArgs } from 'node:util';
import { decodeJwt, decodeProtectedHeader } from 'jose';

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: process.env.API_URL ?? 'http://localhost:3000' },
    'stand-in': { type: 'string', default: process.env.TWILIO_API_BASE_URL },
  },
});
const base = values.url.replace(/\/$/, '');
const standIn = values['stand-in']?.replace(/\/$/, '');
const terminal = createInterface({ input: process.stdin, output: process.stdout });

async function call(method: 'GET' | 'POST', path: string, body?: object, headers: Record<string, string> = {}) {
  console.log(`\n→ ${method} ${base}${path}${body ? ` ${JSON.stringify(body)}` : ''}`);
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { ...(body ? { 'Content-Type': 'application/json' } : {}), ...headers },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // Not JSON: printed as it came.
  }
  console.log(`← ${response.status} ${text}`);
  return { status: response.status, body: parsed };
}

/** The latest code "sent" to `number` that this machine can see: the console outbox or the stand-in's. */
async function visibleCode(number: string): Promise<string | undefined> {
  try {
    if (standIn) {
      const sent = (await (await fetch(`${standIn}/_stand-in/outbox`)).json()) as Array<{ to: string; code: string }>;
      return sent.find((message) => message.to === number)?.code;
    }
    const page = await fetch(`${base}/dev/outbox`);
    if (!page.ok) return undefined;
    const row = (await page.text()).split('<tr>').find((candidate) => candidate.includes(`${number}<`));
    return row ? /class="otp">(\d+)</.exec(row)?.[1] : undefined;
  } catch {
    return undefined;
  }
}

async function main(): Promise<number> {
  console.log(`Trying the phone-verification API of ${base}.`);
  const number = await sendCode();
  if (!number) return 1;
  const token = await verifyCode(number);
  if (!token) return 1;
  const opened = await call('GET', '/api/auth/protected', undefined, { Authorization: `Bearer ${token}` });
  console.log('\nThe token, decoded (its signature checks against /.well-known/jwks.json):');
  console.log(JSON.stringify({ header: decodeProtectedHeader(token), payload: decodeJwt(token) }, null, 2));
  return opened.status === 200 ? 0 : 1;
}

/** Asks for a number until a code went to one: the number, or undefined when sending cannot work now. */
async function sendCode(): Promise<string | undefined> {
  for (;;) {
    const number = (await terminal.question('Phone number, with its country code (+33612345678): ')).trim();
    const sent = await call('POST', '/api/auth/send-verification', { phone_number: number });
    if (sent.status === 200) return number;
    if (sent.status >= 500 || sent.status === 429) return undefined;
  }
}

/** Asks for the code until one is right: the token, or undefined when checking cannot go on. */
async function verifyCode(number: string): Promise<string | undefined> {
  for (;;) {
    const seen = await visibleCode(number);
    const prompt = seen ? `Code (Enter for ${seen}, the one the outbox shows): ` : 'Code you received: ';
    const code = (await terminal.question(prompt)).trim() || seen || '';
    const verified = await call('POST', '/api/auth/verify-code', { phone_number: number, code });
    if (verified.status === 200 && typeof verified.body.token === 'string') return verified.body.token;
    if (verified.status !== 401 && verified.status !== 400) return undefined;
  }
}

main()
  .then((code) => {
    terminal.close();
    process.exitCode = code;
  })
  .catch((error: unknown) => {
    console.error(`\nThe API could not be reached at ${base}: ${(error as Error).message}`);
    terminal.close();
    process.exitCode = 1;
  });
