-- Recovery codes: the set of a person is a factor row of kind recovery_codes, its ten codes are
-- rows here. Only a SHA-256 hash of each code is kept (hex, salted with the id of the set), and
-- used_at marks a used code.

-- CreateTable
CREATE TABLE "recovery_codes" (
    "id" UUID NOT NULL,
    "factor_id" UUID NOT NULL,
    "code_hash" TEXT NOT NULL,
    "used_at" TIMESTAMPTZ(3),

    CONSTRAINT "recovery_codes_pkey" PRIMARY KEY ("id"),
    -- A hash, never a code: 64 lower-case hex digits.
    CONSTRAINT "recovery_codes_hash_is_sha256" CHECK ("code_hash" ~ '^[0-9a-f]{64}$')
);

-- CreateIndex
CREATE UNIQUE INDEX "recovery_codes_factor_id_code_hash_key" ON "recovery_codes"("factor_id", "code_hash");

-- AddForeignKey
ALTER TABLE "recovery_codes" ADD CONSTRAINT "recovery_codes_factor_id_fkey" FOREIGN KEY ("factor_id") REFERENCES "user_factors"("id") ON DELETE CASCADE ON UPDATE CASCADE;
