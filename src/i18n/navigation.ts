import { createNavigation } from "next-intl/navigation";
import { routing } from "./routing";

/** Locale-aware wrappers around Next's navigation APIs: `<Link href="/pricing">` becomes `/en/pricing`. */
export const { Link, redirect, usePathname, useRouter, getPathname } = createNavigation(routing);
