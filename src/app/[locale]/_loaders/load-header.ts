import { headers } from "next/headers";
import { getSessionFromHeaders } from "@/auth/session";
import type { HeaderState } from "@/components/header/site-header";
import { loadBalance } from "./load-credits";

/**
 * What the site header shows before the browser takes over: the signed-in user (null when signed out)
 * and their balance (null when signed out or when the read failed). Read by the locale layout.
 */
export async function loadHeader(): Promise<HeaderState> {
  const session = await getSessionFromHeaders(await headers());
  if (!session) return { user: null, balance: null };
  const { id, name, email, role } = session.user;
  // The Admin link is only a shortcut: the admin pages and actions check the role themselves.
  const user = { id, name, email, isAdmin: role === "admin" };
  try {
    return { user, balance: await loadBalance(id) };
  } catch (error) {
    // The badge fetches the balance itself on the client; a failed lookup must not take the page down.
    console.error("header: could not load the balance", error);
    return { user, balance: null };
  }
}
