import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { adjustCreditsAction, createApiKeyAction } from "../../src/actions/admin";
import { currentAdmin } from "../../src/auth/require-user";
import { getSessionFromHeaders, resetAuth } from "../../src/auth/session";
import { verificationLinks } from "../../src/auth/verification-links";
import { getBalance } from "../../src/credits/get-balance";
import { useDatabaseConnection } from "../../src/db/client";
import { apiKey, user } from "../../src/db/schema";
import { APP_ORIGIN, appRequest, type SignedUpUser, signUp } from "../support/app-requests";
import { authGet, authPost } from "../support/route-handlers";
import { configureServerEnv } from "../support/server-env";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

// Server actions read the request's headers through next/headers; outside Next.js the test supplies them.
// Everything behind it (the session lookup, the role rule, the database) is the app's own code.
const request = vi.hoisted(() => ({ headers: new Headers() }));
vi.mock("next/headers", () => ({ headers: async () => request.headers }));

const BOSS = "boss@example.test";
const OPS = "ops@example.test";
const serverEnv = configureServerEnv({ ADMIN_EMAILS: `${BOSS},${OPS}`, SIGNUP_GIFT_CREDITS: "0" });
afterAll(() => serverEnv.cleanup());

/** Every endpoint Better Auth's admin plugin defines (better-auth 1.7), as a client would call it. */
const ADMIN_PLUGIN_ENDPOINTS = [
  ["POST", "/admin/set-role"],
  ["GET", "/admin/get-user"],
  ["POST", "/admin/create-user"],
  ["POST", "/admin/update-user"],
  ["GET", "/admin/list-users"],
  ["POST", "/admin/list-user-sessions"],
  ["POST", "/admin/unban-user"],
  ["POST", "/admin/ban-user"],
  ["POST", "/admin/impersonate-user"],
  ["POST", "/admin/stop-impersonating"],
  ["POST", "/admin/revoke-user-session"],
  ["POST", "/admin/revoke-user-sessions"],
  ["POST", "/admin/remove-user"],
  ["POST", "/admin/set-user-password"],
  ["POST", "/admin/has-permission"],
] as const;

describe.each(databaseKinds())(
  "the admin role needs a verified address, a password set from a mailed link, and follows ADMIN_EMAILS (%s)",
  (kind) => {
    let database: TestDatabase;
    let boss: SignedUpUser;
    let customer: SignedUpUser;
    let strangerCookie = "";
    const links = new Map<string, string>();
    const passwordLinks = new Map<string, string>();
    const onLink = ({ email, url }: { email: string; url: string }) => links.set(email, url);
    const onPasswordLink = ({ email, url }: { email: string; url: string }) => passwordLinks.set(email, url);

    const cookieOf = (response: Response) =>
      response.headers
        .getSetCookie()
        .map((header) => header.split(";")[0])
        .join("; ");

    async function signIn(email: string, password: string) {
      const response = await authPost(appRequest("/api/auth/sign-in/email", { json: { email, password } }));
      return { status: response.status, cookie: cookieOf(response) };
    }

    async function sessionEmail(cookie: string): Promise<string | null> {
      return (await getSessionFromHeaders(new Headers({ cookie })))?.user.email ?? null;
    }

    /** Opens a mailed set-password link as a browser would, then submits the new password on the page it leads to. */
    async function setPasswordFromLink(link: string, newPassword: string): Promise<void> {
      const opened = await authGet(new Request(link, { redirect: "manual" }));
      expect(opened.status).toBe(302);
      const page = new URL(opened.headers.get("location") as string, APP_ORIGIN);
      expect(page.pathname).toBe("/en/reset-password");
      const token = page.searchParams.get("token");
      expect(token).toBeTruthy();
      const reset = await authPost(appRequest("/api/auth/reset-password", { json: { newPassword, token } }));
      expect(reset.status, await reset.clone().text()).toBe(200);
    }

    beforeAll(async () => {
      database = await createTestDatabase(kind);
      useDatabaseConnection(database);
      resetAuth();
      verificationLinks.on("link", onLink);
      verificationLinks.on("password-link", onPasswordLink);
      // Whoever gets there first signs up with the operator's address; nobody has proven they own it.
      boss = await signUp(BOSS, "Not The Boss");
      customer = await signUp("customer-admin-access@example.test");
    });
    afterAll(async () => {
      verificationLinks.off("link", onLink);
      verificationLinks.off("password-link", onPasswordLink);
      await database?.close();
    });

    const as = (account: SignedUpUser) => {
      request.headers = new Headers({ cookie: account.cookie });
      return request.headers;
    };
    const roleOf = async (userId: string) =>
      (await database.db.select({ role: user.role }).from(user).where(eq(user.id, userId)))[0]?.role;

    async function callAdminEndpoint(account: SignedUpUser, method: string, path: string) {
      const body = {
        userId: customer.id,
        role: "admin",
        email: `created-${randomUUID()}@example.test`,
        password: "correct horse battery",
        name: "Created",
        newPassword: "correct horse battery 2",
        sessionToken: "x",
        data: { name: "Changed" },
        permissions: { user: ["set-role"] },
      };
      const url = method === "GET" ? `/api/auth${path}?id=${customer.id}` : `/api/auth${path}`;
      const handler = method === "GET" ? authGet : authPost;
      return handler(
        appRequest(url, { cookie: account.cookie, ...(method === "POST" ? { json: body } : {}) }),
      );
    }

    it("an unverified ADMIN_EMAILS account is refused by the pages, the server actions and /api/auth/admin/*", async () => {
      expect(await currentAdmin(as(boss))).toBeNull();

      const grant = await adjustCreditsAction({
        userId: customer.id,
        delta: 1000,
        reason: "free credits",
        requestId: randomUUID(),
      });
      expect(grant?.serverError?.code).toBe("forbidden");
      expect((await getBalance(database.db, customer.id)).balance).toBe(0);

      const key = await createApiKeyAction({ name: "mine" });
      expect(key?.serverError?.code).toBe("forbidden");
      expect(await database.db.select().from(apiKey)).toHaveLength(0);

      const usersBefore = (await database.db.select({ id: user.id }).from(user)).length;
      for (const [method, path] of ADMIN_PLUGIN_ENDPOINTS) {
        const response = await callAdminEndpoint(boss, method, path);
        expect(response.status, `${method} ${path}`).toBeGreaterThanOrEqual(400);
      }
      expect(await roleOf(customer.id)).toBe("user");
      expect(await roleOf(boss.id)).toBe("user");
      expect((await database.db.select({ id: user.id }).from(user)).length).toBe(usersBefore);
    });

    it("no request can set its own role or verification: sign-up and update-user ignore them", async () => {
      const sneaky = await authPost(
        appRequest("/api/auth/sign-up/email", {
          json: {
            email: "sneaky@example.test",
            password: "correct horse battery",
            name: "Sneaky",
            role: "admin",
            emailVerified: true,
          },
        }),
      );
      expect(sneaky.status).toBe(200);
      // Nor the time a password was set from an emailed link: refused outright.
      const proven = await authPost(
        appRequest("/api/auth/sign-up/email", {
          json: {
            email: "sneaky-proven@example.test",
            password: "correct horse battery",
            name: "Sneaky",
            passwordSetByEmailAt: new Date().toISOString(),
          },
        }),
      );
      expect(proven.status).toBe(400);
      expect(
        await database.db.select().from(user).where(eq(user.email, "sneaky-proven@example.test")),
      ).toEqual([]);
      const [sneakyRow] = await database.db.select().from(user).where(eq(user.email, "sneaky@example.test"));
      expect(sneakyRow).toMatchObject({ role: "user", emailVerified: false, passwordSetByEmailAt: null });

      await authPost(
        appRequest("/api/auth/update-user", {
          cookie: customer.cookie,
          json: {
            name: "Customer",
            role: "admin",
            emailVerified: true,
            passwordSetByEmailAt: new Date().toISOString(),
          },
        }),
      );
      expect(await roleOf(customer.id)).toBe("user");
      const [customerRow] = await database.db.select().from(user).where(eq(user.id, customer.id));
      expect(customerRow?.passwordSetByEmailAt).toBeNull();
      expect(await currentAdmin(as(customer))).toBeNull();
    });

    it("once verified, the account is still not admin: the password was chosen at sign-up, maybe by a stranger", async () => {
      const link = links.get(BOSS);
      expect(link).toBeDefined();
      // The real owner opens the link mailed to them; Better Auth signs the opener in.
      const verified = await authGet(new Request(link as string, { redirect: "manual" }));
      expect(verified.status).toBeLessThan(400);
      const opener = cookieOf(verified);
      expect(opener).not.toBe("");

      // Whoever signed up first was signed out when the address was verified...
      expect(await currentAdmin(as(boss))).toBeNull();
      expect(await sessionEmail(boss.cookie)).toBeNull();
      // ...and their password still signs in, but not as an admin: it proves nothing about the mailbox.
      const stranger = await signIn(BOSS, "correct horse battery");
      expect(stranger.status).toBe(200);
      expect(await sessionEmail(stranger.cookie)).toBe(BOSS);
      expect(await currentAdmin(as({ ...boss, cookie: stranger.cookie }))).toBeNull();
      const grant = await adjustCreditsAction({
        userId: customer.id,
        delta: 1000,
        reason: "free credits",
        requestId: randomUUID(),
      });
      expect(grant?.serverError?.code).toBe("forbidden");
      expect((await getBalance(database.db, customer.id)).balance).toBe(0);
      // The opener is not admin either, until the password is set from the link mailed to the address.
      expect(await currentAdmin(as({ ...boss, cookie: opener }))).toBeNull();
      expect(passwordLinks.get(BOSS)).toBeDefined();
      strangerCookie = stranger.cookie;
    });

    it("the owner sets the password from the mailed link: the owner is admin, the stranger's password and sessions are gone", async () => {
      await setPasswordFromLink(passwordLinks.get(BOSS) as string, "the owner's own password");

      expect(await sessionEmail(strangerCookie)).toBeNull();
      expect((await signIn(BOSS, "correct horse battery")).status).toBe(401);

      const owner = await signIn(BOSS, "the owner's own password");
      expect(owner.status).toBe(200);
      expect((await currentAdmin(as({ ...boss, cookie: owner.cookie })))?.email).toBe(BOSS);
      const grant = await adjustCreditsAction({
        userId: customer.id,
        delta: 25,
        reason: "goodwill credit",
        requestId: randomUUID(),
      });
      expect(grant?.serverError).toBeUndefined();
      expect((await getBalance(database.db, customer.id)).balance).toBe(25);

      // The role comes from the list as read now, not from a copy made at sign-up.
      expect(await roleOf(boss.id)).toBe("user");
      // Roles are managed by ADMIN_EMAILS and the operators' command line only.
      const setRole = await callAdminEndpoint({ ...boss, cookie: owner.cookie }, "POST", "/admin/set-role");
      expect(setRole.status).toBe(404);
      expect(await roleOf(customer.id)).toBe("user");
      boss = { ...boss, cookie: owner.cookie };
    });

    it("the admin makes API keys with the scopes ticked; none ticked is refused, left out means read, spend, holds", async () => {
      as(boss);
      const chosen = await createApiKeyAction({ name: "granter", scopes: ["grant", "read"] });
      expect(chosen?.serverError).toBeUndefined();
      expect(chosen?.data?.apiKey.scopes).toEqual(["read", "grant"]);
      const plain = await createApiKeyAction({ name: "plain" });
      expect(plain?.data?.apiKey.scopes).toEqual(["read", "spend", "holds"]);
      const none = await createApiKeyAction({ name: "none", scopes: [] });
      expect(none?.data).toBeUndefined();
      const keys = await database.db.select({ name: apiKey.name, scopes: apiKey.scopes }).from(apiKey);
      expect(keys.sort((a, b) => a.name.localeCompare(b.name))).toEqual([
        { name: "granter", scopes: ["read", "grant"] },
        { name: "plain", scopes: ["read", "spend", "holds"] },
      ]);
    });

    it("the owner who signs up themselves: verify, set the password from the second link, then admin", async () => {
      const owner = await signUp(OPS, "Ops");
      await authGet(new Request(links.get(OPS) as string, { redirect: "manual" }));
      const mine = await signIn(OPS, "correct horse battery");
      expect(mine.status).toBe(200);
      const session = await getSessionFromHeaders(new Headers({ cookie: mine.cookie }));
      expect(session?.user).toMatchObject({ role: "user", emailVerified: true, awaitsAdminPassword: true });

      // Asking again (the credits page's button, or "Forgot your password?") sends a fresh link.
      passwordLinks.delete(OPS);
      const asked = await authPost(
        appRequest("/api/auth/request-password-reset", {
          json: { email: OPS, redirectTo: "/en/reset-password" },
        }),
      );
      expect(asked.status).toBe(200);
      await setPasswordFromLink(passwordLinks.get(OPS) as string, "correct horse battery");
      expect(await sessionEmail(mine.cookie)).toBeNull();

      const again = await signIn(OPS, "correct horse battery");
      expect((await currentAdmin(as({ ...owner, cookie: again.cookie })))?.email).toBe(OPS);
    });

    it("an address removed from ADMIN_EMAILS loses the role at its next request", async () => {
      const previous = process.env.ADMIN_EMAILS;
      try {
        // A restart with the new list: the configuration is read afresh, the accounts stay as they are.
        process.env.ADMIN_EMAILS = "someone-else@example.test";
        vi.resetModules();
        const restarted = await import("../../src/auth/require-user");
        expect(await restarted.currentAdmin(as(boss))).toBeNull();
      } finally {
        process.env.ADMIN_EMAILS = previous;
        vi.resetModules();
      }
    });
  },
);
