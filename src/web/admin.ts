// The admin area: overview, delivery test bench, users and their safeguarded actions, the
// audit trail with CSV export. Admins only; every page uncached, every form CSRF-protected.
import { Router, type RequestHandler } from 'express';
import { z } from 'zod';
import { MAX_EMAIL_LENGTH } from '../accounts/index.js';
import {
  isUserAction,
  PAGE_SIZE,
  USER_ACTIONS,
  type AdminService,
  type AuditEventWithUser,
  type AuditFilter,
  type BenchResult,
  type ListedUser,
} from '../admin/index.js';
import { AUDIT_TYPES, contextOf, isAuditType } from '../audit/index.js';
import { HttpError } from '../core/errors.js';
import { formText, parseForm, searchText, typedText, type FieldErrors } from '../core/forms.js';
import { countries, maskPhone, MAX_PHONE_INPUT, parsePhone, readCode } from '../factors/index.js';
import { codeForm, countryField, phoneField } from './forms/phone.js';
import { requireSecondFactorPassed, requireSignedIn } from './guards.js';
import {
  ADMIN_REFUSED,
  benchMeaning,
  checkRefused,
  FACTOR_KINDS_COUNTED,
  factorName,
  PHONE_PROBLEMS,
} from './messages.js';
import { noStore } from './security.js';
import { flash } from './views.js';

declare module 'express-session' {
  interface SessionData {
    /** The number the admin last sent a test code to, and its verification, for the check form. */
    adminBench?: { phone: string; channel: 'sms' | 'call'; verificationSid: string };
  }
}

const emailSearch = searchText(MAX_EMAIL_LENGTH);
const pageNumber = z
  .preprocess(
    (value) => (typeof value === 'string' && value ? value : '1'),
    z.coerce.number().int().min(1).max(100_000),
  )
  .catch(1);
// Far-off dates are no one's audit events, and Postgres cannot compare with some of them (22009).
const EARLIEST_FILTER_DATE = Date.UTC(1970, 0, 1);
const LATEST_FILTER_DATE = Date.UTC(10_000, 0, 1);
const optionalDate = z.preprocess(
  (value) => (typeof value === 'string' && value ? value : undefined),
  z.coerce
    .date()
    .optional()
    .catch(undefined)
    .refine(
      (date) => date === undefined || (date.getTime() >= EARLIEST_FILTER_DATE && date.getTime() < LATEST_FILTER_DATE),
      'Use a date between 1970 and 9999.',
    ),
);
const usersQuery = z.object({ q: emailSearch.transform((value) => value.trim()), page: pageNumber });
const auditQuery = z.object({
  user: emailSearch.transform((value) => value.trim().toLowerCase()),
  type: formText().transform((value) => (isAuditType(value) ? value : '')),
  from: optionalDate,
  to: optionalDate,
  page: pageNumber,
});
// A confirmation token is 43 characters; anything much longer is not one.
const actionForm = z.object({ confirmation: formText(128) });
const benchSendForm = z.object({
  phone: phoneField,
  country: countryField,
  channel: z.enum(['sms', 'call']).catch('sms'),
});

const USER_ID = /^[0-9a-f-]{36}$/;

function dateInput(date: Date | undefined): string {
  return date ? date.toISOString().slice(0, 16) : '';
}

export function adminRouter(deps: {
  admin: AdminService;
  requireRecentPassword: RequestHandler;
  requireTwoFactor: boolean;
  defaultCountry: string;
}): Router {
  const { admin, requireRecentPassword, requireTwoFactor, defaultCountry } = deps;
  const router = Router();

  const requireAdmin: RequestHandler = async (req, res, next) => {
    const user = req.user!;
    if (user.role !== 'ADMIN') {
      await admin.recordDenied(user.id, contextOf(req), req.originalUrl);
      throw new HttpError(403, "This area is for the site's administrators.", 'Admins only');
    }
    // Every admin session has passed a second factor: one made admin while signed in on a
    // remembered browser signs in again with it first.
    if (req.session.secondFactorSkipped) return requireSecondFactorPassed(req, res, next);
    if (requireTwoFactor && !user.twoFactorEnabled) {
      await admin.recordDenied(user.id, contextOf(req), req.originalUrl);
      throw new HttpError(
        403,
        'Turn on two-factor authentication on your account page to use the admin area.',
        'Two-factor authentication needed',
      );
    }
    next();
  };
  router.use('/admin', requireSignedIn, noStore, requireAdmin);

  router.get('/admin', async (_req, res) => {
    const figures = await admin.overview();
    res.render('admin/overview', {
      title: 'Admin',
      figures,
      byKind: FACTOR_KINDS_COUNTED.map(({ kind, label }) => ({ label, people: figures.byKind.get(kind) ?? 0 })),
    });
  });

  // ---- Delivery test bench ------------------------------------------------------------------

  function renderBench(
    res: Parameters<RequestHandler>[1],
    status: number,
    locals: {
      values?: { phone: string; country: string; channel: string };
      error?: string;
      result?: BenchResult;
      meaning?: string;
      operation?: string;
      testedPhone?: string;
    },
  ) {
    res.status(status).render('admin/verify', {
      title: 'Test code delivery',
      countries: countries(),
      values: locals.values ?? { phone: '', country: defaultCountry, channel: 'sms' },
      errors: locals.error ? { phone: locals.error } : {},
      result: locals.result && { ...locals.result, message: locals.meaning ?? benchMeaning(locals.result) },
      operation: locals.operation,
      testedPhone: locals.testedPhone,
    });
  }

  router.get('/admin/verify', (req, res) => {
    const bench = req.session.adminBench;
    renderBench(res, 200, { testedPhone: bench ? maskPhone(bench.phone) : undefined });
  });

  router.post('/admin/verify/send', async (req, res) => {
    const parsedForm = parseForm(benchSendForm, req.body);
    const values = {
      phone: typedText(req.body, 'phone', MAX_PHONE_INPUT),
      country: (parsedForm.ok && parsedForm.data.country) || defaultCountry,
      channel: parsedForm.ok ? parsedForm.data.channel : 'sms',
    };
    if (!parsedForm.ok) return renderBench(res, 422, { values, error: parsedForm.errors.phone });
    const form = parsedForm.data;
    const parsed = parsePhone(form.phone, values.country);
    if (!parsed.ok) return renderBench(res, 422, { values, error: PHONE_PROBLEMS[parsed.reason] });
    const result = await admin.benchSend(req.user!.id, parsed.e164, form.channel, contextOf(req));
    // Only a code that went out can be checked.
    if (result.status === 'pending')
      req.session.adminBench = { phone: parsed.e164, channel: form.channel, verificationSid: result.sid };
    else delete req.session.adminBench;
    renderBench(res, result.status === 'pending' ? 200 : result.status === 'rate_limited' ? 429 : 502, {
      values,
      result,
      operation: 'send',
      testedPhone: result.status === 'pending' ? maskPhone(parsed.e164) : undefined,
    });
  });

  router.post('/admin/verify/check', async (req, res) => {
    const bench = req.session.adminBench;
    if (!bench) return res.redirect(303, '/admin/verify');
    const form = parseForm(codeForm, req.body);
    const typed = form.ok ? readCode(form.data.code) : undefined;
    if (!typed?.ok) {
      const meaning = typed ? checkRefused({ reason: typed.reason }) : form.ok ? '' : (form.errors.code ?? '');
      return renderBench(res, 422, {
        testedPhone: maskPhone(bench.phone),
        result: { status: 'wrong_code' },
        meaning,
        operation: 'check',
      });
    }
    const result = await admin.benchCheck(req.user!.id, bench, typed.code, contextOf(req));
    renderBench(res, 200, { testedPhone: maskPhone(bench.phone), result, operation: 'check' });
  });

  // ---- Users --------------------------------------------------------------------------------

  function renderUsers(
    res: Parameters<RequestHandler>[1],
    status: number,
    search: { query: string; page: number },
    found: { total: number; users: ListedUser[] },
    errors: FieldErrors = {},
  ) {
    res.status(status).render('admin/users', {
      title: 'Users',
      query: search.query,
      errors,
      page: search.page,
      pages: Math.max(1, Math.ceil(found.total / PAGE_SIZE)),
      total: found.total,
      users: found.users.map(({ factors, ...user }) => ({
        ...user,
        factors: factors.map((factor) =>
          // No-break spaces: a masked number broken across lines is no longer recognisable.
          factorName(
            factor.kind,
            factor.phoneNumber ? maskPhone(factor.phoneNumber).replace(/ /g, '\u00a0') : undefined,
          ),
        ),
      })),
    });
  }

  router.get('/admin/users', async (req, res) => {
    const parsed = parseForm(usersQuery, req.query);
    if (!parsed.ok) {
      const typed = { query: typedText(req.query, 'q', MAX_EMAIL_LENGTH), page: 1 };
      return renderUsers(res, 422, typed, { total: 0, users: [] }, parsed.errors);
    }
    const { q, page } = parsed.data;
    renderUsers(res, 200, { query: q, page }, await admin.users(q, page));
  });

  // Changing someone's account is sudo-mode work: a session cookie alone is not enough.
  router.all('/admin/users/:id/:action', requireRecentPassword);

  router.get('/admin/users/:id/:action', async (req, res) => {
    const { id, action } = req.params;
    if (!isUserAction(action)) throw new HttpError(404, 'There is no such action.', 'Page not found');
    const target = USER_ID.test(id) ? await admin.findUser(id) : null;
    if (!target) throw new HttpError(404, 'There is no such user.', 'Page not found');
    const confirmation = await admin.confirmation(req.user!.id, target.id, action, req.sessionID);
    res.render('admin/confirm', {
      title: USER_ACTIONS[action].label,
      action,
      details: USER_ACTIONS[action],
      target,
      confirmation,
    });
  });

  router.post('/admin/users/:id/:action', async (req, res) => {
    const { id, action } = req.params;
    if (!isUserAction(action) || !USER_ID.test(id))
      throw new HttpError(404, 'There is no such action.', 'Page not found');
    // Read before acting: once the action is done, nothing may fail on its way to saying so.
    const target = await admin.findUser(id);
    if (!target) throw new HttpError(404, 'There is no such user.', 'Page not found');
    const form = parseForm(actionForm, req.body);
    // An unreadable confirmation is no confirmation: the service refuses it like a missing one.
    const confirmed = { token: form.ok ? form.data.confirmation : '', sessionId: req.sessionID };
    const result = await admin.act(req.user!.id, id, action, confirmed, contextOf(req));
    if (result.ok) {
      flash(req, { kind: 'success', text: `Done: ${USER_ACTIONS[action].label.toLowerCase()} for ${target.email}.` });
    } else if (result.reason === 'not_confirmed') {
      flash(req, {
        kind: 'error',
        text: 'Please confirm here. A confirmation works once, for a few minutes, from the page that showed it.',
      });
      return res.redirect(303, `/admin/users/${id}/${action}`);
    } else {
      flash(req, { kind: 'error', text: ADMIN_REFUSED[result.reason] });
    }
    res.redirect(303, `/admin/users?q=${encodeURIComponent(target.email)}`);
  });

  // ---- Audit trail --------------------------------------------------------------------------

  function filterFrom(query: z.infer<typeof auditQuery>): AuditFilter {
    return { userEmail: query.user || undefined, type: query.type || undefined, from: query.from, to: query.to };
  }

  function renderAudit(
    res: Parameters<RequestHandler>[1],
    status: number,
    filter: { user: string; type: string; from: string; to: string },
    found: { page: number; total: number; events: AuditEventWithUser[] },
    errors: FieldErrors = {},
  ) {
    res.status(status).render('admin/audit', {
      title: 'Audit trail',
      filter,
      errors,
      types: AUDIT_TYPES,
      page: found.page,
      pages: Math.max(1, Math.ceil(found.total / PAGE_SIZE)),
      total: found.total,
      search: new URLSearchParams(filter).toString(),
      events: found.events.map((event) => ({ ...event, detail: event.detail ? JSON.stringify(event.detail) : '' })),
    });
  }

  /** The filters as typed (bounded), shown again with why they cannot be used. */
  function refuseAuditFilters(
    req: Parameters<RequestHandler>[0],
    res: Parameters<RequestHandler>[1],
    errors: FieldErrors,
  ) {
    const filter = { user: typedText(req.query, 'user', MAX_EMAIL_LENGTH), type: '', from: '', to: '' };
    renderAudit(res, 422, filter, { page: 1, total: 0, events: [] }, errors);
  }

  router.get('/admin/audit', async (req, res) => {
    const parsed = parseForm(auditQuery, req.query);
    if (!parsed.ok) return refuseAuditFilters(req, res, parsed.errors);
    const query = parsed.data;
    const { total, events } = await admin.auditPage(filterFrom(query), query.page);
    const filter = { user: query.user, type: query.type, from: dateInput(query.from), to: dateInput(query.to) };
    renderAudit(res, 200, filter, { page: query.page, total, events });
  });

  router.get('/admin/audit.csv', async (req, res) => {
    const parsed = parseForm(auditQuery, req.query);
    if (!parsed.ok) return refuseAuditFilters(req, res, parsed.errors);
    const lines = await admin.auditCsv(filterFrom(parsed.data));
    res.type('text/csv; charset=utf-8');
    res.attachment(`audit-${new Date().toISOString().slice(0, 10)}.csv`);
    for await (const line of lines) res.write(line);
    res.end();
  });

  return router;
}
