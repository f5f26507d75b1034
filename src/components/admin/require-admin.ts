import { headers } from "next/headers";
import { notFound } from "next/navigation";
import { cache } from "react";
import { currentAdmin } from "@/auth/require-user";

/**
 * The admin layout and every admin page call this themselves (a layout alone does not guard the pages
 * rendered beside it). Anyone who is not an admin, signed in or not, gets the ordinary 404: the console's
 * existence is not advertised.
 */
export const requireAdmin = cache(async () => {
  const admin = await currentAdmin(await headers());
  if (!admin) notFound();
  return admin;
});
