-- AlterTable
ALTER TABLE "users" ADD COLUMN     "phone_number" TEXT,
ADD COLUMN     "two_factor_enabled_at" TIMESTAMPTZ(3);
