// `npm run twilio:stand-in`: the Verify stand-in on a loopback port, for trying the whole
// Twilio path by hand. Codes "sent" are printed and listed at /_stand-in/outbox.
import { TwilioStandIn } from './stand-in.js';

const standIn = new TwilioStandIn(
  {
    accountSid: process.env.TWILIO_ACCOUNT_SID ?? 'AC00000000000000000000000000000000',
    authToken: process.env.TWILIO_AUTH_TOKEN ?? 'stand-in-auth-token',
    serviceSid: process.env.TWILIO_VERIFY_SERVICE_SID ?? 'VA00000000000000000000000000000000',
    // The JSON API's phone verification runs on a Verify service of its own.
    otherServiceSids: [process.env.TWILIO_API_VERIFY_SERVICE_SID ?? 'VA00000000000000000000000000000001'],
  },
  (message) => console.log(`[${message.channel}] to ${message.to}: your code is ${message.code}`),
);
const port = Number(process.env.TWILIO_STAND_IN_PORT ?? 4010);
const url = await standIn.start(port);
console.log(`Twilio Verify stand-in on ${url}
Point the app at it (development only):
  CODE_PROVIDER=twilio TWILIO_API_BASE_URL=${url} \\
  TWILIO_ACCOUNT_SID=${standIn.credentials.accountSid} TWILIO_AUTH_TOKEN=${standIn.credentials.authToken} \\
  TWILIO_VERIFY_SERVICE_SID=${standIn.credentials.serviceSid} \
  TWILIO_API_VERIFY_SERVICE_SID=${standIn.credentials.otherServiceSids![0]} npm start
Sent codes: ${url}/_stand-in/outbox
Faults: POST ${url}/_stand-in/faults with any of down, delayMs, serverError, rateLimited, failingChannels=sms,call,
  disabledChannels=sms,call (60223), geoBlockedCountries=FR,GB (60605), smsDisabledCountries=FR (21408),
  fraudBlockedPrefixes=+3361 (60410), tooManyConcurrentRequests (60212), invalidCheckParameter (60200 on checks)
TOTP factors: codes come from the binding secret a factor is created with (any authenticator app);
  POST ${url}/_stand-in/totp with issuer, skew (0-2) or allowReplay=true to change the service's TOTP settings`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => void standIn.stop().then(() => process.exit(0)));
}
