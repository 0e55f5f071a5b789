// The JSON API described in OpenAPI 3.1, served at /api/openapi.json. The tests validate every
// response they receive against it, so it says what the API really answers.
import { E164_EXAMPLE } from './messages.js';

const json = (schema: object, description: string) => ({ description, content: { 'application/json': { schema } } });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
/** The endpoint's own shape, or the generic Error (a body that is not JSON, a database down). */
const orError = (name: string) => ({ anyOf: [ref(name), ref('Error')] });

const RATE_LIMIT_HEADERS = {
  'RateLimit-Limit': { $ref: '#/components/headers/RateLimit-Limit' },
  'RateLimit-Remaining': { $ref: '#/components/headers/RateLimit-Remaining' },
  'RateLimit-Policy': { $ref: '#/components/headers/RateLimit-Policy' },
};
const limited = (response: object) => ({ ...response, headers: RATE_LIMIT_HEADERS });
const tooMany = (schema: string) =>
  limited({
    ...json(orError(schema), 'Too many requests (5 a minute per IP and per number), or too many codes or wrong codes'),
    headers: { ...RATE_LIMIT_HEADERS, 'Retry-After': { $ref: '#/components/headers/Retry-After' } },
  });

/** The errors every endpoint may answer: a body that is not JSON, too large, a dependency down. */
const COMMON_ERRORS = {
  '413': json(ref('Error'), 'The body is larger than 16 kB'),
  '415': json(ref('Error'), 'The body is not UTF-8 JSON'),
  '500': json(ref('Error'), 'An unexpected error'),
};

const jsonBody = (schema: string) => ({ required: true, content: { 'application/json': { schema: ref(schema) } } });
/** The OAuth endpoints (RFC 6749, RFC 7009) take a form, as OAuth clients send them, or JSON. */
const jsonOrFormBody = (schema: string) => ({
  required: true,
  content: {
    'application/json': { schema: ref(schema) },
    'application/x-www-form-urlencoded': { schema: ref(schema) },
  },
});

interface Shapes {
  summary: string;
  description?: string;
  request: string;
  success: string;
  /** The body of every refusal, in the endpoint's own shape. */
  refusal: string;
}

/** Sending a code, whichever body shape the endpoint speaks. */
const sendOperation = ({ summary, description, request, success, refusal }: Shapes) => ({
  summary,
  description: description ?? 'By text message; by a voice call when texts cannot reach the number.',
  requestBody: jsonBody(request),
  responses: {
    '200': limited(json(ref(success), 'A code is on its way')),
    '400': json(orError(refusal), 'The body or the number is not valid (E.164 is required)'),
    '422': limited(json(ref(refusal), 'Codes cannot be sent to this number')),
    '429': tooMany(refusal),
    '503': json(orError(refusal), 'Codes cannot be sent right now: nothing was sent, or it may still arrive'),
    ...COMMON_ERRORS,
  },
});

/** Checking a code, whichever body shape the endpoint speaks. */
const checkOperation = ({ summary, description, request, success, refusal }: Shapes) => ({
  summary,
  ...(description ? { description } : {}),
  requestBody: jsonBody(request),
  responses: {
    '200': limited(json(ref(success), 'The code is right')),
    '400': json(orError(refusal), 'The body, the number or the code is not valid'),
    '401': limited(json(ref(refusal), 'Invalid verification code')),
    '404': limited(json(ref(refusal), 'No code is waiting for this number')),
    '410': limited(json(ref(refusal), 'The code has expired or was already used')),
    '429': tooMany(refusal),
    '503': json(orError(refusal), 'Codes cannot be checked right now'),
    ...COMMON_ERRORS,
  },
});

export const OPENAPI_DOCUMENT = {
  openapi: '3.1.0',
  info: {
    title: 'Two-factor sign-in API',
    version: '0.1.0',
    description:
      'Phone verification with JWTs for API clients. Bodies are JSON (UTF-8, at most 16 kB); every error body ' +
      'carries the request ID. No cookies: there is no CSRF to defend against. Access tokens are ES256 JWTs ' +
      '(typ at+jwt) whose public keys are at /.well-known/jwks.json.',
  },
  paths: {
    '/api/auth/send-verification': {
      post: sendOperation({
        summary: 'Send a verification code to a phone number',
        request: 'SendVerificationRequest',
        success: 'SendVerificationResponse',
        refusal: 'Message',
      }),
    },
    '/api/auth/verify-code': {
      post: checkOperation({
        summary: 'Check the code sent to a phone number, for an access token',
        description: "The token's subject is the verified number; it is good for API_PHONE_TOKEN_HOURS (24).",
        request: 'VerifyCodeRequest',
        success: 'VerifyCodeResponse',
        refusal: 'VerifyCodeRefusal',
      }),
    },
    '/api/auth/send-otp': {
      post: sendOperation({
        summary: 'Send a code (the other tutorial shape)',
        request: 'SendOtpRequest',
        success: 'SendOtpResponse',
        refusal: 'Failure',
      }),
    },
    '/api/auth/verify-otp': {
      post: checkOperation({
        summary: 'Check a code (the other tutorial shape)',
        request: 'VerifyOtpRequest',
        success: 'VerifyOtpResponse',
        refusal: 'Failure',
      }),
    },
    '/api/auth/protected': {
      get: {
        summary: 'A route that needs an access token',
        security: [{ bearer: [] }],
        responses: {
          '200': json(ref('ProtectedResponse'), 'The token is good'),
          '401': {
            ...json(ref('OAuthError'), 'The token is missing, malformed, expired, revoked or not ours'),
            headers: { 'WWW-Authenticate': { $ref: '#/components/headers/WWW-Authenticate' } },
          },
          '503': json(ref('Error'), 'The service is having trouble (the database is down)'),
          '500': COMMON_ERRORS['500'],
        },
      },
    },
    '/api/auth/revoke': {
      post: {
        summary: 'Revoke an access token, or a refresh token and its family (RFC 7009)',
        description:
          'The same answer whether the token was ours, valid, expired or revoked already. JSON or form-encoded.',
        requestBody: jsonOrFormBody('RevokeRequest'),
        responses: {
          '200': json({ type: 'object', additionalProperties: false }, 'Done (or nothing to do)'),
          '400': json(orError('OAuthError'), 'No token given'),
          '503': json(ref('Error'), 'The service is having trouble (the database is down): nothing was revoked'),
          ...COMMON_ERRORS,
        },
      },
    },
    '/api/auth/token': {
      post: {
        summary: 'Sign in to an account: tokens, or mfa_required and then an mfa grant (OAuth 2.0, Auth0 MFA API)',
        description:
          'grant_type password (email, password); mfa-otp (mfa_token, otp); mfa-oob (mfa_token, oob_code, ' +
          'binding_code); mfa-recovery-code (mfa_token, recovery_code); refresh_token (refresh_token). The mfa ' +
          "grants also take Auth0's URIs (http://auth0.com/oauth/grant-type/mfa-otp, ...). JSON or form-encoded.",
        requestBody: jsonOrFormBody('TokenRequest'),
        responses: {
          '200': json(ref('TokenResponse'), 'Signed in'),
          '400': json(orError('OAuthError'), 'invalid_request, invalid_grant or unsupported_grant_type'),
          '403': json(
            { anyOf: [ref('MfaRequired'), ref('OAuthError')] },
            'mfa_required: the account has two-factor authentication, continue with the mfa_token; ' +
              'access_denied: REQUIRE_VERIFIED_EMAIL is on and the account has not confirmed its email address',
          ),
          '422': json(ref('OAuthError'), 'Codes cannot be sent to this authenticator'),
          '429': {
            ...json(orError('OAuthError'), 'Too many attempts (the same limits as the pages)'),
            headers: { 'Retry-After': { $ref: '#/components/headers/Retry-After' } },
          },
          '503': json(orError('OAuthError'), 'Codes cannot be checked right now, or a dependency failed'),
          ...COMMON_ERRORS,
        },
      },
    },
    '/api/auth/mfa/authenticators': {
      get: {
        summary: "The person's authenticators, for an mfa_token (Authorization: Bearer <mfa_token>)",
        responses: {
          '200': json({ type: 'array', items: ref('Authenticator') }, 'The authenticators, the one used last first'),
          '401': {
            ...json(ref('OAuthError'), 'The mfa_token is missing, invalid, expired or used'),
            headers: { 'WWW-Authenticate': { $ref: '#/components/headers/WWW-Authenticate' } },
          },
          '503': json(ref('Error'), 'A dependency failed'),
          '500': COMMON_ERRORS['500'],
        },
      },
    },
    '/api/auth/mfa/challenge': {
      post: {
        summary: 'Start a challenge: an oob authenticator (sms, voice) gets a code; otp needs nothing sent',
        requestBody: jsonBody('ChallengeRequest'),
        responses: {
          '200': json(ref('ChallengeResponse'), 'The challenge'),
          '400': json(orError('OAuthError'), 'invalid_request or invalid_grant (the mfa_token or authenticator)'),
          '422': json(ref('OAuthError'), 'Codes cannot be sent to this authenticator'),
          '429': {
            ...json(orError('OAuthError'), 'A code went out moments ago, or too many'),
            headers: { 'Retry-After': { $ref: '#/components/headers/Retry-After' } },
          },
          '503': json(orError('OAuthError'), 'Codes cannot be sent right now'),
          ...COMMON_ERRORS,
        },
      },
    },
    '/.well-known/jwks.json': {
      get: {
        summary: 'The public keys access tokens are signed with (RFC 7517)',
        responses: { '200': json(ref('JwkSet'), 'The JWK Set') },
      },
    },
    '/api/openapi.json': {
      get: { summary: 'This document', responses: { '200': json({ type: 'object' }, 'OpenAPI 3.1') } },
    },
  },
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
    headers: {
      'RateLimit-Limit': { description: 'Requests allowed per window', schema: { type: 'integer' } },
      'RateLimit-Remaining': { description: 'Requests left in the window', schema: { type: 'integer' } },
      'RateLimit-Policy': { description: 'The limit and its window in seconds ("5;w=60")', schema: { type: 'string' } },
      'Retry-After': { description: 'Seconds to wait', schema: { type: 'integer' } },
      'WWW-Authenticate': {
        description: 'Bearer error="invalid_token", error_description="..." (RFC 6750)',
        schema: { type: 'string' },
      },
    },
    schemas: {
      PhoneNumber: { type: 'string', pattern: '^\\+[1-9]\\d{7,14}$', examples: [E164_EXAMPLE] },
      RequestId: { type: 'string', description: 'The request ID, also sent as X-Request-Id' },
      SendVerificationRequest: {
        type: 'object',
        required: ['phone_number'],
        properties: { phone_number: { type: 'string', examples: [E164_EXAMPLE] } },
      },
      SendVerificationResponse: {
        type: 'object',
        required: ['message', 'status'],
        additionalProperties: false,
        properties: { message: { const: 'Verification code sent successfully' }, status: { const: 'pending' } },
      },
      VerifyCodeRequest: {
        type: 'object',
        required: ['phone_number', 'code'],
        properties: { phone_number: { type: 'string' }, code: { type: 'string', examples: ['123456'] } },
      },
      VerifyCodeResponse: {
        type: 'object',
        required: ['message', 'authenticated', 'token', 'phone_number'],
        additionalProperties: false,
        properties: {
          message: { const: 'Verification successful' },
          authenticated: { const: true },
          token: { type: 'string', description: 'An ES256 JWT; its subject is the number' },
          phone_number: ref('PhoneNumber'),
        },
      },
      VerifyCodeRefusal: {
        type: 'object',
        required: ['message', 'authenticated', 'request_id'],
        additionalProperties: false,
        properties: {
          message: { type: 'string', examples: ['Invalid verification code'] },
          authenticated: { const: false },
          status: { enum: ['pending', 'invalid', 'not_found', 'expired', 'max_attempts_reached'] },
          request_id: ref('RequestId'),
        },
      },
      SendOtpRequest: {
        type: 'object',
        required: ['phoneNumber'],
        properties: { phoneNumber: { type: 'string', examples: [E164_EXAMPLE] } },
      },
      SendOtpResponse: {
        type: 'object',
        required: ['success', 'sid'],
        additionalProperties: false,
        properties: {
          success: { const: true },
          sid: { type: 'string', description: "The provider's verification SID" },
        },
      },
      VerifyOtpRequest: {
        type: 'object',
        required: ['phoneNumber', 'code'],
        properties: { phoneNumber: { type: 'string' }, code: { type: 'string' } },
      },
      VerifyOtpResponse: {
        type: 'object',
        required: ['success', 'message'],
        additionalProperties: false,
        properties: { success: { const: true }, message: { const: 'Identity Verified' } },
      },
      Failure: {
        type: 'object',
        required: ['success', 'error', 'request_id'],
        additionalProperties: false,
        properties: {
          success: { const: false },
          error: { type: 'string', examples: ['Invalid code'] },
          request_id: ref('RequestId'),
        },
      },
      Message: {
        type: 'object',
        required: ['message', 'request_id'],
        additionalProperties: false,
        properties: { message: { type: 'string' }, request_id: ref('RequestId') },
      },
      Error: {
        type: 'object',
        required: ['error', 'message', 'request_id'],
        additionalProperties: false,
        properties: { error: { type: 'string' }, message: { type: 'string' }, request_id: ref('RequestId') },
      },
      OAuthError: {
        type: 'object',
        required: ['error', 'request_id'],
        additionalProperties: false,
        properties: {
          error: { type: 'string', examples: ['invalid_token', 'invalid_request'] },
          error_description: { type: 'string' },
          message: { type: 'string' },
          request_id: ref('RequestId'),
        },
      },
      ProtectedResponse: {
        type: 'object',
        required: ['message', 'sub'],
        additionalProperties: false,
        properties: {
          message: { const: 'This is a protected route' },
          phone_number: ref('PhoneNumber'),
          sub: { type: 'string', description: "The token's subject" },
        },
      },
      TokenRequest: {
        type: 'object',
        required: ['grant_type'],
        properties: {
          grant_type: {
            type: 'string',
            examples: ['password', 'mfa-otp', 'mfa-oob', 'mfa-recovery-code', 'refresh_token'],
          },
          email: { type: 'string' },
          password: { type: 'string' },
          mfa_token: { type: 'string' },
          otp: { type: 'string' },
          oob_code: { type: 'string' },
          binding_code: { type: 'string' },
          recovery_code: { type: 'string' },
          refresh_token: { type: 'string' },
        },
      },
      TokenResponse: {
        type: 'object',
        required: ['access_token', 'token_type', 'expires_in', 'refresh_token'],
        additionalProperties: false,
        properties: {
          access_token: { type: 'string', description: 'An ES256 JWT; its subject is the user id' },
          token_type: { const: 'Bearer' },
          expires_in: { type: 'integer' },
          refresh_token: { type: 'string', description: 'Opaque; rotated on every use' },
        },
      },
      MfaRequired: {
        type: 'object',
        required: ['error', 'error_description', 'mfa_token', 'request_id'],
        additionalProperties: false,
        properties: {
          error: { const: 'mfa_required' },
          error_description: { type: 'string' },
          mfa_token: { type: 'string', description: 'Single use; lasts SECOND_FACTOR_MINUTES (10)' },
          request_id: ref('RequestId'),
        },
      },
      Authenticator: {
        type: 'object',
        required: ['id', 'authenticator_type', 'name', 'active'],
        additionalProperties: false,
        properties: {
          id: { type: 'string', examples: ['sms|5b0c...', 'otp|...', 'recovery-code|...'] },
          authenticator_type: { enum: ['otp', 'oob', 'recovery-code'] },
          oob_channel: { enum: ['sms', 'voice'] },
          name: { type: 'string' },
          active: { const: true },
        },
      },
      ChallengeRequest: {
        type: 'object',
        required: ['mfa_token', 'authenticator_id'],
        properties: {
          mfa_token: { type: 'string' },
          authenticator_id: { type: 'string' },
          challenge_type: { enum: ['otp', 'oob'] },
        },
      },
      ChallengeResponse: {
        type: 'object',
        required: ['challenge_type'],
        additionalProperties: false,
        properties: {
          challenge_type: { enum: ['otp', 'oob'] },
          oob_code: { type: 'string' },
          binding_method: { const: 'prompt' },
        },
      },
      RevokeRequest: {
        type: 'object',
        required: ['token'],
        properties: { token: { type: 'string' }, token_type_hint: { type: 'string' } },
      },
      JwkSet: {
        type: 'object',
        required: ['keys'],
        properties: {
          keys: {
            type: 'array',
            items: {
              type: 'object',
              required: ['kty', 'crv', 'x', 'y', 'kid', 'alg', 'use'],
              not: { required: ['d'] },
              properties: {
                kty: { const: 'EC' },
                crv: { const: 'P-256' },
                alg: { const: 'ES256' },
                use: { const: 'sig' },
                kid: { type: 'string' },
                x: { type: 'string' },
                y: { type: 'string' },
              },
            },
          },
        },
      },
    },
  },
};
