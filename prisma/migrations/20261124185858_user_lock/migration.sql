-- AlterTable
ALTER TABLE "users" ADD COLUMN     "locked_at" TIMESTAMPTZ(3);
