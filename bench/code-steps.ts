// What the code step's runs need (bench/main.ts, bench/cpu.ts): the Twilio stand-in in a
// process of its own, and people signed in up to their code step, each with its right code.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import request from 'supertest';
import { hashPassword } from '../src/accounts/passwords.js';
import { twilioCredentials } from '../test/support/twilio.js';
import { cookiesOf, formOf, submit } from './load.js';

export interface StandIn {
  url: string;
  /** The code last sent to `to` (among the latest 50 sent). */
  lastCodeFor: (to: string) => Promise<string>;
  stop: () => Promise<void>;
}

/**
 * The Twilio stand-in in a process of its own (`npm run twilio:stand-in`), so the code step is
 * not measured against a Twilio that shares its CPU with the load generator.
 */
export function startStandIn(): Promise<StandIn> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'tools/twilio-stand-in/main.ts'], {
    env: {
      PATH: process.env.PATH,
      TWILIO_STAND_IN_PORT: '0',
      TWILIO_ACCOUNT_SID: twilioCredentials.accountSid,
      TWILIO_AUTH_TOKEN: twilioCredentials.authToken,
      TWILIO_VERIFY_SERVICE_SID: twilioCredentials.serviceSid,
      TWILIO_API_VERIFY_SERVICE_SID: twilioCredentials.apiServiceSid,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let started = false;
    // Read everything it prints (one line per code sent), or its pipe fills and it stops.
    child.stdout.on('data', (chunk: Buffer) => {
      const url = /stand-in on (http:\/\/\S+)/.exec(chunk.toString())?.[1];
      if (!url || started) return;
      started = true;
      resolve({
        url,
        async lastCodeFor(to) {
          const outbox = (await request(url).get('/_stand-in/outbox')).body as Array<{ to: string; code: string }>;
          const code = outbox.find((message) => message.to === to)?.code;
          if (!code) throw new Error(`no code went to ${to}`);
          return code;
        },
        stop: () => new Promise((done) => child.once('exit', () => done()).kill('SIGTERM')),
      });
    });
    child.once('exit', (code) => reject(new Error(`the stand-in exited with ${code}`)));
  });
}

// People made so far by this process: every person (and phone number) is new, whichever app
// and database they are made for, since the apps may share one stand-in.
let made = 0;
// Sign-ins made at once while preparing: well within the 50 codes the stand-in's outbox lists.
const AT_ONCE = 10;

/** People with a phone factor, signed in up to the code step: what each code check needs. */
export async function pendingCodeSteps(
  app: string,
  databaseUrl: string,
  count: number,
  standIn: Pick<StandIn, 'lastCodeFor'>,
  password: string,
): Promise<Array<{ cookie: string; body: string }>> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const hash = await hashPassword(password);
  const people = Array.from({ length: count }, () => {
    made += 1;
    return {
      id: randomUUID(),
      email: `code-step-${made}@bench.example`,
      phone: `+3361${String(made).padStart(7, '0')}`,
    };
  });
  for (const person of people) {
    await client.query('INSERT INTO users (id, email, password_hash, updated_at) VALUES ($1, $2, $3, now())', [
      person.id,
      person.email,
      hash,
    ]);
    await client.query("INSERT INTO user_factors (id, user_id, kind, phone_number) VALUES ($1, $2, 'phone', $3)", [
      randomUUID(),
      person.id,
      person.phone,
    ]);
  }
  await client.end();
  const steps: Array<{ cookie: string; body: string }> = [];
  for (let from = 0; from < people.length; from += AT_ONCE) {
    const batch = people.slice(from, from + AT_ONCE);
    const started = await Promise.all(
      batch.map(async (person) => {
        const login = await formOf(app, '/login');
        const answer = await submit(app, '/login', login, { email: person.email, password });
        if (answer.headers.location !== '/login/2fa') throw new Error(`no code step: ${answer.status}`);
        return formOf(app, '/login/2fa', cookiesOf(answer));
      }),
    );
    for (const [index, step] of started.entries())
      steps.push({
        cookie: step.cookies.join('; '),
        body: new URLSearchParams({
          code: await standIn.lastCodeFor(batch[index]!.phone),
          _csrf: step.token,
        }).toString(),
      });
  }
  return steps;
}
