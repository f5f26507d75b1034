// A delivery worker in a process of its own (`tsx tests/support/outbound-worker.ts <database url>`), as an
// app instance runs it, so a test can kill it mid-delivery (tests/integration/outbound-worker-crash.test.ts).
import { connectDatabase } from "../../src/db/connect";
import { runWebhookDelivery } from "../../src/outbound/deliver-webhooks";

async function main(url: string | undefined): Promise<never> {
  if (!url) throw new Error("usage: outbound-worker.ts <database url>");
  const connection = await connectDatabase({ kind: "postgres", url, migrate: false, poolSize: 2 });
  process.stdout.write("ready\n");
  for (;;) {
    await runWebhookDelivery(connection.db, { timeoutMs: 60_000 });
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

void main(process.argv[2]);
