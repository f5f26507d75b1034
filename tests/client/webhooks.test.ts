import { randomBytes, randomUUID } from "node:crypto";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { verifyWebhook, WebhookVerificationError } from "../../clients/typescript/src/index";

// verifyWebhook checks creditkit's outbound events as Standard Webhooks signs them; here they are signed
// with the standardwebhooks library itself, as the server does.

const secret = `whsec_${randomBytes(32).toString("base64")}`;

const event = {
  id: `evt_${randomUUID()}`,
  type: "credits.consumed",
  createdAt: "2026-12-01T00:00:00.000Z",
  account: { userId: "user-1", externalId: "cus_42" },
  data: { amount: 10, balance: 90, entryId: "17" },
};

function signed(payload: string, options: { secret?: string; at?: Date; id?: string } = {}) {
  const id = options.id ?? event.id;
  const at = options.at ?? new Date();
  const signature = new Webhook(options.secret ?? secret).sign(id, at, payload);
  return {
    "webhook-id": id,
    "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
    "webhook-signature": signature,
  };
}

function verificationFailure(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe("verifyWebhook", () => {
  it("accepts a signed event and returns it typed", () => {
    const payload = JSON.stringify(event);
    const verified = verifyWebhook<{ amount: number; balance: number }>(payload, signed(payload), secret);
    expect(verified).toEqual(event);
    expect(verified.account.externalId).toBe("cus_42");
    expect(verified.data.balance).toBe(90);
  });

  it("takes headers as fetch's Headers or Node's (any case, arrays) and the body as bytes", () => {
    const payload = JSON.stringify(event);
    const headers = signed(payload);
    expect(verifyWebhook(payload, new Headers(headers), secret).id).toBe(event.id);
    const nodeStyle = {
      "Webhook-Id": headers["webhook-id"],
      "webhook-timestamp": [headers["webhook-timestamp"]],
      "webhook-signature": headers["webhook-signature"],
      "content-type": undefined,
    };
    expect(verifyWebhook(Buffer.from(payload), nodeStyle, secret).id).toBe(event.id);
  });

  it("rejects a tampered payload, another secret, a replayed id and an old timestamp", () => {
    const payload = JSON.stringify(event);
    const headers = signed(payload);
    const tampered = payload.replace('"amount":10', '"amount":1000');
    expect(tampered).not.toBe(payload);
    const failures = [
      verificationFailure(() => verifyWebhook(tampered, headers, secret)),
      verificationFailure(() =>
        verifyWebhook(payload, headers, `whsec_${randomBytes(32).toString("base64")}`),
      ),
      // The id is signed too: a valid signature under another message id does not pass.
      verificationFailure(() => verifyWebhook(payload, { ...headers, "webhook-id": "evt_other" }, secret)),
      verificationFailure(() =>
        verifyWebhook(payload, signed(payload, { at: new Date(Date.now() - 10 * 60_000) }), secret),
      ),
      verificationFailure(() => verifyWebhook(payload, {}, secret)),
    ];
    for (const failure of failures) expect(failure).toBeInstanceOf(WebhookVerificationError);
  });

  it("rejects a correctly signed payload that is not a creditkit event", () => {
    const payload = JSON.stringify({ hello: "world" });
    const failure = verificationFailure(() => verifyWebhook(payload, signed(payload), secret));
    expect(failure).toBeInstanceOf(WebhookVerificationError);
  });
});
