// creditkit as another backend uses it, end to end, with nothing but @creditkit/client and Node.js:
// a customer named by your own id, grants, spends, a hold and its capture, the signed events at a local
// receiver, a key without the `grant` scope, and a receiver that goes down for a while and comes back.
//
//   npm run client:build                     # once, in the repository (builds clients/typescript/dist)
//   npm run -s credits -- api-key create --name demo --scopes read,spend,grant,holds,admin
//   npm run -s credits -- api-key create --name metering --scopes read,spend,holds      # no `grant`
//   CREDITKIT_URL=http://localhost:3000 CREDITKIT_API_KEY=ck_... CREDITKIT_METERING_API_KEY=ck_... \
//     node clients/typescript/examples/platform-demo.mjs
//
// Settings (environment):
//   CREDITKIT_URL                 where creditkit runs (default http://localhost:3000)
//   CREDITKIT_API_KEY             a key with the scopes read, spend, grant, holds and admin (or one made
//                                 before scopes existed)
//   CREDITKIT_METERING_API_KEY    a key without `grant` (e.g. read,spend,holds)
//   DEMO_DOWN_SECONDS             how long the receiver stays down (default 60)
//   DEMO_RECEIVER_HOST            the address the receiver listens on and creditkit posts to (default 127.0.0.1)
//   DEMO_KEEP_ENDPOINT=1          keep the endpoint registered at the end (default: deleted, which also
//                                 deletes its delivery log), to look at its deliveries in Admin → Outbound webhooks
//   DEMO_WAIT_SECONDS             how long to wait for the events after the receiver is back (default:
//                                 twice the down time plus two minutes, for the retries' backoff)
//
// creditkit retries a failed delivery after 30 s, then 1, 2, 4... minutes, so the events held back by the
// outage arrive at the first retry after the receiver is back. Each step prints one line; the script exits
// 0 when everything arrived as promised, 1 otherwise (and says what was missing).
import { randomUUID } from "node:crypto";
import http from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { CreditkitError, createCreditkitClient, verifyWebhook } from "@creditkit/client";

const env = process.env;
const baseUrl = env.CREDITKIT_URL || "http://localhost:3000";
if (!env.CREDITKIT_API_KEY || !env.CREDITKIT_METERING_API_KEY) {
  console.error(
    "Set CREDITKIT_API_KEY (a key with every scope) and CREDITKIT_METERING_API_KEY (a key without `grant`).",
  );
  process.exit(2);
}
const downSeconds = Number(env.DEMO_DOWN_SECONDS ?? 60);
const host = env.DEMO_RECEIVER_HOST || "127.0.0.1";
const waitSeconds = Number(env.DEMO_WAIT_SECONDS ?? downSeconds * 2 + 120);

const credits = createCreditkitClient({ baseUrl, apiKey: env.CREDITKIT_API_KEY });
const metering = createCreditkitClient({ baseUrl, apiKey: env.CREDITKIT_METERING_API_KEY });

function fail(message) {
  console.error(`FAILED: ${message}`);
  process.exitCode = 1;
  throw new Error(message);
}

// ---------------------------------------------------------------------------------------------------
// The receiver: your backend's endpoint. It verifies every delivery with the endpoint's secret before it
// reads it, answers 204 to the ones it accepted, and remembers each event by id (delivery is at least
// once: a repeat carries the same id and is acknowledged without being handled again).
// ---------------------------------------------------------------------------------------------------
let secret = "";
const handled = new Map(); // event id -> the event
const deliveries = []; // every verified delivery: {id, webhookId, type}
let rejected = 0;
let crashOnNext = false;
let crashed;
const crashedNow = new Promise((resolve) => {
  crashed = resolve;
});

async function receive(request, response) {
  const chunks = [];
  for await (const chunk of request) chunks.push(chunk);
  const payload = Buffer.concat(chunks);
  let event;
  try {
    event = verifyWebhook(payload, request.headers, secret);
  } catch {
    rejected += 1;
    response.writeHead(400).end("invalid signature");
    return;
  }
  const seenBefore = deliveries.some((delivery) => delivery.id === event.id);
  deliveries.push({ id: event.id, webhookId: request.headers["webhook-id"], type: event.type });
  if (crashOnNext) {
    // The receiver dies after it read this event and before it answered: creditkit never learns that
    // it arrived, so it must send it again, with the same id.
    crashOnNext = false;
    request.socket.destroy();
    crashed(event);
    return;
  }
  const repeat = handled.has(event.id);
  if (!repeat) handled.set(event.id, event);
  const note = repeat
    ? " again (a duplicate: already handled, only acknowledged)"
    : seenBefore
      ? " again (a duplicate: the same id as the delivery the receiver died on)"
      : "";
  console.log(`  received ${event.type} ${event.id}${note}`);
  response.writeHead(204).end();
}

let server = http.createServer((request, response) => {
  receive(request, response).catch(() => response.destroy());
});
await new Promise((resolve) => server.listen(0, host, resolve));
const port = server.address().port;
const receiverUrl = `http://${host}:${port}/creditkit/events`;

async function receiverDown() {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}

async function receiverUp() {
  server = http.createServer((request, response) => {
    receive(request, response).catch(() => response.destroy());
  });
  // The same port: the endpoint's URL is what creditkit knows.
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, resolve);
  });
}

/** Waits until every id in `entryIds` has arrived in a handled event (data.entryId), or fails. */
async function eventsFor(entryIds, seconds, what) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const arrived = new Set([...handled.values()].map((event) => event.data.entryId));
    const missing = entryIds.filter((id) => !arrived.has(id));
    if (missing.length === 0) return;
    if (Date.now() > deadline)
      fail(`${what}: no event arrived in ${seconds} s for the ledger entries ${missing.join(", ")}`);
    await sleep(250);
  }
}

let endpointId;
try {
  // 1. Register the receiver. The signing secret is shown in this answer only: keep it.
  const endpoint = await credits.webhookEndpoints.create({
    url: receiverUrl,
    description: "platform demo",
    eventTypes: ["credits.granted", "credits.consumed", "credits.expired", "hold.expired"],
  });
  endpointId = endpoint.id;
  secret = endpoint.secret;
  console.log(`endpoint ${endpoint.id} registered for ${receiverUrl}`);

  // 2. A customer of yours, by your own id: no sign-in, no user account in creditkit.
  const externalId = env.DEMO_CUSTOMER_ID || `demo-${randomUUID().slice(0, 8)}`;
  const customer = await credits.customers.upsert(externalId, {
    name: "Demo customer",
    metadata: { plan: "pro" },
  });
  const again = await credits.customers.upsert(externalId, {
    name: "Demo customer",
    metadata: { plan: "pro" },
  });
  console.log(
    `customer ${externalId}: ${customer.created ? "created" : "updated"} (account ${customer.userId}); the same PUT again ${again.created ? "created another" : "changed nothing"}`,
  );

  // 3. Grant, spend, hold and capture; every ledger entry becomes one event.
  const entries = [];
  const granted = await credits.customers.grant(externalId, { amount: 100, description: "welcome credits" });
  entries.push(granted.entryId);
  const spent = await credits.customers.consume(
    externalId,
    { amount: 10, description: "report" },
    { idempotencyKey: `report-${randomUUID()}` },
  );
  entries.push(spent.entryId);
  const hold = await credits.customers.createHold(externalId, { amount: 30, ttlSeconds: 600 });
  const captured = await credits.captureHold(hold.holdId, { amount: 20 });
  entries.push(captured.entryId);
  console.log(`granted 100, spent 10, held 30 and captured 20: balance ${captured.balance}`);

  // 4. A key without the `grant` scope cannot grant: 403, and the error names the missing scope.
  try {
    await metering.customers.grant(externalId, { amount: 1_000 });
    fail("a key without the grant scope granted credits");
  } catch (error) {
    if (!(error instanceof CreditkitError && error.status === 403 && error.code === "insufficient_scope"))
      throw error;
    console.log(`a key without grant: ${error.status} ${error.code}, missing scope "${error.requiredScope}"`);
  }

  await eventsFor(entries, 60, "while the receiver was up");
  console.log(`${entries.length} events arrived, each signature verified`);

  // 5. The receiver goes down: it dies while it reads the next event, stays down for a while, and
  //    meanwhile the customer keeps spending.
  crashOnNext = true;
  const outage = [];
  const topUp = await credits.customers.grant(externalId, { amount: 50, description: "top-up" });
  outage.push(topUp.entryId);
  // The time limit does not keep the process alive once the event came (`ref: false`): the script would
  // otherwise wait out the whole minute before it exits.
  const lost = await Promise.race([crashedNow, sleep(60_000, undefined, { ref: false })]);
  if (!lost) fail("the top-up's event never reached the receiver");
  await receiverDown();
  console.log(`receiver down for ${downSeconds} s (it died reading ${lost.type} ${lost.id})`);
  for (const amount of [5, 7]) {
    const spend = await metering.customers.consume(externalId, { amount, description: "during the outage" });
    outage.push(spend.entryId);
  }
  const outageHold = await metering.customers.createHold(externalId, { amount: 10 });
  outage.push((await metering.captureHold(outageHold.holdId)).entryId);
  await sleep(downSeconds * 1000);
  await receiverUp();
  const backAt = Date.now();
  console.log("receiver back up");

  // 6. Everything arrives: the events held back, in order, and the one the receiver died on, again.
  await eventsFor([...entries, ...outage], waitSeconds, "after the receiver came back");
  console.log(
    `the ${outage.length} held-back events arrived ${Math.round((Date.now() - backAt) / 1000)} s after the receiver came back (the next retry)`,
  );
  const byId = new Map();
  for (const delivery of deliveries) byId.set(delivery.id, [...(byId.get(delivery.id) ?? []), delivery]);
  const duplicates = [...byId.entries()].filter(([, list]) => list.length > 1);
  const sameIds = deliveries.every((delivery) => delivery.webhookId === delivery.id);
  if (!byId.has(lost.id) || byId.get(lost.id).length < 2) fail(`${lost.id} was not delivered again`);
  if (!sameIds) fail("a delivery's webhook-id differed from its event's id");
  if (rejected > 0) fail(`${rejected} deliveries failed verification`);
  const balance = await credits.customers.getBalance(externalId);
  console.log(
    `all ${handled.size} events arrived, each handled once: ${deliveries.length} verified deliveries, ${duplicates.length} event(s) delivered more than once, every duplicate with its event's id`,
  );
  console.log(`balance ${balance.balance}, held ${balance.held}, available ${balance.available}`);
} finally {
  // Stop deliveries to a receiver that is about to go away, then take it down.
  if (endpointId && env.DEMO_KEEP_ENDPOINT !== "1")
    await credits.webhookEndpoints.delete(endpointId).catch(() => undefined);
  await receiverDown().catch(() => undefined);
}
