import { ApiError, requestJson } from "@/components/credits/credits-api";

/** POST /api/features/generate-image as the page reads it: a shortfall is an answer, not an error. */
export type GenerateImageAnswer =
  | { ok: true; svg: string; cost: number; balance: number }
  | { ok: false; reason: "insufficient_credits"; cost: number; available: number };

/**
 * Generates the demo image and charges it (credits). 402 insufficient_credits becomes `{ok: false, cost,
 * available}`; any other HTTP error throws ApiError (its code, e.g. unauthorized) and a network failure
 * throws fetch's TypeError.
 */
export async function generateImage(input: {
  prompt: string;
  requestId: string;
}): Promise<GenerateImageAnswer> {
  try {
    const answer = await requestJson<{ svg: string; cost: number; balance: number }>(
      "/api/features/generate-image",
      { json: input },
    );
    return { ok: true, ...answer };
  } catch (error) {
    if (error instanceof ApiError && error.code === "insufficient_credits") {
      return {
        ok: false,
        reason: "insufficient_credits",
        cost: Number(error.details.cost),
        available: Number(error.details.available),
      };
    }
    throw error;
  }
}
