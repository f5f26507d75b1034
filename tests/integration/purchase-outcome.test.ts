import { Window } from "happy-dom";
import { createElement } from "react";
import type { Root } from "react-dom/client";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { resetAuth } from "../../src/auth/session";
import type { PurchaseOutcome, PurchaseWait } from "../../src/components/credits/use-purchase-outcome";
import { useDatabaseConnection } from "../../src/db/client";
import { routes } from "../../src/routes";
import { createApiApp } from "../../src/server/api-app";
import { APP_ORIGIN, appRequest, routeContext, type SignedUpUser, signUp } from "../support/app-requests";
import { confirmPost, purchasesPost } from "../support/route-handlers";
import { purchaseRow } from "../support/rows";
import { configureServerEnv } from "../support/server-env";
import { createTestDatabase, type TestDatabase } from "../support/test-database";

// The pay dialog's wait for the webhook (src/components/credits/use-purchase-outcome.ts), rendered by React
// in a DOM of happy-dom's, polling the app's own /api routes on a real database: its fetches go to the Hono
// application the servers run, with the customer's session cookie, as the browser's would.
const serverEnv = configureServerEnv();
afterAll(() => serverEnv.cleanup());

const INTERVAL_MS = 50;
const SLOW = { timeout: 15_000, interval: 20 };

describe("waiting for a purchase to settle", () => {
  let database: TestDatabase;
  let customer: SignedUpUser;
  let createRoot: typeof import("react-dom/client").createRoot;
  let reactQuery: typeof import("@tanstack/react-query");
  let usePurchaseOutcome: typeof import("../../src/components/credits/use-purchase-outcome").usePurchaseOutcome;
  let dom: Window;
  const realFetch = globalThis.fetch;
  /** Every browser request to the app; `failNext` makes the next ones fail as a dropped connection does. */
  const browser = { requests: 0, failNext: 0 };
  const roots: Root[] = [];

  beforeAll(async () => {
    database = await createTestDatabase("pglite");
    useDatabaseConnection(database);
    resetAuth();
    customer = await signUp("waiting-customer@example.test");
    const app = createApiApp(routes);
    globalThis.fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
      if (typeof input !== "string" || !input.startsWith("/")) return realFetch(input, init);
      browser.requests += 1;
      if (browser.failNext > 0) {
        browser.failNext -= 1;
        throw new TypeError("Failed to fetch");
      }
      const headers = new Headers(init?.headers);
      headers.set("cookie", customer.cookie);
      return app.fetch(new Request(new URL(input, APP_ORIGIN), { ...init, headers }));
    }) as typeof fetch;
    dom = new Window();
    Object.assign(globalThis, { window: dom, document: dom.document, navigator: dom.navigator });
    // Loaded after the DOM exists: React Query decides when it loads whether it runs in a browser (it sets
    // no refetch timers on a server).
    ({ createRoot } = await import("react-dom/client"));
    reactQuery = await import("@tanstack/react-query");
    ({ usePurchaseOutcome } = await import("../../src/components/credits/use-purchase-outcome"));
  });
  afterEach(() => {
    for (const root of roots.splice(0)) root.unmount();
    browser.failNext = 0;
  });
  afterAll(async () => {
    globalThis.fetch = realFetch;
    await dom?.happyDOM.close();
    await database?.close();
  });

  async function startPurchase(): Promise<{ purchaseId: string; paymentIntentId: string }> {
    const response = await purchasesPost(
      appRequest("/api/credits/purchases", { cookie: customer.cookie, json: { packageId: "basic" } }),
      routeContext({}),
    );
    expect(response.status).toBe(201);
    return (await response.json()) as { purchaseId: string; paymentIntentId: string };
  }

  /** The sandbox's card form: confirms the payment and delivers its webhook, as Stripe would. */
  async function pay(paymentIntentId: string, cardNumber: string): Promise<number> {
    const response = await confirmPost(
      appRequest(`/api/sandbox/payment-intents/${paymentIntentId}/confirm`, {
        cookie: customer.cookie,
        json: { cardNumber },
      }),
      routeContext({ paymentIntentId }),
    );
    return response.status;
  }

  /** Renders a component that waits as the pay dialog does; `show` renders it again with another wait. */
  function renderWait(options: { timeoutMs?: number } = {}) {
    const outcomes: PurchaseOutcome[] = [];
    const client = new reactQuery.QueryClient();
    const root = createRoot(dom.document.createElement("div") as unknown as Element);
    roots.push(root);
    function Waiter({ wait }: { wait: PurchaseWait | null }) {
      usePurchaseOutcome(wait, (outcome) => outcomes.push(outcome), { intervalMs: INTERVAL_MS, ...options });
      return null;
    }
    const show = (wait: PurchaseWait | null) =>
      root.render(createElement(reactQuery.QueryClientProvider, { client }, createElement(Waiter, { wait })));
    return { outcomes, show, root };
  }

  const waitFor = (purchaseId: string): PurchaseWait => ({ purchaseId, startedAt: Date.now() });

  it("reports success once the webhook has credited the purchase, not before, and then stops asking", async () => {
    const { purchaseId, paymentIntentId } = await startPurchase();
    const { outcomes, show } = renderWait();
    const before = browser.requests;
    show(waitFor(purchaseId));

    // It keeps asking while the purchase is pending, and reports nothing.
    await expect.poll(() => browser.requests - before, SLOW).toBeGreaterThanOrEqual(3);
    expect(outcomes).toEqual([]);

    expect(await pay(paymentIntentId, "4242 4242 4242 4242")).toBe(200);
    await expect
      .poll(() => outcomes, SLOW)
      .toEqual([
        { kind: "succeeded", purchase: expect.objectContaining({ id: purchaseId, status: "succeeded" }) },
      ]);
    const settled = browser.requests;
    await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS * 6));
    expect(browser.requests).toBe(settled);
    expect(outcomes).toHaveLength(1);
  });

  it("reports a failed payment with the purchase's own failure message", async () => {
    const { purchaseId, paymentIntentId } = await startPurchase();
    const { outcomes, show } = renderWait();
    show(waitFor(purchaseId));

    expect(await pay(paymentIntentId, "4000 0000 0000 0002")).toBe(402);

    const { failureMessage } = await purchaseRow(database.db, purchaseId);
    expect(failureMessage).toEqual(expect.any(String));
    await expect
      .poll(() => outcomes, SLOW)
      .toEqual([{ kind: "failed", purchase: expect.objectContaining({ status: "failed", failureMessage }) }]);
  });

  it("asks again after failed requests, and gives up with a timeout at the deadline, not before", async () => {
    const { purchaseId } = await startPurchase();
    const { outcomes, show } = renderWait({ timeoutMs: 4_000 });
    browser.failNext = 3;
    const before = browser.requests;
    show(waitFor(purchaseId));

    // The three failed requests are followed by answered ones: errors are not an outcome.
    await expect.poll(() => browser.requests - before, SLOW).toBeGreaterThanOrEqual(6);
    expect(browser.failNext).toBe(0);
    expect(outcomes).toEqual([]);

    await expect.poll(() => outcomes, SLOW).toEqual([{ kind: "timeout" }]);
    expect((await purchaseRow(database.db, purchaseId)).status).toBe("pending");
  });

  it("answers a new wait from the server, not from an earlier wait's answer", async () => {
    const { purchaseId, paymentIntentId } = await startPurchase();
    const { outcomes, show } = renderWait();
    show(waitFor(purchaseId));
    expect(await pay(paymentIntentId, "4000 0000 0000 0002")).toBe(402);
    await expect.poll(() => outcomes.map((outcome) => outcome.kind), SLOW).toEqual(["failed"]);

    // Another card on the same purchase; the new wait must not take the cached "failed" for its answer.
    expect(await pay(paymentIntentId, "4242 4242 4242 4242")).toBe(200);
    show(waitFor(purchaseId));
    await expect.poll(() => outcomes.map((outcome) => outcome.kind), SLOW).toEqual(["failed", "succeeded"]);
  });

  it("stops asking when the dialog closes (the component unmounts)", async () => {
    const { purchaseId } = await startPurchase();
    const { outcomes, show, root } = renderWait();
    const before = browser.requests;
    show(waitFor(purchaseId));
    await expect.poll(() => browser.requests - before, SLOW).toBeGreaterThanOrEqual(2);

    root.unmount();
    roots.splice(roots.indexOf(root), 1);
    const closed = browser.requests;
    await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS * 6));
    expect(browser.requests).toBe(closed);
    expect(outcomes).toEqual([]);
  });
});
