import { headers } from "next/headers";
import { notFound } from "next/navigation";
import { cache } from "react";
import { currentAdmin } from "./require-user";

/**
 * The guard of the admin console (server components only: it reads the request's headers). The admin
 * layout and every admin page call it themselves (a layout alone does not guard the pages rendered beside
 * it). Anyone who is not an admin, signed in or not, gets the ordinary 404: the console's existence is not
 * advertised. Returns the admin's session user.
 */
export const requireAdmin = cache(async () => {
  const admin = await currentAdmin(await headers());
  if (!admin) notFound();
  return admin;
});
