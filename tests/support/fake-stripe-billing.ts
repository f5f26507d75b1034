import { addMonthsClamped } from "../../src/credits/credit-periods";
import { prorate } from "../../src/payment/sandbox/change-sandbox-plan";
import { invoiceLineObject, invoiceObject, subscriptionObject } from "./stripe-events";

type Rec = Record<string, unknown>;
type Answer = { status: number; body: unknown };

/** What the Stripe side did when a test plays Stripe's part: the objects its events carry. */
export type BillingStep = { subscription: Rec; invoice?: Rec; session?: Rec };

/**
 * The billing part of the local Stripe stand-in (fake-stripe.ts): the few endpoints the Stripe provider
 * calls for subscriptions, answered from memory in the pinned API version's shapes (stripe-events.ts
 * builds them from Stripe's own fixtures), plus what Stripe does on its own side, which a test triggers
 * and then delivers as signed events: a customer finishing Checkout (`completeCheckout`) and a renewal
 * (`renew`). Modelled, because the provider depends on them:
 * - prices found by `lookup_keys` and made with `lookup_key`;
 * - `subscriptions.update` with `proration_behavior: always_invoice`: a proration invoice (the unused
 *   time of the old price credited, the new price charged for the rest of the period, each rounded on
 *   its own; an interval change starts a new cycle now) paid by the card on file, or, when `cardDeclines`
 *   is set, left open with the update in `pending_update` (`payment_behavior: pending_if_incomplete`);
 * - subscription schedules: `from_subscription`, phases replaced by an update, `release`; a renewal at a
 *   phase's start moves the subscription to that phase's price and releases the schedule (Stripe keeps
 *   it until the last phase ends; the price and the events are the same);
 * - invoice payments listed by invoice (events never expand an invoice's `payments`).
 * Not modelled: taxes, discounts, trials' own invoices, payment methods, anything the provider never asks.
 */
export type FakeBilling = {
  customers: Map<string, Rec>;
  prices: Map<string, Rec>;
  sessions: Map<string, Rec>;
  schedules: Map<string, Rec>;
  invoices: Map<string, Rec>;
  portalSessions: Rec[];
  /** Customer portal configurations made (`features` as the app sent them, form values as strings). */
  portalConfigurations: Rec[];
  /** Refunds asked for (`POST /v1/refunds`: the PaymentIntent and the amount, in minor units, if one was sent). */
  refunds: { id: string; paymentIntent: string; amount: number | null }[];
  /** While true, every invoice charged to the card on file is declined (upgrades and renewals). */
  cardDeclines: boolean;
  handle(method: string, path: string, form: URLSearchParams, query: URLSearchParams): Answer | undefined;
  /** The customer pays the session's first invoice: its subscription (active) and paid invoice. */
  completeCheckout(sessionId: string, at?: Date): Required<BillingStep>;
  /** The subscription's next period: renewed and invoiced (a scheduled phase applied), or ended. */
  renew(subscriptionId: string): BillingStep;
  /**
   * An open (declined) invoice is paid at last, as Stripe's retry or the customer's new card pays it: the
   * invoice becomes `paid` with its payment, and its subscription `active` when this was its latest invoice.
   */
  payOpenInvoice(invoiceId: string): Rec;
  /**
   * An operator subscribes a customer in Stripe's Dashboard (or any API client other than the app): no
   * metadata of ours, the first invoice paid by the card on file. `price` must be one of `prices`.
   */
  subscribeOutsideApp(customerId: string, price: string, at?: Date): Required<Omit<BillingStep, "session">>;
  /** A price made outside the app (`lookupKey` null: not ours), as the Dashboard makes one. */
  addPrice(fields: { unitAmount: number; interval: "month" | "year"; lookupKey: string | null }): string;
};

const seconds = (date: Date) => Math.floor(date.getTime() / 1000);
const notFound = (what: string, id: string): Answer => ({
  status: 404,
  body: {
    error: { type: "invalid_request_error", code: "resource_missing", message: `No such ${what}: '${id}'` },
  },
});
const list = (data: unknown[], url: string) => ({ object: "list", data, has_more: false, url });

/** `a[b][0][c]=v` form fields (how the SDK encodes nested parameters) as nested objects. */
function nested(form: URLSearchParams): Rec {
  const root: Rec = {};
  for (const [key, value] of form.entries()) {
    const parts = key.split(/\[|\]\[|\]/).filter((part) => part !== "");
    let at: Rec = root;
    parts.forEach((part, index) => {
      if (index === parts.length - 1) {
        at[part] = value;
        return;
      }
      if (at[part] === undefined) at[part] = {};
      at = at[part] as Rec;
    });
  }
  return root;
}

export function createFakeBilling(subscriptions: Map<string, Rec>): FakeBilling {
  const customers = new Map<string, Rec>();
  const prices = new Map<string, Rec>();
  const sessions = new Map<string, Rec>();
  const schedules = new Map<string, Rec>();
  const invoices = new Map<string, Rec>();
  const invoicePayments = new Map<string, Rec[]>();
  const portalSessions: Rec[] = [];
  const portalConfigurations: Rec[] = [];
  const refunds: FakeBilling["refunds"] = [];
  let counter = 0;
  const next = (prefix: string) => `${prefix}_fake_${++counter}`;

  const itemOf = (sub: Rec) => (sub.items as { data: Rec[] }).data[0] as Rec;
  const priceOf = (priceId: string) => {
    const price = prices.get(priceId);
    if (!price) throw new Error(`fake Stripe: no price ${priceId}`);
    return price as Rec & { unit_amount: number; recurring: { interval: "month" | "year" } };
  };
  const months = (priceId: string) => (priceOf(priceId).recurring.interval === "year" ? 12 : 1);

  function makeSubscription(fields: {
    customer: string;
    price: string;
    start: Date;
    metadata: Record<string, string>;
  }): Rec {
    const id = next("sub");
    const end = addMonthsClamped(fields.start, months(fields.price));
    const sub = subscriptionObject({
      id,
      customer: fields.customer,
      status: "active",
      price: fields.price,
      period: { start: fields.start, end },
      metadata: fields.metadata,
    });
    Object.assign(itemOf(sub).price as Rec, {
      unit_amount: priceOf(fields.price).unit_amount,
      recurring: priceOf(fields.price).recurring,
      lookup_key: priceOf(fields.price).lookup_key ?? null,
    });
    sub.schedule = null;
    subscriptions.set(id, sub);
    return sub;
  }

  /** An invoice of the subscription, paid by the card on file unless it declines; its payment recorded. */
  function makeInvoice(
    sub: Rec,
    billingReason: string,
    lines: {
      price: string;
      amount: number;
      start: Date;
      end: Date;
      proration?: boolean;
      creditedItems?: { invoice: string; invoiceLineItems: string[] } | null;
    }[],
  ): Rec {
    const id = next("in");
    const total = lines.reduce((sum, line) => sum + line.amount, 0);
    const paid = !declines();
    const invoice = invoiceObject({
      id,
      customer: sub.customer as string,
      subscription: sub.id as string,
      subscriptionMetadata: sub.metadata as Record<string, string>,
      status: paid ? "paid" : "open",
      amountPaid: total,
      billingReason,
      lines: lines.map((line) =>
        invoiceLineObject({
          invoice: id,
          subscription: sub.id as string,
          price: line.price,
          amount: line.amount,
          period: { start: line.start, end: line.end },
          proration: line.proration,
          creditedItems: line.creditedItems ?? null,
        }),
      ),
    });
    invoice.created = seconds(new Date());
    invoices.set(id, invoice);
    if (paid && total > 0)
      invoicePayments.set(id, [
        {
          id: next("inpay"),
          object: "invoice_payment",
          invoice: id,
          is_default: true,
          status: "paid",
          amount_paid: total,
          currency: "usd",
          payment: { type: "payment_intent", payment_intent: next("pi_inv") },
        },
      ]);
    return invoice;
  }
  /** The last paid invoice of the subscription and its lines charging `priceId` (a credit's debit), if any. */
  function creditedItemsOf(sub: Rec, priceId: string) {
    const invoice = typeof sub.latest_invoice === "string" ? invoices.get(sub.latest_invoice) : undefined;
    if (!invoice) return null;
    if (invoice.status !== "paid") return null;
    const lines = (invoice.lines as { data: Rec[] }).data.filter((line) => {
      const pricing = line.pricing as { price_details: { price: string } };
      return pricing.price_details.price === priceId && (line.amount as number) > 0;
    });
    return lines.length > 0
      ? { invoice: invoice.id as string, invoiceLineItems: lines.map((line) => line.id as string) }
      : null;
  }
  let declineFlag = false;
  const declines = () => declineFlag;

  function updateSubscription(sub: Rec, params: Rec): Rec {
    if (params.cancel_at_period_end !== undefined) {
      if (sub.schedule) throw Object.assign(new Error("schedule"), { answer: scheduleRefuses(sub) });
      sub.cancel_at_period_end = params.cancel_at_period_end === "true";
      sub.cancel_at = sub.cancel_at_period_end ? itemOf(sub).current_period_end : null;
    }
    const items = params.items as Record<string, Rec> | undefined;
    const change = items?.["0"];
    if (change?.price) {
      const item = itemOf(sub);
      const oldPrice = (item.price as Rec).id as string;
      const newPrice = change.price as string;
      const now = new Date();
      const start = new Date((item.current_period_start as number) * 1000);
      const end = new Date((item.current_period_end as number) * 1000);
      const whole = seconds(end) - seconds(start);
      const remaining = seconds(end) - seconds(now);
      const sameInterval = months(oldPrice) === months(newPrice);
      const newEnd = sameInterval ? end : addMonthsClamped(now, months(newPrice));
      const invoice = makeInvoice(sub, "subscription_update", [
        {
          price: oldPrice,
          amount: -prorate(priceOf(oldPrice).unit_amount, remaining, whole),
          start: now,
          end,
          proration: true,
          // As Stripe does: the credit names the debit it reverses (the line that charged the old price).
          creditedItems: creditedItemsOf(sub, oldPrice),
        },
        sameInterval
          ? {
              price: newPrice,
              amount: prorate(priceOf(newPrice).unit_amount, remaining, whole),
              start: now,
              end,
              proration: true,
            }
          : { price: newPrice, amount: priceOf(newPrice).unit_amount, start: now, end: newEnd },
      ]);
      sub.latest_invoice = invoice.id;
      if (invoice.status === "paid") {
        Object.assign(item.price as Rec, {
          id: newPrice,
          unit_amount: priceOf(newPrice).unit_amount,
          recurring: priceOf(newPrice).recurring,
        });
        if (!sameInterval) {
          item.current_period_start = seconds(now);
          item.current_period_end = seconds(newEnd);
          sub.billing_cycle_anchor = seconds(now);
        }
        sub.pending_update = null;
      } else {
        sub.pending_update = {
          expires_at: seconds(now) + 23 * 3600,
          subscription_items: [{ price: newPrice }],
        };
      }
    }
    return sub;
  }

  const scheduleRefuses = (sub: Rec): Answer => ({
    status: 400,
    body: {
      error: {
        type: "invalid_request_error",
        message: `The subscription is managed by the subscription schedule \`${sub.schedule}\`, and updating any cancelation behavior directly is not allowed.`,
      },
    },
  });

  function expanded(sub: Rec, expand: Rec | undefined): Rec {
    const wanted = Object.values(expand ?? {}).some((value) => String(value).startsWith("latest_invoice"));
    if (!wanted || typeof sub.latest_invoice !== "string") return sub;
    const invoice = invoices.get(sub.latest_invoice);
    return {
      ...sub,
      latest_invoice: invoice
        ? {
            ...invoice,
            payments: list(invoicePayments.get(invoice.id as string) ?? [], "/v1/invoice_payments"),
          }
        : sub.latest_invoice,
    };
  }

  function handle(
    method: string,
    path: string,
    form: URLSearchParams,
    query: URLSearchParams,
  ): Answer | undefined {
    const params = nested(form);
    const segments = path.split("/").slice(2); // after "/v1"
    const [resource, id, action] = segments;
    if (method === "POST" && path === "/v1/customers") {
      const customer = {
        id: next("cus"),
        object: "customer",
        email: params.email ?? null,
        metadata: params.metadata ?? {},
      };
      customers.set(customer.id, customer);
      return { status: 200, body: customer };
    }
    if (method === "POST" && resource === "refunds" && !id) {
      // Recorded and answered pending, as Stripe answers a card refund; its events are the test's to send.
      const refund = {
        id: next("re"),
        paymentIntent: params.payment_intent as string,
        amount: params.amount === undefined ? null : Number(params.amount),
      };
      refunds.push(refund);
      return {
        status: 200,
        body: {
          id: refund.id,
          object: "refund",
          amount: refund.amount,
          currency: "usd",
          payment_intent: refund.paymentIntent,
          status: "pending",
        },
      };
    }
    if (resource === "prices" && !id) {
      if (method === "GET") {
        const keys = [...query.entries()]
          .filter(([key]) => key.startsWith("lookup_keys"))
          .map(([, value]) => value);
        const found = [...prices.values()].filter(
          (price) => price.active && keys.includes(price.lookup_key as string),
        );
        return { status: 200, body: list(found, "/v1/prices") };
      }
      const recurring = params.recurring as Rec;
      const taken = [...prices.values()].find((p) => p.active && p.lookup_key === params.lookup_key);
      if (params.lookup_key && taken)
        return {
          status: 400,
          body: {
            error: {
              type: "invalid_request_error",
              message: `A price (\`${taken.id}\`) already uses that lookup key.`,
              param: "lookup_key",
            },
          },
        };
      const price = {
        id: next("price"),
        object: "price",
        active: true,
        currency: params.currency,
        unit_amount: Number(params.unit_amount),
        lookup_key: params.lookup_key ?? null,
        recurring: {
          interval: recurring.interval,
          interval_count: Number(recurring.interval_count ?? 1),
          usage_type: "licensed",
        },
        product: next("prod"),
        metadata: params.metadata ?? {},
        type: "recurring",
      };
      prices.set(price.id, price);
      return { status: 200, body: price };
    }
    if (resource === "checkout" && id === "sessions") {
      const sessionId = segments[2];
      if (method === "POST" && !sessionId) {
        const session = {
          id: next("cs"),
          object: "checkout.session",
          mode: params.mode,
          status: "open",
          payment_status: "unpaid",
          customer: params.customer,
          client_reference_id: params.client_reference_id ?? null,
          metadata: params.metadata ?? {},
          subscription: null,
          success_url: params.success_url,
          cancel_url: params.cancel_url,
          line_items_price: ((params.line_items as Rec)["0"] as Rec).price,
          subscription_data: params.subscription_data ?? {},
          url: "",
        };
        session.url = `https://checkout.stripe.com/c/pay/${session.id}`;
        sessions.set(session.id, session);
        return { status: 200, body: session };
      }
      const session = sessionId ? sessions.get(sessionId) : undefined;
      if (!session || !sessionId) return notFound("checkout.session", sessionId ?? "");
      if (method === "POST" && segments[3] === "expire") {
        if (session.status !== "open")
          return {
            status: 400,
            body: {
              error: {
                type: "invalid_request_error",
                message: `Only Checkout Sessions with a status in ["open"] can be expired.`,
              },
            },
          };
        session.status = "expired";
      }
      return { status: 200, body: session };
    }
    if (resource === "subscriptions" && id && method !== "GET") {
      const sub = subscriptions.get(id);
      if (!sub) return notFound("subscription", id);
      if (method === "DELETE") {
        sub.status = sub.status === "incomplete" ? "incomplete_expired" : "canceled";
        sub.ended_at = seconds(new Date());
        sub.canceled_at = sub.ended_at;
        return { status: 200, body: sub };
      }
      try {
        return { status: 200, body: expanded(updateSubscription(sub, params), params.expand as Rec) };
      } catch (error) {
        const answer = (error as { answer?: Answer }).answer;
        if (answer) return answer;
        throw error;
      }
    }
    if (resource === "subscription_schedules") {
      if (method === "POST" && !id) {
        const subId = params.from_subscription as string;
        const sub = subscriptions.get(subId);
        if (!sub) return notFound("subscription", subId);
        const item = itemOf(sub);
        const phase = {
          start_date: item.current_period_start,
          end_date: item.current_period_end,
          items: [{ price: (item.price as Rec).id, quantity: 1 }],
        };
        const schedule = {
          id: next("sub_sched"),
          object: "subscription_schedule",
          subscription: subId,
          status: "active",
          end_behavior: "release",
          current_phase: { start_date: phase.start_date, end_date: phase.end_date },
          phases: [phase],
        };
        schedules.set(schedule.id, schedule);
        sub.schedule = schedule.id;
        return { status: 200, body: schedule };
      }
      const schedule = id ? schedules.get(id) : undefined;
      if (!schedule || !id) return notFound("subscription_schedule", id ?? "");
      if (method === "POST" && action === "release") {
        schedule.status = "released";
        const sub = subscriptions.get(schedule.subscription as string);
        if (sub) sub.schedule = null;
      } else if (method === "POST") {
        const phases = Object.values((params.phases ?? {}) as Record<string, Rec>);
        let start = Number((phases[0] as Rec).start_date);
        schedule.phases = phases.map((phase) => {
          const price = ((phase.items as Rec)["0"] as Rec).price as string;
          const end = phase.end_date
            ? Number(phase.end_date)
            : seconds(addMonthsClamped(new Date(start * 1000), months(price)));
          const shaped = { start_date: start, end_date: end, items: [{ price, quantity: 1 }] };
          start = end;
          return shaped;
        });
        schedule.end_behavior = params.end_behavior ?? schedule.end_behavior;
      }
      return { status: 200, body: schedule };
    }
    if (path === "/v1/billing_portal/configurations") {
      if (method === "GET")
        return { status: 200, body: list(portalConfigurations, "/v1/billing_portal/configurations") };
      const configuration = {
        id: next("bpc"),
        object: "billing_portal.configuration",
        active: true,
        ...params,
      };
      portalConfigurations.push(configuration);
      return { status: 200, body: configuration };
    }
    if (method === "GET" && resource === "prices" && id) {
      const price = prices.get(id);
      return price ? { status: 200, body: price } : notFound("price", id);
    }
    if (method === "POST" && path === "/v1/billing_portal/sessions") {
      const session = {
        id: next("bps"),
        object: "billing_portal.session",
        customer: params.customer,
        return_url: params.return_url,
        configuration: params.configuration,
        url: "",
      };
      session.url = `https://billing.stripe.com/p/session/${session.id}`;
      portalSessions.push(session);
      return { status: 200, body: session };
    }
    if (method === "GET" && resource === "invoices" && id) {
      const invoice = invoices.get(id);
      return invoice ? { status: 200, body: invoice } : notFound("invoice", id);
    }
    if (method === "GET" && path === "/v1/invoice_payments") {
      const byPayment = query.get("payment[payment_intent]");
      if (byPayment) {
        // Filtered by the PaymentIntent, the invoice expanded when asked (`expand[]=data.invoice`).
        const expand = [...query.entries()].some(
          ([key, value]) => key.startsWith("expand") && value === "data.invoice",
        );
        const found = [...invoicePayments.values()]
          .flat()
          .filter((payment) => (payment.payment as Rec).payment_intent === byPayment)
          .map((payment) =>
            expand
              ? { ...payment, invoice: invoices.get(payment.invoice as string) ?? payment.invoice }
              : payment,
          );
        return { status: 200, body: list(found, "/v1/invoice_payments") };
      }
      return {
        status: 200,
        body: list(invoicePayments.get(query.get("invoice") ?? "") ?? [], "/v1/invoice_payments"),
      };
    }
    return undefined;
  }

  return {
    customers,
    prices,
    sessions,
    schedules,
    invoices,
    portalSessions,
    portalConfigurations,
    refunds,
    get cardDeclines() {
      return declineFlag;
    },
    set cardDeclines(value: boolean) {
      declineFlag = value;
    },
    handle,
    completeCheckout(sessionId, at = new Date()) {
      const session = sessions.get(sessionId);
      if (session?.status !== "open") throw new Error(`fake Stripe: session ${sessionId} is not open`);
      const price = session.line_items_price as string;
      const metadata = ((session.subscription_data as Rec).metadata ?? {}) as Record<string, string>;
      const subscription = makeSubscription({
        customer: session.customer as string,
        price,
        start: at,
        metadata,
      });
      const item = itemOf(subscription);
      // A trial (`subscription_data.trial_period_days`): the subscription is `trialing`, its first period is
      // the trial, and its first invoice is $0 for that period, as Stripe makes them.
      const trialDays = Number((session.subscription_data as Rec).trial_period_days ?? 0);
      if (trialDays > 0) {
        const trialEnd = seconds(at) + trialDays * 86_400;
        Object.assign(subscription, { status: "trialing", trial_start: seconds(at), trial_end: trialEnd });
        item.current_period_end = trialEnd;
      }
      const invoice = makeInvoice(subscription, "subscription_create", [
        {
          price,
          amount: trialDays > 0 ? 0 : priceOf(price).unit_amount,
          start: at,
          end: new Date((item.current_period_end as number) * 1000),
        },
      ]);
      subscription.latest_invoice = invoice.id;
      Object.assign(session, { status: "complete", payment_status: "paid", subscription: subscription.id });
      return { session, subscription, invoice };
    },
    subscribeOutsideApp(customerId, price, at = new Date()) {
      if (!customers.has(customerId)) throw new Error(`fake Stripe: no customer ${customerId}`);
      const subscription = makeSubscription({ customer: customerId, price, start: at, metadata: {} });
      const item = itemOf(subscription);
      const invoice = makeInvoice(subscription, "subscription_create", [
        {
          price,
          amount: priceOf(price).unit_amount,
          start: at,
          end: new Date((item.current_period_end as number) * 1000),
        },
      ]);
      subscription.latest_invoice = invoice.id;
      return { subscription, invoice };
    },
    addPrice({ unitAmount, interval, lookupKey }) {
      const id = next("price");
      prices.set(id, {
        id,
        object: "price",
        active: true,
        currency: "usd",
        unit_amount: unitAmount,
        lookup_key: lookupKey,
        recurring: { interval, interval_count: 1 },
        type: "recurring",
        metadata: {},
      });
      return id;
    },
    payOpenInvoice(invoiceId) {
      const invoice = invoices.get(invoiceId);
      if (invoice?.status !== "open") throw new Error(`fake Stripe: invoice ${invoiceId} is not open`);
      const total = invoice.amount_due as number;
      Object.assign(invoice, { status: "paid", amount_paid: total, amount_remaining: 0 });
      if (total > 0)
        invoicePayments.set(invoiceId, [
          {
            id: next("inpay"),
            object: "invoice_payment",
            invoice: invoiceId,
            is_default: true,
            status: "paid",
            amount_paid: total,
            currency: "usd",
            payment: { type: "payment_intent", payment_intent: next("pi_inv") },
          },
        ]);
      const parent = invoice.parent as { subscription_details: { subscription: string } };
      const sub = subscriptions.get(parent.subscription_details.subscription);
      // As Stripe: paying an invoice revives a past-due subscription, never an ended one.
      const ended = sub?.status === "canceled" || sub?.status === "incomplete_expired";
      if (sub && sub.latest_invoice === invoiceId && !ended) sub.status = "active";
      return invoice;
    },
    renew(subscriptionId) {
      const sub = subscriptions.get(subscriptionId);
      if (!sub) throw new Error(`fake Stripe: no subscription ${subscriptionId}`);
      const item = itemOf(sub);
      const start = new Date((item.current_period_end as number) * 1000);
      if (sub.cancel_at_period_end) {
        Object.assign(sub, { status: "canceled", ended_at: seconds(start), canceled_at: seconds(start) });
        return { subscription: sub };
      }
      const schedule = typeof sub.schedule === "string" ? schedules.get(sub.schedule) : undefined;
      const phase = (schedule?.phases as Rec[] | undefined)?.find(
        (p) => p.start_date === item.current_period_end,
      );
      if (schedule && phase) {
        const price = ((phase.items as Rec[])[0] as Rec).price as string;
        Object.assign(item.price as Rec, {
          id: price,
          unit_amount: priceOf(price).unit_amount,
          recurring: priceOf(price).recurring,
        });
        schedule.status = "released";
        sub.schedule = null;
      }
      const price = (item.price as Rec).id as string;
      const end = addMonthsClamped(
        start,
        months(price),
        new Date((sub.billing_cycle_anchor as number) * 1000).getUTCDate(),
      );
      const invoice = makeInvoice(sub, "subscription_cycle", [
        { price, amount: priceOf(price).unit_amount, start, end },
      ]);
      item.current_period_start = seconds(start);
      item.current_period_end = seconds(end);
      sub.latest_invoice = invoice.id;
      sub.status = invoice.status === "paid" ? "active" : "past_due";
      return { subscription: sub, invoice };
    },
  };
}
