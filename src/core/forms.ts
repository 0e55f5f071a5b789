// The one way forms and query strings are read. Fields arrive as strings, arrays (a repeated
// field) or nothing at all; anything but a single string reads as empty, so validation says
// "enter ..." instead of crashing. Parsing never throws: it gives typed values, or one plain
// message per field for the form to show again (with 422).
import { z } from 'zod';

/** A text field; with `maxLength`, a longer value is refused with `tooLong` or a plain default. */
export function formText(maxLength?: number, tooLong = `Use at most ${maxLength} characters.`) {
  return z.preprocess(
    (value) => (typeof value === 'string' ? value : ''),
    maxLength ? z.string().max(maxLength, tooLong) : z.string(),
  );
}

/**
 * Free text that ends up in a database query (search boxes, filters). Postgres text cannot hold
 * NUL, and nobody types control characters, so they are refused like an over-long value.
 */
export function searchText(maxLength: number) {
  return formText(maxLength).refine(
    // eslint-disable-next-line no-control-regex -- control characters are what is refused
    (value) => !/[\u0000-\u001f\u007f]/.test(value),
    'Use letters, digits and punctuation only.',
  );
}

export type FieldErrors = Record<string, string>;

export type Parsed<T> = { ok: true; data: T } | { ok: false; errors: FieldErrors };

/** A request body or query string as `form` reads it, or the first message for each field. */
export function parseForm<T>(form: z.ZodType<T>, input: unknown): Parsed<T> {
  const result = form.safeParse(input ?? {});
  if (result.success) return { ok: true, data: result.data };
  const messages: FieldErrors = {};
  for (const issue of result.error.issues) {
    const field = String(issue.path[0] ?? 'form');
    messages[field] ??= issue.message;
  }
  // In the order of the form's fields, as the error summary lists them.
  const fieldOrder = form instanceof z.ZodObject ? Object.keys(form.shape) : [];
  const position = (field: string) => (fieldOrder.includes(field) ? fieldOrder.indexOf(field) : -1);
  const errors = Object.fromEntries(Object.entries(messages).sort(([a], [b]) => position(a) - position(b)));
  return { ok: false, errors };
}

/** What was typed in `field`, for showing back in the form; bounded so a huge value is not echoed. */
export function typedText(input: unknown, field: string, maxLength: number): string {
  const value = (input as Record<string, unknown> | undefined)?.[field];
  return typeof value === 'string' ? value.slice(0, maxLength) : '';
}
