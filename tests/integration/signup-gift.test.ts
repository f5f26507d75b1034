import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { resetAuth } from "../../src/auth/session";
import { verificationLinks } from "../../src/auth/verification-links";
import { useDatabaseConnection } from "../../src/db/client";
import { logger } from "../../src/lib/logger";
import { appRequest, readJson, routeContext, signUp } from "../support/app-requests";
import { authGet, balanceGet } from "../support/route-handlers";
import { configureServerEnv } from "../support/server-env";
import { createTestDatabase, type TestDatabase } from "../support/test-database";

const serverEnv = configureServerEnv({ SIGNUP_GIFT_CREDITS: "50", SIGNUP_GIFT_EXPIRE_DAYS: "30" });
afterAll(() => serverEnv.cleanup());

describe("signup gift through email verification", () => {
  let database: TestDatabase;
  const links = new Map<string, string>();
  beforeAll(async () => {
    database = await createTestDatabase("pglite");
    useDatabaseConnection(database);
    resetAuth();
    verificationLinks.on("link", ({ email, url }) => links.set(email, url));
  });
  afterAll(async () => {
    await database?.close();
  });

  const balanceOf = async (cookie: string) =>
    (
      await readJson<{ balance: number }>(
        await balanceGet(appRequest("/api/credits/balance", { cookie }), routeContext({})),
      )
    ).body.balance;

  it("grants nothing before verification and the gift once the link is opened, once", async () => {
    const user = await signUp("newcomer@example.test");
    expect(await balanceOf(user.cookie)).toBe(0);
    const link = links.get("newcomer@example.test");
    expect(link).toBeDefined();

    const url = new URL(link as string);
    const verified = await authGet(new Request(url, { redirect: "manual" }));
    expect(verified.status).toBeLessThan(400);
    // The gift (50) and the Free plan's credits of this month (50).
    expect(await balanceOf(user.cookie)).toBe(100);

    // Opening the link again does not pay again.
    await authGet(new Request(url, { redirect: "manual" }));
    expect(await balanceOf(user.cookie)).toBe(100);
  });

  it("without SMTP the link is logged at warn level, so a developer at LOG_LEVEL=warn sees it", async () => {
    const warnings = vi.spyOn(logger, "warn");
    try {
      await signUp("local-dev@example.test");
      expect(warnings).toHaveBeenCalledWith(
        expect.objectContaining({
          email: "local-dev@example.test",
          url: links.get("local-dev@example.test"),
        }),
        expect.stringContaining("open it to verify"),
      );
    } finally {
      warnings.mockRestore();
    }
  });
});
