// The `twilio` SDK's client for Verify, shared by the phone factor's sender and the TOTP
// factor's Twilio back end, and the one way both read a Twilio failure.
import twilio from 'twilio';
import type { TwilioConfig } from '../config.js';

const TWILIO_VERIFY_ORIGIN = 'https://verify.twilio.com';

/** Is told of every Twilio call: its operation, how long it took, and 2xx, 4xx, 5xx or network. */
export type TwilioTimer = (operation: string, seconds: number, outcome: string) => void;

/** A call's operation without the IDs in its path: "POST Entities/:id/Factors". */
function operationOf(method: unknown, uri: string): string {
  const path = new URL(uri).pathname.replace(/^\/v2\/Services\/[^/]+\/?/, '');
  const shape = path
    .split('/')
    .map((segment) => (/^[A-Z]{2}[0-9a-f]{32}$|^[0-9a-f-]{36}$/.test(segment) ? ':id' : segment))
    .join('/');
  return `${typeof method === 'string' ? method.toUpperCase() : 'GET'} ${shape}`;
}

/** Times each call (metrics), and sends it to a stand-in of the Verify API when one is named (development and tests). */
class VerifyRequestClient extends twilio.RequestClient {
  constructor(
    private readonly baseUrl: string | undefined,
    timeoutMs: number,
    private readonly timed: TwilioTimer | undefined,
  ) {
    super({ timeout: timeoutMs });
  }

  override async request<T>(options: Parameters<twilio.RequestClient['request']>[0] & { data?: T }) {
    const uri = String(options.uri);
    const redirected =
      this.baseUrl && uri.startsWith(TWILIO_VERIFY_ORIGIN)
        ? this.baseUrl.replace(/\/$/, '') + uri.slice(TWILIO_VERIFY_ORIGIN.length)
        : uri;
    const operation = operationOf(options.method, uri);
    const started = performance.now();
    const elapsed = () => (performance.now() - started) / 1000;
    try {
      const response = await super.request<T>({ ...options, uri: redirected });
      this.timed?.(operation, elapsed(), `${Math.floor(response.statusCode / 100)}xx`);
      return response;
    } catch (error) {
      this.timed?.(operation, elapsed(), 'network');
      throw error;
    }
  }
}

/** The Verify service named in the configuration, without automatic retries. */
export function verifyService(config: TwilioConfig, timed?: TwilioTimer) {
  const client = twilio(config.username, config.password, {
    accountSid: config.accountSid,
    timeout: config.timeoutMs,
    autoRetry: false,
    httpClient: new VerifyRequestClient(config.apiBaseUrl, config.timeoutMs, timed),
  });
  return client.verify.v2.services(config.verifyServiceSid);
}

export interface TwilioFailure {
  /** Twilio's HTTP status, when Twilio answered. */
  status?: number;
  /** Twilio's error code, when Twilio answered. */
  code?: number;
  /** The network error's code (ECONNREFUSED, ECONNRESET, ECONNABORTED for a time-out...), when it did not. */
  network?: string;
}

// Network failures that happen before any request reaches Twilio: nothing can have been done.
// Any other (a time-out, a connection reset) may come after Twilio took the request.
const NEVER_REACHED_TWILIO: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
]);

/** Whether a request that got no answer surely never reached Twilio (so Twilio did nothing). */
export function neverReachedTwilio(network: string | undefined): boolean {
  return network !== undefined && NEVER_REACHED_TWILIO.has(network);
}

export function failureOf(error: unknown): TwilioFailure {
  if (error && typeof error === 'object') {
    const { status, code } = error as { status?: unknown; code?: unknown };
    return {
      status: typeof status === 'number' ? status : undefined,
      code: typeof code === 'number' ? code : undefined,
      network: typeof code === 'string' ? code : undefined,
    };
  }
  return {};
}
