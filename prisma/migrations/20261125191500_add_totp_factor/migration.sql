-- Authenticator apps (TOTP) become a factor kind. The local back end keeps the secret encrypted
-- (never in clear) and the last time step a code was accepted for, so a code works once.

-- AlterTable
ALTER TABLE "user_factors" ADD COLUMN     "totp_last_step" INTEGER,
ADD COLUMN     "totp_secret" TEXT;

-- An authenticator app always has its (encrypted) secret. A back end that keeps the secret
-- elsewhere (Twilio Verify) widens this check with the columns it keeps instead.
ALTER TABLE "user_factors" ADD CONSTRAINT "user_factors_totp_has_secret" CHECK ("kind" <> 'totp' OR "totp_secret" IS NOT NULL);
