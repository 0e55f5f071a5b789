// Structured logs (pino). Anything that could carry a secret is redacted at the source.
import { pino, type DestinationStream, type Logger } from 'pino';
import { PinoPretty } from 'pino-pretty';

export type { Logger };

/** JSON lines for machines (production, log shippers), or readable lines for a developer. */
export type LogFormat = 'json' | 'pretty';

interface RequestLine {
  req?: { method?: string; url?: string };
  res?: { statusCode?: number };
  responseTime?: number;
}

// A request's line reads "GET /account 200 12ms request completed"; its id and client IP stay
// in the JSON format, where someone tracing a request looks.
function readableMessage(entry: Record<string, unknown>, messageKey: string): string {
  const { req, res, responseTime } = entry as RequestLine;
  const message = typeof entry[messageKey] === 'string' ? entry[messageKey] : '';
  if (!req?.method) return message;
  const timing = responseTime === undefined ? '' : ` ${responseTime}ms`;
  return `${req.method} ${req.url ?? ''} ${res?.statusCode ?? ''}${timing} ${message}`;
}

function prettyStream(): DestinationStream {
  return PinoPretty({
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,req,res,responseTime',
    messageFormat: readableMessage,
    // Written before the next statement runs, so nothing is lost when the process exits.
    sync: true,
  });
}

export function createLogger(level: string, output: LogFormat | DestinationStream = 'json'): Logger {
  // JSON lines go out asynchronously: lines written while a write is under way leave together,
  // in one system call, and pino writes what is left when the process exits.
  const destination =
    output === 'pretty' ? prettyStream() : output === 'json' ? pino.destination({ dest: 1, sync: false }) : output;
  return pino(
    {
      level,
      redact: {
        paths: [
          'req.headers.cookie',
          'req.headers.authorization',
          'res.headers["set-cookie"]',
          '*.password',
          '*.passwordConfirmation',
          '*.code',
        ],
        censor: '[redacted]',
      },
    },
    destination,
  );
}
