"use server";

import { getDb } from "@/db/client";
import { generateImage, generateImageInputSchema } from "@/features/generate-image";
import { authActionClient } from "./safe-action";

/** Generates the demo image and charges its catalog price; an insufficient balance is a result, not an error. */
export const generateImageAction = authActionClient
  .inputSchema(generateImageInputSchema)
  .action(async ({ parsedInput, ctx }) => generateImage(await getDb(), ctx.user.id, parsedInput));
