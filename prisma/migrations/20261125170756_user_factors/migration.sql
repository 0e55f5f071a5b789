-- Second factors become rows of their own, so that a person may have several kinds (phone now;
-- authenticator apps, passkeys and recovery codes next). Today's phones move over first, then
-- the old columns go: one migration, one transaction, no phone lost.

-- CreateTable
CREATE TABLE "user_factors" (
    "id" UUID NOT NULL,
    "user_id" UUID NOT NULL,
    "kind" TEXT NOT NULL,
    "label" TEXT,
    "phone_number" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_used_at" TIMESTAMPTZ(3),

    CONSTRAINT "user_factors_pkey" PRIMARY KEY ("id"),
    -- A phone factor always has its number.
    CONSTRAINT "user_factors_phone_has_number" CHECK ("kind" <> 'phone' OR "phone_number" IS NOT NULL)
);

-- CreateIndex
CREATE INDEX "user_factors_user_id_idx" ON "user_factors"("user_id");

-- AddForeignKey
ALTER TABLE "user_factors" ADD CONSTRAINT "user_factors_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Move the data: every account with two-factor on keeps its phone, turned on when it was.
INSERT INTO "user_factors" ("id", "user_id", "kind", "phone_number", "created_at")
SELECT gen_random_uuid(), "id", 'phone', "phone_number", "two_factor_enabled_at"
FROM "users"
WHERE "phone_number" IS NOT NULL AND "two_factor_enabled_at" IS NOT NULL;

-- AlterTable
ALTER TABLE "users" DROP COLUMN "phone_number",
DROP COLUMN "two_factor_enabled_at";
