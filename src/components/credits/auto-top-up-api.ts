import type { AutoTopUpBody, AutoTopUpView } from "@/auto-top-up/schemas";
import type { StartedCardSetup } from "@/auto-top-up/start-card-setup";
import { requestJson } from "./credits-api";

export type { AutoTopUpBody, AutoTopUpView, StartedCardSetup };

/** GET /api/credits/auto-top-up. */
export function fetchAutoTopUp(signal?: AbortSignal): Promise<AutoTopUpView> {
  return requestJson("/api/credits/auto-top-up", { signal });
}

/** PUT /api/credits/auto-top-up (409 card_required when turned on without a saved card). */
export function saveAutoTopUp(body: AutoTopUpBody): Promise<AutoTopUpView> {
  return requestJson("/api/credits/auto-top-up", { method: "PUT", json: body });
}

/** POST /api/credits/auto-top-up/setup-intent: a SetupIntent the card form confirms. */
export function startCardSetup(): Promise<StartedCardSetup> {
  return requestJson("/api/credits/auto-top-up/setup-intent", { method: "POST" });
}

/** POST /api/sandbox/setup-intents/{id}/confirm: the sandbox's card form (402 for a card it cannot save). */
export function confirmSandboxSetup(setupIntentId: string, cardNumber: string): Promise<{ status: string }> {
  return requestJson(`/api/sandbox/setup-intents/${encodeURIComponent(setupIntentId)}/confirm`, {
    json: { cardNumber },
  });
}

/** POST /api/credits/auto-top-up/card: the server reads the confirmed SetupIntent back and keeps its card. */
export function saveCard(setupIntentId: string): Promise<AutoTopUpView> {
  return requestJson("/api/credits/auto-top-up/card", { json: { setupIntentId } });
}

/** DELETE /api/credits/auto-top-up/card: forgets the card, which turns auto top-up off. */
export function removeCard(): Promise<AutoTopUpView> {
  return requestJson("/api/credits/auto-top-up/card", { method: "DELETE" });
}
