// /dev/outbox: what the console providers "sent" (codes, mail), for a developer without Twilio or
// an SMTP relay. Exists only outside production, and only for what goes nowhere else.
import { Router } from 'express';
import { HttpError } from '../core/errors.js';
import type { ConsoleSender } from '../factors/index.js';
import type { ConsoleTransport } from '../mail/index.js';
import { noStore } from './security.js';

export function devOutboxRouter(deps: {
  codes: ConsoleSender | undefined;
  mail: ConsoleTransport | undefined;
}): Router {
  const { codes, mail } = deps;
  const router = Router();
  router.get('/dev/outbox', noStore, (_req, res) => {
    if (!codes && !mail) throw new HttpError(404, 'There is nothing at this address.', 'Page not found');
    res.render('outbox', {
      title: 'Outbox (development)',
      messages: codes?.outbox(),
      mails: mail?.outbox(),
    });
  });
  return router;
}
