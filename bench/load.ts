// Load for the benchmark: autocannon runs against a server process while its resident memory
// is sampled, and the figures a table row needs; the sign-in forms the runs post.
import { readFile } from 'node:fs/promises';
import autocannon from 'autocannon';
import request from 'supertest';

export interface Measured {
  requestsPerSecond: number;
  p50: number;
  p99: number;
  /** The highest resident set size seen during the run, in MB. */
  peakRssMb: number;
  /** Answers other than the one expected (a wrong status, an error, a time-out). */
  unexpected: number;
  total: number;
}

/** The process's resident set size in MB (Linux), or 0 where /proc cannot tell. */
export async function residentMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kilobytes = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
  return kilobytes ? Math.round(Number(kilobytes) / 1024) : 0;
}

export interface Load {
  url: string;
  /** The server's process, whose memory is sampled. */
  pid: number;
  connections: number;
  /** Seconds, or a number of requests in all. */
  duration?: number;
  amount?: number;
  expectStatus: number;
  requests: autocannon.Request[];
}

export async function measure(load: Load): Promise<Measured> {
  let peakRssMb = await residentMb(load.pid);
  const sampler = setInterval(() => {
    void residentMb(load.pid).then((mb) => (peakRssMb = Math.max(peakRssMb, mb)));
  }, 250);
  let unexpected = 0;
  try {
    const result = await new Promise<autocannon.Result>((resolve, reject) => {
      const instance = autocannon(
        {
          url: load.url,
          connections: load.connections,
          ...(load.amount ? { amount: load.amount } : { duration: load.duration ?? 10 }),
          requests: load.requests,
          timeout: 10,
        },
        (error, outcome) => (error ? reject(error as Error) : resolve(outcome)),
      );
      instance.on('response', (_client, statusCode) => {
        if (statusCode !== load.expectStatus) unexpected += 1;
      });
    });
    return {
      requestsPerSecond: Math.round(result.requests.average),
      p50: result.latency.p50,
      p99: result.latency.p99,
      peakRssMb,
      unexpected: unexpected + result.errors + result.timeouts,
      total: result.requests.total,
    };
  } finally {
    clearInterval(sampler);
  }
}

/** The cookies an answer sets, as a request sends them back (`name=value`). */
export const cookiesOf = (response: { headers: Record<string, unknown> }) =>
  ((response.headers['set-cookie'] as string[] | undefined) ?? []).map((cookie) => cookie.split(';')[0]!);
const csrfIn = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';

/** A form's token and the cookies to post it with (the session's, when given). */
export async function formOf(url: string, path: string, cookies: string[] = []) {
  const page = await request(url).get(path).set('Cookie', cookies.join('; '));
  return { token: csrfIn(page.text), cookies: [...cookies, ...cookiesOf(page)] };
}

/** Posts `fields` with a form's token and cookies, as a browser submits the form. */
export function submit(url: string, path: string, form: { token: string; cookies: string[] }, fields: object) {
  return request(url)
    .post(path)
    .set('Cookie', form.cookies.join('; '))
    .type('form')
    .send({ ...fields, _csrf: form.token });
}
