// Prometheus metrics (prom-client), one registry per app: request durations by route, sign-ins
// by outcome, codes sent by channel and outcome, Twilio's latency and errors, rate-limit
// refusals, and Node's own (event-loop lag, memory, CPU). Served at /metrics (src/web/metrics.ts).
import type { RequestHandler } from 'express';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

/** What an audit event says, as far as metrics count it. */
export interface CountedEvent {
  type: string;
  outcome: string;
  detail?: Record<string, unknown>;
}

const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Sign-in events, by the stage they tell of. */
const SIGN_IN_STAGES: Record<string, string> = { sign_in_password: 'password', sign_in: 'signed_in' };

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const requests = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time to answer a request, by method, route (its pattern) and status code',
    labelNames: ['method', 'route', 'status'],
    buckets: SECONDS,
    registers,
  });
  const signIns = new Counter({
    name: 'sign_ins_total',
    help: 'Sign-in attempts by stage (password: the password checked; signed_in: the sign-in granted or refused at its end) and outcome',
    labelNames: ['stage', 'outcome'],
    registers,
  });
  const codesSent = new Counter({
    name: 'codes_sent_total',
    help: 'Codes sent (or refused before sending) by channel and outcome',
    labelNames: ['channel', 'outcome'],
    registers,
  });
  const codeChecks = new Counter({
    name: 'code_checks_total',
    help: 'Codes checked, by outcome',
    labelNames: ['outcome'],
    registers,
  });
  const rateLimited = new Counter({
    name: 'rate_limit_refusals_total',
    help: 'Requests refused by a rate limit, by rule',
    labelNames: ['rule'],
    registers,
  });
  const twilio = new Histogram({
    name: 'twilio_request_duration_seconds',
    help: "Twilio API calls by operation and outcome (Twilio's status class, or network for no answer)",
    labelNames: ['operation', 'outcome'],
    buckets: SECONDS,
    registers,
  });

  const label = (value: unknown) => (typeof value === 'string' && value.length <= 40 ? value : 'other');

  return {
    registry,

    /** Counts an audit event in the metric it feeds, if any. */
    countEvent(event: CountedEvent): void {
      const stage = SIGN_IN_STAGES[event.type];
      if (stage) signIns.inc({ stage, outcome: label(event.outcome) });
      else if (event.type === 'code_sent')
        codesSent.inc({ channel: label(event.detail?.channel), outcome: label(event.outcome) });
      else if (event.type === 'code_checked') codeChecks.inc({ outcome: label(event.outcome) });
      else if (event.type === 'rate_limited') rateLimited.inc({ rule: label(event.detail?.rule) });
    },

    /** Times a Twilio call: `outcome` is 2xx, 4xx, 5xx or network. */
    timeTwilio: (operation: string, seconds: number, outcome: string): void => {
      twilio.observe({ operation, outcome }, seconds);
    },

    /** Times every request that reaches it, by the route that answered it. */
    requestTimer: ((req, res, next) => {
      const end = requests.startTimer();
      res.once('finish', () => {
        const route = req.route ? `${req.baseUrl}${String((req.route as { path: unknown }).path)}` : 'unmatched';
        end({ method: req.method, route, status: String(res.statusCode) });
      });
      next();
    }) as RequestHandler,
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
