// A browser-like visitor on keep-alive connections, as a real browser uses them (supertest
// opens a connection per request, so it cannot see a server dropping one): a cookie jar,
// forms sent with their CSRF token, and every request's outcome reported, including the ones
// that never got an answer. Used by the outage tests and the soak.
import http from 'node:http';

export interface Answer {
  status: number;
  location: string | undefined;
  body: string;
}

/** What happened to one request: its status, or how it went unanswered. */
export type Outcome = { route: string; status: number } | { route: string; unanswered: string };

const REQUEST_TIMEOUT_MS = 30_000;
const CSRF_FIELD = /name="_csrf" value="([^"]+)"/;

export class NoAnswer extends Error {
  constructor(readonly reason: string) {
    super(`no answer: ${reason}`);
  }
}

export class Visitor {
  private readonly cookies = new Map<string, string>();

  constructor(
    private readonly baseUrl: string,
    private readonly agent: http.Agent,
    private readonly report: (outcome: Outcome) => void,
  ) {}

  get(path: string): Promise<Answer> {
    return this.send('GET', path);
  }

  post(path: string, fields: Record<string, string>): Promise<Answer> {
    return this.send('POST', path, new URLSearchParams(fields).toString());
  }

  /** Opens the page at `formPath` and, when it offers a form, posts `fields` to `action`. */
  async submit(formPath: string, action: string, fields: Record<string, string>): Promise<Answer> {
    const page = await this.get(formPath);
    const token = CSRF_FIELD.exec(page.body)?.[1];
    if (page.status !== 200 || !token) return page;
    return this.post(action, { ...fields, _csrf: token });
  }

  private send(method: 'GET' | 'POST', path: string, form?: string): Promise<Answer> {
    const route = `${method} ${path.split('?')[0]}`;
    const headers: Record<string, string> = { accept: 'text/html' };
    if (this.cookies.size) headers.cookie = [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
    if (form !== undefined) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      headers['content-length'] = String(Buffer.byteLength(form));
    }
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (reason: string) => {
        if (settled) return;
        settled = true;
        this.report({ route, unanswered: reason });
        reject(new NoAnswer(reason));
      };
      const request = http.request(new URL(path, this.baseUrl), { method, headers, agent: this.agent }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', (error) => fail(error.message));
        response.on('end', () => {
          if (!response.complete) return fail('the answer was cut off');
          if (settled) return;
          settled = true;
          this.keepCookies(response.headers['set-cookie']);
          const status = response.statusCode ?? 0;
          this.report({ route, status });
          resolve({ status, location: response.headers.location, body: Buffer.concat(chunks).toString() });
        });
      });
      request.setTimeout(REQUEST_TIMEOUT_MS, () => {
        fail(`no answer within ${REQUEST_TIMEOUT_MS / 1000} s`);
        request.destroy();
      });
      request.on('error', (error: NodeJS.ErrnoException) => fail(error.code ?? error.message));
      request.end(form);
    });
  }

  private keepCookies(setCookie: string[] | undefined): void {
    for (const cookie of setCookie ?? []) {
      const [pair = '', ...attributes] = cookie.split(';');
      const separator = pair.indexOf('=');
      const name = pair.slice(0, separator).trim();
      const expired = attributes.some((attribute) => /^\s*expires=Thu, 01 Jan 1970/i.test(attribute));
      if (expired) this.cookies.delete(name);
      else this.cookies.set(name, pair.slice(separator + 1).trim());
    }
  }
}
