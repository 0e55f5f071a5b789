// What the "Use another way" form accepts: which factor, and for a phone which way.
import { z } from 'zod';

export const chooseForm = z.object({
  factor: z.uuid(),
  via: z.enum(['sms', 'call']).optional(),
});
