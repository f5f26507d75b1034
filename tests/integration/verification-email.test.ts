import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { resetAuth } from "../../src/auth/session";
import { useDatabaseConnection } from "../../src/db/client";
import { user } from "../../src/db/schema";
import { logger } from "../../src/lib/logger";
import { appRequest, readJson, routeContext, signUp } from "../support/app-requests";
import { authGet, authPost, balanceGet } from "../support/route-handlers";
import { configureServerEnv } from "../support/server-env";
import { type LocalSmtpServer, startSmtpServer } from "../support/smtp";
import { createTestDatabase, type TestDatabase } from "../support/test-database";

/** The link in a message's text part: Better Auth's verify-email URL. */
function linkIn(text: string): string {
  const match = /https?:\/\/\S+\/api\/auth\/verify-email\?\S+/.exec(text);
  if (!match) throw new Error(`no verification link in:\n${text}`);
  return match[0];
}

describe("verification emails are sent through SMTP", () => {
  let smtp: LocalSmtpServer;
  let database: TestDatabase;
  let cleanupEnv: () => void;

  beforeAll(async () => {
    smtp = await startSmtpServer();
    cleanupEnv = configureServerEnv({
      SMTP_URL: smtp.url,
      EMAIL_FROM: "creditkit <no-reply@example.test>",
      SIGNUP_GIFT_CREDITS: "50",
    }).cleanup;
    database = await createTestDatabase("pglite");
    useDatabaseConnection(database);
    resetAuth();
  });
  afterAll(async () => {
    await database?.close();
    await smtp?.close();
    cleanupEnv?.();
  });

  const balanceOf = async (cookie: string) =>
    (
      await readJson<{ balance: number }>(
        await balanceGet(appRequest("/api/credits/balance", { cookie }), routeContext({})),
      )
    ).body.balance;

  it("the link arrives by email, and opening it verifies the address and grants the signup gift", async () => {
    const account = await signUp("mailed@example.test", "Mia");
    const email = await smtp.waitFor("mailed@example.test");
    expect(email.from).toBe("no-reply@example.test");
    expect(email.subject).toBe("Verify your email address");
    expect(email.text).toContain("Hi Mia,");
    const link = linkIn(email.text);
    expect(email.html).toContain(link.replaceAll("&", "&amp;"));
    expect(await balanceOf(account.cookie)).toBe(0);

    const opened = await authGet(new Request(link, { redirect: "manual" }));
    expect(opened.status).toBeLessThan(400);
    const [row] = await database.db.select().from(user).where(eq(user.id, account.id));
    expect(row?.emailVerified).toBe(true);
    // The signup gift (50 here) and the Free plan's credits of this month (50), both at once.
    expect(await balanceOf(account.cookie)).toBe(100);
  });

  it("is written in the language of the page the user signed up on", async () => {
    const response = await authPost(
      appRequest("/api/auth/sign-up/email", {
        json: {
          email: "li@example.test",
          password: "correct horse battery",
          name: "李雷",
          callbackURL: "/zh/settings/credits",
        },
      }),
    );
    expect(response.status).toBe(200);
    const email = await smtp.waitFor("li@example.test");
    expect(email.subject).toBe("验证你的邮箱地址");
    expect(email.text).toContain("李雷，你好：");
    expect(linkIn(email.text)).toContain(encodeURIComponent("/zh/settings/credits"));
  });

  it("a set-password link asked for is emailed too, in the language of the page it leads to", async () => {
    await signUp("forgetful@example.test", "王芳");
    const asked = await authPost(
      appRequest("/api/auth/request-password-reset", {
        json: { email: "forgetful@example.test", redirectTo: "/zh/reset-password" },
      }),
    );
    expect(asked.status).toBe(200);
    const email = await vi.waitFor(() => {
      const found = smtp.messages.find(
        (message) =>
          message.to.includes("forgetful@example.test") && message.subject === "设置你的 creditkit 密码",
      );
      if (!found) throw new Error("no set-password email yet");
      return found;
    });
    expect(email.text).toContain("王芳，你好：");
    expect(email.text).toMatch(/\/api\/auth\/reset-password\/\S+callbackURL=%2Fzh%2Freset-password/);
  });

  it("a mail server that refuses the message is logged at error level and the sign-up still succeeds", async () => {
    const errors = vi.spyOn(logger, "error");
    smtp.setMode("reject");
    try {
      const account = await signUp("bounced@example.test");
      const [row] = await database.db.select().from(user).where(eq(user.id, account.id));
      expect(row?.email).toBe("bounced@example.test");
      await vi.waitFor(() =>
        expect(errors).toHaveBeenCalledWith(
          expect.objectContaining({ userId: account.id }),
          expect.stringContaining("could not be sent"),
        ),
      );
      expect(smtp.messages.some((message) => message.to.includes("bounced@example.test"))).toBe(false);
    } finally {
      smtp.setMode("accept");
      errors.mockRestore();
    }
  });
});
