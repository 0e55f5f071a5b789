-- CreateTable
CREATE TABLE "admin_confirmations" (
    "token_hash" TEXT NOT NULL,
    "admin_id" UUID NOT NULL,
    "session_hash" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "target_id" UUID NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "admin_confirmations_pkey" PRIMARY KEY ("token_hash")
);

-- CreateIndex
CREATE INDEX "admin_confirmations_expires_at_idx" ON "admin_confirmations"("expires_at");
