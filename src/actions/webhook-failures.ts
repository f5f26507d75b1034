"use server";

import { z } from "zod";
import { retryWebhookFailure } from "@/admin/retry-webhook-failure";
import { getDb } from "@/db/client";
import { adminActionClient } from "./safe-action";

/** Processes a stored failed webhook again (Admin → Failed webhooks); audited with who asked. */
export const retryWebhookFailureAction = adminActionClient
  .inputSchema(z.object({ eventId: z.string().min(1).max(255) }).strict())
  .action(async ({ parsedInput, ctx }) => retryWebhookFailure(await getDb(), parsedInput.eventId, ctx.actor));
