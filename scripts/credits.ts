#!/usr/bin/env tsx
// Operators' command line: `npm run credits -- <command>`. Uses DATABASE_URL, or the embedded database
// under DATA_DIR (stop the app first: only one process may open the embedded database).
import { Command } from "commander";
import { recordAudit } from "@/audit/record-audit";
import { addCredits } from "@/credits/add-credits";
import { internalKey } from "@/credits/idempotency-keys";
import { verifyLedger } from "@/credits/verify-ledger";
import { getConnection } from "@/db/client";
import { runSweep } from "@/jobs/run-sweep";
import { getPaymentProvider } from "@/payment/get-payment-provider";
import { reconcilePayments } from "@/payment/reconcile-payments";
import { createApiKey, listApiKeys, revokeApiKey } from "@/service-api/api-keys";

const cli = { userId: null, label: "cli" };

function parseDuration(text: string): number {
  const match = /^(\d+)\s*([smhd])$/.exec(text.trim());
  if (!match) throw new Error(`Not a duration: ${text} (use e.g. 30m, 72h, 7d)`);
  const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as "s" | "m" | "h" | "d"];
  return Number(match[1]) * unit;
}

async function withDatabase<T>(
  work: (db: Awaited<ReturnType<typeof getConnection>>["db"]) => Promise<T>,
): Promise<T> {
  const connection = await getConnection();
  try {
    return await work(connection.db);
  } finally {
    await connection.close();
  }
}

const program = new Command("credits").description("creditkit operators' tools");

program
  .command("verify")
  .description("check every account's invariants; exits 1 on any violation")
  .action(async () => {
    const report = await withDatabase((db) => verifyLedger(db));
    for (const violation of report.violations) {
      console.log(
        `VIOLATION ${violation.check}${violation.userId ? ` user=${violation.userId}` : ""}: ${violation.detail}`,
      );
    }
    console.log(
      `${report.accounts} accounts, ${report.entries} entries, ${report.violations.length} violations`,
    );
    process.exitCode = report.violations.length > 0 ? 1 : 0;
  });

program
  .command("sweep")
  .description("expire due lots and release holds past their TTL now")
  .action(async () => {
    const result = await withDatabase((db) => runSweep(db));
    console.log(
      `expired ${result.expiredLots} lots of ${result.users} users, released ${result.releasedHolds} holds`,
    );
  });

program
  .command("reconcile")
  .description("grant succeeded payments whose webhook never arrived")
  .option("--since <duration>", "how far back to look, e.g. 72h", "72h")
  .action(async (options: { since: string }) => {
    const since = new Date(Date.now() - parseDuration(options.since));
    const report = await withDatabase((db) => reconcilePayments(db, getPaymentProvider(db), since));
    console.log(
      `checked ${report.checked} succeeded payments since ${since.toISOString()}: granted ${report.granted}, already granted ${report.alreadyGranted}` +
        (Object.keys(report.other).length ? `, other ${JSON.stringify(report.other)}` : ""),
    );
  });

program
  .command("grant")
  .description("grant credits to a user, with a reason (recorded in the audit log)")
  .requiredOption("--user <userId>")
  .requiredOption("--amount <credits>")
  .requiredOption("--reason <text>")
  .option("--expire-days <days>")
  .action(async (options: { user: string; amount: string; reason: string; expireDays?: string }) => {
    const result = await withDatabase((db) =>
      db.transaction(async (tx) => {
        const grant = await addCredits(tx, {
          userId: options.user,
          amount: Number(options.amount),
          type: "adjustment",
          description: options.reason,
          idempotencyKey: internalKey("cli-grant", Date.now(), options.user),
          ...(options.expireDays ? { expireDays: Number(options.expireDays) } : {}),
        });
        await recordAudit(tx, cli, "credits.grant", options.user, {
          amount: Number(options.amount),
          reason: options.reason,
        });
        return grant;
      }),
    );
    console.log(`granted; entry ${result.entryId}, balance ${result.balance}`);
  });

const apiKeyCommand = program.command("api-key").description("service API keys");
apiKeyCommand
  .command("create")
  .requiredOption("--name <name>")
  .description("create a key; the key is printed once, on the last line")
  .action(async (options: { name: string }) => {
    const created = await withDatabase((db) => createApiKey(db, options.name, cli));
    console.log(
      `created API key "${created.apiKey.name}" (${created.apiKey.id}); store it now, it is not shown again:`,
    );
    console.log(created.key);
  });
apiKeyCommand.command("list").action(async () => {
  const keys = await withDatabase((db) => listApiKeys(db));
  for (const key of keys) {
    console.log(
      `${key.id}  ${key.prefix}…  ${key.name}  created ${key.createdAt}  last used ${key.lastUsedAt ?? "never"}${key.revokedAt ? `  REVOKED ${key.revokedAt}` : ""}`,
    );
  }
});
apiKeyCommand.command("revoke <id>").action(async (id: string) => {
  const key = await withDatabase((db) => revokeApiKey(db, id, cli));
  console.log(`revoked ${key.name} (${key.id})`);
});

// Admin roles for operators who manage them by hand (ADMIN_EMAILS grants the role too, read live). The role
// counts only for a verified address (src/auth/admin-role.ts). Audited with actor "cli".
const adminCommand = program
  .command("admin")
  .description("grant or revoke the admin role stored on an account");
for (const [name, grant] of [
  ["grant", true],
  ["revoke", false],
] as const) {
  adminCommand
    .command(name)
    .description(
      grant ? "store the admin role on the account with this email" : "remove the stored admin role",
    )
    .requiredOption("--email <email>")
    .action(async (options: { email: string }) => {
      const { setAdminRole } = await import("@/admin/set-admin-role");
      const result = await withDatabase((db) =>
        setAdminRole(db, { email: options.email, admin: grant }, cli),
      );
      const notes: string[] = [];
      if (!result.changed) notes.push(grant ? "it already had it" : "it did not have it");
      if (grant && !result.emailVerified) notes.push("it takes effect once the address is verified");
      if (!grant && result.inAdminEmails)
        notes.push("the address is still in ADMIN_EMAILS, which grants the role");
      console.log(
        `${grant ? "granted the admin role to" : "revoked the admin role of"} ${result.email} (${result.userId})` +
          `${notes.length ? `; ${notes.join("; ")}` : ""}; admin now: ${result.effective ? "yes" : "no"}`,
      );
    });
}

program.parseAsync().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
