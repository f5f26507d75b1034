import { afterAll, beforeAll } from "vitest";
import { type FakeStripe, startFakeStripe } from "./fake-stripe";
import { webhookPost } from "./route-handlers";
import { configureServerEnv, type TestServerEnv } from "./server-env";
import { type Delivery, deliverStripeEvent } from "./stripe-events";

/** The app configured with Stripe as its provider, pointed at the file's Stripe stand-in. */
export type StripeApp = {
  /** The stand-in (its recorded requests, billing and off-session state); read it inside tests only. */
  readonly fake: FakeStripe;
  /** The webhook signing secret the app was configured with. */
  readonly webhookSecret: string;
  /** Signs an event with that secret (the SDK) and posts it through the real webhook route. */
  deliver(
    type: string,
    object: Record<string, unknown>,
    options?: { created?: number; eventId?: string },
  ): Promise<Delivery>;
};

/**
 * For a test file whose app talks to Stripe: starts the local Stripe stand-in before the file's tests and
 * closes it after them, and configures the app as a Stripe install pointed at it, with keys named after
 * `name` (`sk_test_<name>`, `whsec_test_<name>`, `pk_test_<name>`) and a purchase limit high enough for
 * a test's many purchases. Call it at the top of the file, before any suite, as configureServerEnv wants.
 */
export function setUpStripeApp(name: string): StripeApp {
  const webhookSecret = `whsec_test_${name}`;
  let fake: FakeStripe | undefined;
  let serverEnv: TestServerEnv | undefined;
  beforeAll(async () => {
    fake = await startFakeStripe();
    serverEnv = configureServerEnv({
      STRIPE_SECRET_KEY: `sk_test_${name}`,
      STRIPE_WEBHOOK_SECRET: webhookSecret,
      NEXT_PUBLIC_STRIPE_PUBLISHABLE_KEY: `pk_test_${name}`,
      STRIPE_API_BASE: fake.url,
      RATE_LIMIT_PURCHASES_PER_MINUTE: "1000",
    });
  });
  afterAll(async () => {
    await fake?.close();
    serverEnv?.cleanup();
  });
  return {
    get fake() {
      if (!fake) throw new Error("the Stripe stand-in is used before beforeAll ran");
      return fake;
    },
    webhookSecret,
    deliver: (type, object, options) => deliverStripeEvent(webhookPost, webhookSecret, type, object, options),
  };
}

/**
 * The app's delivery with each event's `created` one second after the last (from two hours ago), so events
 * sent in a row are seen in that order, as Stripe stamps them.
 */
export function sequencedDelivery(
  app: StripeApp,
): (type: string, object: Record<string, unknown>) => Promise<Delivery> {
  let clock = Math.floor(Date.now() / 1000) - 7200;
  return (type, object) => app.deliver(type, object, { created: ++clock });
}
