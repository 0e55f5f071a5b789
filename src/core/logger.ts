// Structured logs (pino). Anything that could carry a secret is redacted at the source.
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, destination?: DestinationStream): Logger {
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
