import { adminEmails } from "@/config/env";
import { getDb } from "@/db/client";
import { type Auth, createAuth } from "./auth";

const globalStore = globalThis as { __creditkitAuth?: { auth?: Promise<Auth> } };
globalStore.__creditkitAuth ??= {};
const holder: { auth?: Promise<Auth> } = globalStore.__creditkitAuth;

export function getAuth(): Promise<Auth> {
  holder.auth ??= getDb().then(createAuth);
  return holder.auth;
}

/** Lets tests rebuild auth on a test database. */
export function resetAuth(): void {
  holder.auth = undefined;
}

export type SessionUser = { id: string; email: string; name: string; role: string; emailVerified: boolean };

/** The signed-in user for these request headers, or null. Every protected route and action calls this itself. */
export async function getSessionFromHeaders(headers: Headers): Promise<{ user: SessionUser } | null> {
  const auth = await getAuth();
  const session = await auth.api.getSession({ headers });
  if (!session) return null;
  const { id, email, name, emailVerified } = session.user;
  const role = adminEmails().has(email.toLowerCase()) ? "admin" : (session.user.role ?? "user");
  return { user: { id, email, name, role, emailVerified } };
}
