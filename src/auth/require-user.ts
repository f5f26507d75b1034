import { getSessionFromHeaders, type SessionUser } from "./session";

/** For server components: the signed-in user, or null. */
export async function currentUser(headers: Headers): Promise<SessionUser | null> {
  return (await getSessionFromHeaders(headers))?.user ?? null;
}

/** For admin pages: the signed-in admin, or null (the page then answers not found). */
export async function currentAdmin(headers: Headers): Promise<SessionUser | null> {
  const user = await currentUser(headers);
  return user?.role === "admin" ? user : null;
}
