-- Passkeys (WebAuthn) become a factor kind. A person's passkeys are one factor row of kind
-- passkey (one way to sign in, "Use a passkey"), each passkey a row here: its credential ID
-- (unique across accounts), public key, signature counter, transports, the name the person gave
-- it, and when it was made and last used.

-- CreateTable
CREATE TABLE "passkey_credentials" (
    "id" UUID NOT NULL,
    "factor_id" UUID NOT NULL,
    "credential_id" TEXT NOT NULL,
    "public_key" BYTEA NOT NULL,
    "counter" BIGINT NOT NULL DEFAULT 0,
    "transports" TEXT[],
    "name" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_used_at" TIMESTAMPTZ(3),

    CONSTRAINT "passkey_credentials_pkey" PRIMARY KEY ("id"),
    -- A WebAuthn credential ID in base64url: 16 to 1023 bytes.
    CONSTRAINT "passkey_credentials_id_is_base64url" CHECK ("credential_id" ~ '^[A-Za-z0-9_-]+$' AND char_length("credential_id") BETWEEN 22 AND 1364),
    -- The signature counter is an unsigned 32-bit number.
    CONSTRAINT "passkey_credentials_counter_is_uint32" CHECK ("counter" >= 0 AND "counter" <= 4294967295),
    CONSTRAINT "passkey_credentials_name_length" CHECK (char_length("name") BETWEEN 1 AND 64)
);

-- CreateIndex
CREATE UNIQUE INDEX "passkey_credentials_credential_id_key" ON "passkey_credentials"("credential_id");

-- CreateIndex
CREATE INDEX "passkey_credentials_factor_id_idx" ON "passkey_credentials"("factor_id");

-- AddForeignKey
ALTER TABLE "passkey_credentials" ADD CONSTRAINT "passkey_credentials_factor_id_fkey" FOREIGN KEY ("factor_id") REFERENCES "user_factors"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- A passkey factor row keeps nothing of other kinds: its passkeys are rows of passkey_credentials.
ALTER TABLE "user_factors" ADD CONSTRAINT "user_factors_passkey_has_no_secret" CHECK (
  "kind" <> 'passkey'
  OR ("phone_number" IS NULL AND "totp_secret" IS NULL AND "twilio_factor_sid" IS NULL)
);
