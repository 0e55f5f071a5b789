// `npm run bench`: a wrong password for a real account and any password for an unknown email
// must take the same time, or response time tells an attacker which emails have accounts.
// Measures both over real HTTP on the real app (embedded Postgres, in-process sessions) and
// fails when their medians differ by more than TOLERANCE.
import { performance } from 'node:perf_hooks';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { createApp } from '../src/web/app.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/core/logger.js';
import { openServices } from '../src/core/services.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 40);
const TOLERANCE = 0.2;
const PASSWORD = 'correct horse battery staple';

const config = loadConfig({
  NODE_ENV: 'test',
  LOG_LEVEL: 'silent',
  PGLITE_DATA_DIR: 'memory://',
  LIMIT_SIGN_INS_PER_IP: '1000000',
  LIMIT_SIGN_IN_LOCK_AFTER: '1000000',
  LIMIT_SIGN_UPS_PER_IP: '1000000',
});
const services = await openServices(config, createLogger('silent'));
const server = createApp({ config, logger: createLogger('silent'), services }).listen(0, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

async function signIn(email: string, password: string): Promise<number> {
  const agent = request.agent(url);
  const page = await agent.get('/login');
  const token = /name="_csrf" value="([^"]+)"/.exec(page.text)![1]!;
  const started = performance.now();
  const response = await agent.post('/login').type('form').send({ email, password, _csrf: token });
  const elapsed = performance.now() - started;
  if (response.status !== 401) throw new Error(`expected 401, got ${response.status}`);
  return elapsed;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

try {
  const signup = request.agent(url);
  const form = await signup.get('/signup');
  const token = /name="_csrf" value="([^"]+)"/.exec(form.text)![1]!;
  await signup
    .post('/signup')
    .type('form')
    .send({ email: 'bench@example.com', password: PASSWORD, passwordConfirmation: PASSWORD, _csrf: token });

  const known: number[] = [];
  const unknown: number[] = [];
  for (let i = 0; i < ROUNDS; i += 1) {
    // Interleaved, so drift in the machine's load affects both alike.
    known.push(await signIn('bench@example.com', `wrong password ${i}`));
    unknown.push(await signIn(`nobody${i}@example.com`, `wrong password ${i}`));
  }
  const knownMs = median(known);
  const unknownMs = median(unknown);
  const difference = Math.abs(knownMs - unknownMs) / Math.max(knownMs, unknownMs);
  console.log(`sign-in with a wrong password, ${ROUNDS} rounds each (median):`);
  console.log(`  existing account  ${knownMs.toFixed(1)} ms`);
  console.log(`  unknown email     ${unknownMs.toFixed(1)} ms`);
  console.log(`  difference        ${(difference * 100).toFixed(1)} % (target: under ${TOLERANCE * 100} %)`);
  if (difference > TOLERANCE) process.exitCode = 1;
} finally {
  server.close();
  server.closeAllConnections();
  await services.close();
}
