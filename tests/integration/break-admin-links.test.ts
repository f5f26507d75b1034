import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { currentAdmin } from "../../src/auth/require-user";
import { getSessionFromHeaders, resetAuth } from "../../src/auth/session";
import { verificationLinks } from "../../src/auth/verification-links";
import { useDatabaseConnection } from "../../src/db/client";
import { user } from "../../src/db/schema";
import { APP_ORIGIN, appRequest, type SignedUpUser, signUp } from "../support/app-requests";
import { authGet, authPost } from "../support/route-handlers";
import { configureServerEnv } from "../support/server-env";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

// Server actions and pages read headers through next/headers; outside Next.js the test supplies them.
const request = vi.hoisted(() => ({ headers: new Headers() }));
vi.mock("next/headers", () => ({ headers: async () => request.headers }));

const BOSS = "boss-links@example.test";
const serverEnv = configureServerEnv({ ADMIN_EMAILS: BOSS, SIGNUP_GIFT_CREDITS: "0" });
afterAll(() => serverEnv.cleanup());

/**
 * A hostile user and a careless owner around the set-password link that makes an ADMIN_EMAILS address
 * admin: links used twice, links left over from an earlier request, a stranger asking for a link to the
 * admin's address, and an account trying to move onto the admin's address.
 */
describe.each(databaseKinds())("set-password links of an admin address (%s)", (kind) => {
  let database: TestDatabase;
  const links = new Map<string, string>();
  const passwordLinks = new Map<string, string[]>();
  const onLink = ({ email, url }: { email: string; url: string }) => links.set(email, url);
  const onPasswordLink = ({ email, url }: { email: string; url: string }) =>
    passwordLinks.set(email, [...(passwordLinks.get(email) ?? []), url]);

  const cookieOf = (response: Response) =>
    response.headers
      .getSetCookie()
      .map((header) => header.split(";")[0])
      .join("; ");

  async function signIn(email: string, password: string) {
    const response = await authPost(appRequest("/api/auth/sign-in/email", { json: { email, password } }));
    return { status: response.status, cookie: cookieOf(response) };
  }

  async function isAdminSession(cookie: string): Promise<boolean> {
    request.headers = new Headers({ cookie });
    return (await currentAdmin(request.headers)) !== null;
  }

  /** Opens a mailed link and submits a new password on the page it leads to; returns the reset's status. */
  async function useLink(link: string, newPassword: string): Promise<number> {
    const opened = await authGet(new Request(link, { redirect: "manual" }));
    const page = new URL(opened.headers.get("location") as string, APP_ORIGIN);
    const token = page.searchParams.get("token");
    if (!token) return opened.status >= 400 ? opened.status : 400;
    const reset = await authPost(appRequest("/api/auth/reset-password", { json: { newPassword, token } }));
    return reset.status;
  }

  async function requestLink(email: string): Promise<Response> {
    return authPost(
      appRequest("/api/auth/request-password-reset", { json: { email, redirectTo: "/en/reset-password" } }),
    );
  }

  let owner: SignedUpUser;
  beforeAll(async () => {
    database = await createTestDatabase(kind);
    useDatabaseConnection(database);
    resetAuth();
    verificationLinks.on("link", onLink);
    verificationLinks.on("password-link", onPasswordLink);
    owner = await signUp(BOSS, "Boss");
    // The owner verifies the address; the app mails the first set-password link by itself.
    await authGet(new Request(links.get(BOSS) as string, { redirect: "manual" }));
  });
  afterAll(async () => {
    verificationLinks.off("link", onLink);
    verificationLinks.off("password-link", onPasswordLink);
    await database?.close();
  });

  it("a set-password link works once: used again it changes nothing", async () => {
    const [link] = passwordLinks.get(BOSS) ?? [];
    expect(link).toBeDefined();
    expect(await useLink(link as string, "the owner's first password")).toBe(200);
    const second = await useLink(link as string, "somebody else's password");
    expect(second).toBeGreaterThanOrEqual(400);
    expect((await signIn(BOSS, "somebody else's password")).status).toBe(401);
    const signedIn = await signIn(BOSS, "the owner's first password");
    expect(signedIn.status).toBe(200);
    expect(await isAdminSession(signedIn.cookie)).toBe(true);
    owner = { ...owner, cookie: signedIn.cookie };
  });

  it("the same link submitted twice at once sets one password: the one answered 200", async () => {
    await requestLink(BOSS);
    const link = passwordLinks.get(BOSS)?.at(-1) as string;
    const opened = await authGet(new Request(link, { redirect: "manual" }));
    const token = new URL(opened.headers.get("location") as string, APP_ORIGIN).searchParams.get("token");
    const submit = (newPassword: string) =>
      authPost(appRequest("/api/auth/reset-password", { json: { newPassword, token } }));
    const [first, second] = await Promise.all([submit("racing password one"), submit("racing password two")]);
    const statuses = [first.status, second.status].sort();
    expect(statuses[0]).toBe(200);
    expect(statuses[1]).toBeGreaterThanOrEqual(400);
    const winner = first.status === 200 ? "racing password one" : "racing password two";
    const loser = first.status === 200 ? "racing password two" : "racing password one";
    expect((await signIn(BOSS, loser)).status).toBe(401);
    const signedIn = await signIn(BOSS, winner);
    expect(signedIn.status).toBe(200);
    expect(await isAdminSession(signedIn.cookie)).toBe(true);
    // The rest of this suite signs in with the first password again.
    await requestLink(BOSS);
    expect(await useLink(passwordLinks.get(BOSS)?.at(-1) as string, "the owner's first password")).toBe(200);
    owner = { ...owner, cookie: (await signIn(BOSS, "the owner's first password")).cookie };
  });

  it("a stranger who asks for a link to the admin's address gets nothing and changes nothing", async () => {
    const before = passwordLinks.get(BOSS)?.length ?? 0;
    const asked = await requestLink(BOSS);
    expect(asked.status).toBe(200);
    const answer = await asked.text();
    // The link goes to the mailbox only: the answer carries no token, and the admin stays signed in.
    const mailed = passwordLinks.get(BOSS) ?? [];
    expect(mailed.length).toBe(before + 1);
    const token = new URL(mailed.at(-1) as string).pathname.split("/").at(-1) as string;
    expect(answer).not.toContain(token);
    expect(await isAdminSession(owner.cookie)).toBe(true);
    expect((await signIn(BOSS, "the owner's first password")).status).toBe(200);
  });

  it("an account with a password set from its own mailbox cannot move onto the admin's address", async () => {
    const stranger = await signUp("stranger-links@example.test", "Stranger");
    await authGet(new Request(links.get(stranger.email) as string, { redirect: "manual" }));
    await requestLink(stranger.email);
    expect(await useLink(passwordLinks.get(stranger.email)?.at(-1) as string, "stranger password")).toBe(200);
    const session = await signIn(stranger.email, "stranger password");
    expect(session.status).toBe(200);
    await authPost(
      appRequest("/api/auth/change-email", {
        cookie: session.cookie,
        json: { newEmail: "BOSS-links@example.test", callbackURL: "/en" },
      }),
    );
    await authPost(
      appRequest("/api/auth/update-user", { cookie: session.cookie, json: { email: BOSS, name: "Boss" } }),
    );
    const [row] = await database.db.select().from(user).where(eq(user.id, stranger.id));
    expect(row?.email).toBe(stranger.email);
    expect(await isAdminSession(session.cookie)).toBe(false);
    expect((await getSessionFromHeaders(new Headers({ cookie: session.cookie })))?.user.email).toBe(
      stranger.email,
    );
  });

  it("a link mailed before the password was last set from a newer link no longer sets it", async () => {
    const older = passwordLinks.get(BOSS)?.at(-1) as string; // the stranger's request above
    await requestLink(BOSS);
    const newer = passwordLinks.get(BOSS)?.at(-1) as string;
    expect(newer).not.toBe(older);
    expect(await useLink(newer, "the owner's second password")).toBe(200);
    // The older link, still in the mailbox (or wherever that mail was forwarded), must not work any more.
    expect(await useLink(older, "a password from a stale link")).toBeGreaterThanOrEqual(400);
    expect((await signIn(BOSS, "a password from a stale link")).status).toBe(401);
    expect((await signIn(BOSS, "the owner's second password")).status).toBe(200);
  });
});
