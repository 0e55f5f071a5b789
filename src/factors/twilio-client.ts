// The `twilio` SDK's client for Verify, shared by the phone factor's sender and the TOTP
// factor's Twilio back end, and the one way both read a Twilio failure.
import twilio from 'twilio';
import type { TwilioConfig } from '../config.js';

const TWILIO_VERIFY_ORIGIN = 'https://verify.twilio.com';

/** Sends the SDK's requests to a stand-in of the Verify API instead (development and tests). */
class RedirectingRequestClient extends twilio.RequestClient {
  constructor(
    private readonly baseUrl: string,
    timeoutMs: number,
  ) {
    super({ timeout: timeoutMs });
  }

  override request<T>(options: Parameters<twilio.RequestClient['request']>[0] & { data?: T }) {
    const uri = String(options.uri);
    const redirected = uri.startsWith(TWILIO_VERIFY_ORIGIN)
      ? this.baseUrl.replace(/\/$/, '') + uri.slice(TWILIO_VERIFY_ORIGIN.length)
      : uri;
    return super.request<T>({ ...options, uri: redirected });
  }
}

/** The Verify service named in the configuration, without automatic retries. */
export function verifyService(config: TwilioConfig) {
  const client = twilio(config.username, config.password, {
    accountSid: config.accountSid,
    timeout: config.timeoutMs,
    autoRetry: false,
    ...(config.apiBaseUrl ? { httpClient: new RedirectingRequestClient(config.apiBaseUrl, config.timeoutMs) } : {}),
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
