// A first run of the typed client against a running creditkit server:
//
//   npm run client:build        # once, in the repository (builds clients/typescript/dist)
//   CREDITKIT_URL=http://localhost:3000 CREDITKIT_API_KEY=ck_... CREDITKIT_USER_ID=<a user's id> \
//     node clients/typescript/examples/quickstart.mjs
//
// Make the key in Admin → API keys (or `npm run -s credits -- api-key create --name quickstart --scopes read,spend,grant,holds`);
// without the `grant` scope the grant step is refused and the script says so. The user id is a signed-up
// user's (Admin → Users). Each step prints one line; the script exits 1 on anything unexpected.
import { randomUUID } from "node:crypto";
import { CreditkitError, createCreditkitClient } from "@creditkit/client";

const { CREDITKIT_URL = "http://localhost:3000", CREDITKIT_API_KEY, CREDITKIT_USER_ID } = process.env;
if (!CREDITKIT_API_KEY || !CREDITKIT_USER_ID) {
  console.error("Set CREDITKIT_API_KEY (an API key, ck_...) and CREDITKIT_USER_ID (a user's id).");
  process.exit(2);
}
const userId = CREDITKIT_USER_ID;
const credits = createCreditkitClient({ baseUrl: CREDITKIT_URL, apiKey: CREDITKIT_API_KEY });

// 1. Grant 100 credits (needs the `grant` scope).
try {
  const granted = await credits.grant(userId, { amount: 100, description: "quickstart" });
  console.log(`granted 100 credits: balance ${granted.balance}`);
} catch (error) {
  if (!(error instanceof CreditkitError && error.code === "insufficient_scope")) throw error;
  console.log(`grant refused: this key lacks the "${error.requiredScope}" scope (continuing)`);
}

// 2. Spend 10 with your own idempotency key: sending the same call again applies it once.
const orderId = `quickstart-${randomUUID()}`;
const spent = await credits.consume(
  userId,
  { amount: 10, description: "quickstart spend" },
  { idempotencyKey: orderId },
);
const again = await credits.consume(
  userId,
  { amount: 10, description: "quickstart spend" },
  { idempotencyKey: orderId },
);
console.log(
  `spent 10 credits: entry ${spent.entryId}, balance ${spent.balance} (repeat: same entry ${again.entryId === spent.entryId})`,
);

// 3. Reserve 20 before a long job, then capture what the job used (15); the other 5 go back.
const hold = await credits.createHold(userId, { amount: 20, ttlSeconds: 600, description: "quickstart job" });
const captured = await credits.captureHold(hold.holdId, { amount: 15 });
console.log(`held 20 and captured 15: balance ${captured.balance}`);

// 4. A spend the user cannot afford is a typed error, not a negative balance.
try {
  await credits.consume(userId, { amount: 1_000_000_000 });
  throw new Error("a spend past the balance was accepted");
} catch (error) {
  if (!(error instanceof CreditkitError && error.code === "insufficient_credits")) throw error;
  console.log(`insufficient credits: ${error.available} available`);
}

const balance = await credits.getBalance(userId);
console.log(`balance ${balance.balance}, held ${balance.held}, available ${balance.available}`);
