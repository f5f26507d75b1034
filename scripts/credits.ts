// Operators' command line: `npm run credits -- <command>` (scripts/credits.mjs runs it compiled). Reads the
// same configuration as the app (the environment, then .env.local and the other .env files, with Next.js's loader) and uses DATABASE_URL, or
// the embedded database under DATA_DIR, which only one process may open: with the app running on it, the
// CLI stops and says so (stop the app first, or run both on PostgreSQL).
// Every option is checked strictly (decimal integers within bounds, text PostgreSQL can store) and every
// failure is one line on stderr with exit status 1.
import "./credits-env";
import { Command } from "commander";
import { and, eq, isNotNull } from "drizzle-orm";
import { recordAudit } from "@/audit/record-audit";
import { ConfigurationError } from "@/config/env";
import { addCredits } from "@/credits/add-credits";
import { CreditsError } from "@/credits/errors";
import { EXTERNAL_ID_RULE, isExternalId } from "@/credits/external-id";
import { findCustomer } from "@/credits/find-customer";
import { CALLER_KEY_RULE, internalKey, isCallerIdempotencyKey } from "@/credits/idempotency-keys";
import { MAX_CREDITS_PER_OPERATION } from "@/credits/schemas";
import { verifyLedger } from "@/credits/verify-ledger";
import { getConnection } from "@/db/client";
import { DatabaseOpenError } from "@/db/connect";
import { DataDirLockedError } from "@/db/data-dir-lock";
import { creditAccount, user } from "@/db/schema";
import { runSweep } from "@/jobs/run-sweep";
import { parseDecimalInteger, quote, unstorableTextReason } from "@/lib/strict-input";
import { getPaymentProvider } from "@/payment/get-payment-provider";
import { reconcilePayments } from "@/payment/reconcile-payments";
import { createApiKey, listApiKeys, revokeApiKey } from "@/service-api/api-keys";
import {
  API_SCOPE_DESCRIPTIONS,
  API_SCOPES,
  type ApiScope,
  DEFAULT_API_SCOPES,
  parseScopeList,
} from "@/service-api/api-scopes";

const cli = { userId: null, label: "cli" };

/** A refusal the operator can act on: printed as one line, exit status 1. */
class CliError extends Error {
  override name = "CliError";
}

/** An option that must be a whole number in plain decimal digits ("0x10", "1e3", "16.0" are refused). */
function parseIntegerOption(option: string, text: string, bounds: { min: number; max: number }): number {
  const parsed = parseDecimalInteger(text, bounds);
  if (!parsed.ok) throw new CliError(`${option} ${parsed.reason}`);
  return parsed.value;
}

/**
 * A text option: not blank, at most `max` characters, and storable by PostgreSQL (no NUL characters,
 * well-formed Unicode), the same rule as the HTTP API. Surrounding spaces are removed.
 */
function parseScopesOption(text: string): ApiScope[] {
  try {
    return parseScopeList(text);
  } catch (error) {
    throw new CliError(`--scopes: ${(error as Error).message}`);
  }
}

function parseTextOption(option: string, text: string, max: number): string {
  const value = text.trim();
  const unstorable = unstorableTextReason(value);
  if (unstorable) throw new CliError(`${option} ${unstorable}`);
  if (value.length === 0) throw new CliError(`${option} must not be empty`);
  if (value.length > max)
    throw new CliError(`${option} must be at most ${max} characters, got ${value.length}`);
  return value;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** An id the database stores as a uuid; anything else could never match and would fail in SQL. */
function parseUuidOption(option: string, text: string): string {
  const value = text.trim();
  if (!UUID.test(value)) throw new CliError(`${option} must be an id like 0b6f5c1e-…, got ${quote(value)}`);
  return value;
}

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
/** Ten years: further back than any payment provider keeps a PaymentIntent to list. */
const MAX_DURATION_MS = 3_650 * UNIT_MS.d;

/** A duration such as 30m, 72h or 7d (whole decimal number and a unit), from one second to ten years. */
function parseDurationOption(option: string, text: string): number {
  const match = /^([0-9]{1,16})([smhd])$/.exec(text.trim());
  const ms = match ? Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS] : Number.NaN;
  if (!(ms >= 1_000 && ms <= MAX_DURATION_MS)) {
    throw new CliError(
      `${option} must be a duration from 1s to 3650d such as 30m, 72h or 7d, got ${quote(text)}`,
    );
  }
  return ms;
}

/** The one line printed for a failure: what went wrong, never a stack trace or a query's parameters. */
function oneLineError(error: unknown): string {
  if (
    error instanceof CliError ||
    error instanceof CreditsError ||
    error instanceof ConfigurationError ||
    error instanceof DatabaseOpenError ||
    error instanceof DataDirLockedError
  ) {
    return error.message.replace(/\s*\n\s*/g, " ");
  }
  // Drizzle wraps a database error in "Failed query: <sql> params: <values>"; the cause says what failed.
  const cause = (error as { cause?: unknown }).cause;
  const source = cause instanceof Error ? cause : error;
  const code = (source as { code?: unknown }).code;
  const message = source instanceof Error ? source.message : String(source);
  return `${message.split("\n")[0]}${typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) ? ` (SQLSTATE ${code})` : ""}`;
}

/**
 * Runs `work` on the configured database and closes it. Every failure comes out as a CliError whose
 * message is one line (printed by the handler at the end of this file).
 */
async function withDatabase<T>(
  work: (db: Awaited<ReturnType<typeof getConnection>>["db"]) => Promise<T>,
): Promise<T> {
  try {
    const connection = await getConnection();
    try {
      return await work(connection.db);
    } finally {
      await connection.close();
    }
  } catch (error) {
    throw new CliError(oneLineError(error), { cause: error });
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
  .option("--since <duration>", "how far back to look, e.g. 72h (1s to 3650d)", "72h")
  .action(async (options: { since: string }) => {
    const since = new Date(Date.now() - parseDurationOption("--since", options.since));
    const report = await withDatabase((db) => reconcilePayments(db, getPaymentProvider(db), since));
    console.log(
      `checked ${report.checked} succeeded payments since ${since.toISOString()}: granted ${report.granted}, already granted ${report.alreadyGranted}` +
        (Object.keys(report.other).length ? `, other ${JSON.stringify(report.other)}` : ""),
    );
  });

program
  .command("grant")
  .description(
    "grant credits to a user, or to a customer by its external id, with a reason (recorded in the audit log); idempotent: a repeat with the same --key changes nothing",
  )
  .option("--user <userId>", "the user's id (or the account id, cus_…, of a customer)")
  .option(
    "--customer <externalId>",
    `instead of --user: the customer with this external id (made by PUT /api/v1/customers/{externalId}; ${EXTERNAL_ID_RULE})`,
  )
  .requiredOption("--amount <credits>", `whole credits, 1 to ${MAX_CREDITS_PER_OPERATION}`)
  .requiredOption("--reason <text>", "why, at most 500 characters (shown in the user's history)")
  .requiredOption(
    "--key <idempotencyKey>",
    `idempotency key of this grant (e.g. a ticket number): ${CALLER_KEY_RULE}`,
  )
  .option("--expire-days <days>", "the credits expire after this many days, 1 to 36500")
  .action(
    async (options: {
      user?: string;
      customer?: string;
      amount: string;
      reason: string;
      key: string;
      expireDays?: string;
    }) => {
      // Exactly one way to name the account: two would let a typo in one go unnoticed.
      if ((options.user === undefined) === (options.customer === undefined))
        throw new CliError("name the account with exactly one of --user <userId> or --customer <externalId>");
      const externalId = options.customer?.trim();
      if (externalId !== undefined && !isExternalId(externalId))
        throw new CliError(`--customer: an external id is ${EXTERNAL_ID_RULE}, got ${quote(externalId)}`);
      const namedUser = options.user === undefined ? undefined : parseTextOption("--user", options.user, 200);
      const amount = parseIntegerOption("--amount", options.amount, {
        min: 1,
        max: MAX_CREDITS_PER_OPERATION,
      });
      const reason = parseTextOption("--reason", options.reason, 500);
      const key = options.key;
      // The same rule as every other Idempotency-Key; stored in creditkit's own namespace, so it never meets a caller's key.
      if (!isCallerIdempotencyKey(key)) throw new CliError(`--key: an idempotency key is ${CALLER_KEY_RULE}`);
      const expireDays =
        options.expireDays === undefined
          ? undefined
          : parseIntegerOption("--expire-days", options.expireDays, { min: 1, max: 36_500 });
      const result = await withDatabase((db) =>
        db.transaction(async (tx) => {
          let userId: string;
          if (externalId !== undefined) {
            // Never created here: a grant for a misspelt external id must fail, not open a new ledger.
            const customer = await findCustomer(tx, externalId);
            if (!customer)
              throw new CliError(`--customer: no customer has the external id ${quote(externalId)}`);
            userId = customer.userId;
          } else {
            userId = namedUser ?? "";
            const [found] = await tx.select({ id: user.id }).from(user).where(eq(user.id, userId));
            const [customer] = found
              ? [found]
              : await tx
                  .select({ id: creditAccount.userId })
                  .from(creditAccount)
                  .where(and(eq(creditAccount.userId, userId), isNotNull(creditAccount.externalId)));
            if (!customer) throw new CliError(`--user: no user has the id ${quote(userId)}`);
          }
          // Keyed by the operator's key, like every other mutation: running the same command twice (a
          // retried script, a pasted line) grants once; the same key with other arguments is refused.
          const grant = await addCredits(tx, {
            userId,
            amount,
            type: "adjustment",
            description: reason,
            idempotencyKey: internalKey("cli-grant", key),
            ...(expireDays ? { expireDays } : {}),
          });
          if (!grant.replayed) {
            await recordAudit(tx, cli, "credits.grant", userId, {
              amount,
              reason,
              key,
              entryId: grant.entryId,
            });
          }
          return grant;
        }),
      );
      console.log(
        result.replayed
          ? `already granted with key ${quote(key)}: entry ${result.entryId}; nothing changed, balance ${result.balance}`
          : `granted ${amount} credits; entry ${result.entryId}, balance ${result.balance}`,
      );
    },
  );

const apiKeyCommand = program.command("api-key").description("service API keys");
apiKeyCommand
  .command("create")
  .requiredOption("--name <name>")
  .option(
    "--scopes <scopes>",
    `what the key may do, comma-separated, of: ${API_SCOPES.map((scope) => `${scope} (${API_SCOPE_DESCRIPTIONS[scope]})`).join(", ")}`,
    DEFAULT_API_SCOPES.join(","),
  )
  .description("create a key; the key is printed once, on the last line")
  .action(async (options: { name: string; scopes: string }) => {
    const name = parseTextOption("--name", options.name, 100);
    const scopes = parseScopesOption(options.scopes);
    const created = await withDatabase((db) => createApiKey(db, name, cli, scopes));
    console.log(
      `created API key "${created.apiKey.name}" (${created.apiKey.id}) with scopes ${created.apiKey.scopes.join(",")}; store it now, it is not shown again:`,
    );
    console.log(created.key);
  });
apiKeyCommand.command("list").action(async () => {
  const keys = await withDatabase((db) => listApiKeys(db));
  for (const key of keys) {
    console.log(
      `${key.id}  ${key.prefix}…  ${key.name}  scopes ${key.scopes.join(",")}  created ${key.createdAt}  last used ${key.lastUsedAt ?? "never"}${key.revokedAt ? `  REVOKED ${key.revokedAt}` : ""}`,
    );
  }
});
apiKeyCommand.command("revoke <id>").action(async (id: string) => {
  const key = await withDatabase((db) => revokeApiKey(db, parseUuidOption("id", id), cli));
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
      if (grant && !result.passwordSetByEmail)
        notes.push(
          "its password was chosen at sign-up, not set from a link emailed to the address: make sure the person who signed up is the one you mean",
        );
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
