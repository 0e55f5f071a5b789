// Phone verification for API clients, in the two shapes the common tutorials' scripts expect:
// send-verification / verify-code (a JWT for the verified number) and send-otp / verify-otp.
// The rules live in src/phone-verification; these routes read the body and word the answers.
import { Router, type Request, type Response } from 'express';
import { contextOf } from '../audit/index.js';
import type { PhoneVerificationService } from '../phone-verification/index.js';
import { sendJson, setLimitHeaders } from './errors.js';
import { readBody, sendOtpBody, sendVerificationBody, verifyCodeBody, verifyOtpBody } from './forms.js';
import { checkRefused, sendRefused } from './messages.js';

export function phoneVerificationRouter(deps: { phoneVerification: PhoneVerificationService }): Router {
  const { phoneVerification } = deps;
  const router = Router();

  /** Sends a code; `answer` words success in the endpoint's shape, `refuse` a failure. */
  async function send(
    req: Request,
    res: Response,
    number: string,
    answer: (sid: string) => Record<string, unknown>,
    refuse: (message: string) => Record<string, unknown>,
  ) {
    const sent = await phoneVerification.send(number, contextOf(req));
    setLimitHeaders(res, sent.limits, sent.ok ? undefined : sent.retryAfterSeconds);
    if (sent.ok) return sendJson(req, res, 200, answer(sent.verificationSid));
    const { status, message } = sendRefused(sent);
    sendJson(req, res, status, refuse(message));
  }

  router.post('/auth/send-verification', async (req, res) => {
    const body = readBody(sendVerificationBody, req.body);
    if (!body.ok) return sendJson(req, res, 400, { message: body.message });
    await send(
      req,
      res,
      body.data.phone_number,
      () => ({ message: 'Verification code sent successfully', status: 'pending' }),
      (message) => ({ message }),
    );
  });

  router.post('/auth/send-otp', async (req, res) => {
    const body = readBody(sendOtpBody, req.body);
    if (!body.ok) return sendJson(req, res, 400, { success: false, error: body.message });
    await send(
      req,
      res,
      body.data.phoneNumber,
      (sid) => ({ success: true, sid }),
      (error) => ({ success: false, error }),
    );
  });

  router.post('/auth/verify-code', async (req, res) => {
    const body = readBody(verifyCodeBody, req.body);
    if (!body.ok) return sendJson(req, res, 400, { message: body.message, authenticated: false });
    const checked = await phoneVerification.verify(body.data.phone_number, body.data.code, contextOf(req));
    setLimitHeaders(res, checked.limits, checked.ok ? undefined : checked.retryAfterSeconds);
    if (checked.ok)
      return sendJson(req, res, 200, {
        message: 'Verification successful',
        authenticated: true,
        token: checked.token.token,
        phone_number: checked.phoneNumber,
      });
    const { status, message, verification } = checkRefused(checked);
    sendJson(req, res, status, { message, authenticated: false, status: verification });
  });

  router.post('/auth/verify-otp', async (req, res) => {
    const body = readBody(verifyOtpBody, req.body);
    if (!body.ok) return sendJson(req, res, 400, { success: false, error: body.message });
    const checked = await phoneVerification.verify(body.data.phoneNumber, body.data.code, contextOf(req));
    setLimitHeaders(res, checked.limits, checked.ok ? undefined : checked.retryAfterSeconds);
    if (checked.ok) return sendJson(req, res, 200, { success: true, message: 'Identity Verified' });
    const refused = checkRefused(checked);
    sendJson(req, res, refused.status, {
      success: false,
      error: checked.reason === 'wrong_code' ? 'Invalid code' : refused.message,
    });
  });

  return router;
}
