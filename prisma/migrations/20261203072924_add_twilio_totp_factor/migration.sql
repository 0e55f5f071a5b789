-- Authenticator apps through Twilio Verify: the row keeps the person's Entity and the factor's
-- SID at Twilio. The secret stays at Twilio and is never stored here. totp_last_code keeps a
-- hash of the last code Twilio approved, so a code is refused a second time here as well.

-- AlterTable
ALTER TABLE "user_factors" ADD COLUMN     "twilio_entity" TEXT,
ADD COLUMN     "twilio_factor_sid" TEXT,
ADD COLUMN     "totp_last_code" TEXT;

-- An authenticator app has its secret here (encrypted, local back end) or its factor at Twilio.
ALTER TABLE "user_factors" DROP CONSTRAINT "user_factors_totp_has_secret";
ALTER TABLE "user_factors" ADD CONSTRAINT "user_factors_totp_has_secret" CHECK (
  "kind" <> 'totp'
  OR "totp_secret" IS NOT NULL
  OR ("twilio_entity" IS NOT NULL AND "twilio_factor_sid" IS NOT NULL)
);
