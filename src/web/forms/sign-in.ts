// What the sign-in's step forms accept beside the answer: "Use another way" (which factor, and
// for a phone which way), and the box that remembers the browser.
import { z } from 'zod';

export const chooseForm = z.object({
  factor: z.uuid(),
  via: z.enum(['sms', 'call']).optional(),
});

/** "Don't ask again on this browser for 30 days", sent with the answer of a second-factor step. */
export const rememberBrowserForm = z.object({
  rememberBrowser: z.preprocess((value) => value === 'on', z.boolean()),
});
