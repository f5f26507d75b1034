import { ChevronLeft, ChevronRight, Search } from "lucide-react";
import Form from "next/form";
import { getTranslations, setRequestLocale } from "next-intl/server";
import { listUsers } from "@/admin/list-users";
import { requireAdmin } from "@/auth/require-admin";
import { UsersTable } from "@/components/admin/users-table";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { Input } from "@/components/ui/input";
import { getDb } from "@/db/client";
import { getPathname, Link } from "@/i18n/navigation";

type PageProps = {
  params: Promise<{ locale: string }>;
  searchParams: Promise<{ q?: string | string[]; before?: string | string[] }>;
};

export default async function AdminUsersPage({ params, searchParams }: PageProps) {
  const { locale } = await params;
  setRequestLocale(locale);
  await requireAdmin();
  const { q, before } = await searchParams;
  const query = typeof q === "string" ? q.trim().slice(0, 200) : "";
  const beforeDate = typeof before === "string" && !Number.isNaN(Date.parse(before)) ? before : undefined;
  const [t, page] = await Promise.all([
    getTranslations("admin"),
    getDb().then((db) =>
      listUsers(db, {
        ...(query ? { query } : {}),
        ...(beforeDate ? { before: beforeDate } : {}),
        limit: 25,
      }),
    ),
  ]);
  const baseQuery = query ? { q: query } : {};

  return (
    <Card className="gap-4">
      <CardHeader>
        <CardTitle className="text-xl tracking-tight">{t("usersTitle")}</CardTitle>
        <CardDescription>{t("usersSubtitle")}</CardDescription>
      </CardHeader>
      <CardContent>
        <Form
          action={getPathname({ href: "/admin", locale })}
          role="search"
          className="flex flex-col gap-2 sm:flex-row"
        >
          <div className="relative flex-1">
            <Search
              className="pointer-events-none absolute top-1/2 left-3 size-4 -translate-y-1/2 text-muted-foreground"
              aria-hidden
            />
            <Input
              type="search"
              name="q"
              defaultValue={query}
              placeholder={t("searchPlaceholder")}
              aria-label={t("searchLabel")}
              className="pl-9"
              data-testid="admin-user-search"
            />
          </div>
          <div className="flex gap-2">
            <Button type="submit" variant="secondary" className="flex-1 sm:flex-none">
              {t("search")}
            </Button>
            {query ? (
              <Button asChild variant="ghost" className="flex-1 sm:flex-none">
                <Link href="/admin">{t("clearSearch")}</Link>
              </Button>
            ) : null}
          </div>
        </Form>
      </CardContent>
      <CardContent className="px-0">
        <UsersTable users={page.users} query={query} />
      </CardContent>
      {beforeDate || page.nextBefore ? (
        <div className="flex items-center justify-end gap-2 border-t px-6 pt-4">
          {beforeDate ? (
            <Button asChild variant="outline" size="sm">
              <Link href={{ pathname: "/admin", query: baseQuery }}>
                <ChevronLeft aria-hidden />
                {t("newestPage")}
              </Link>
            </Button>
          ) : null}
          {page.nextBefore ? (
            <Button asChild variant="outline" size="sm">
              <Link href={{ pathname: "/admin", query: { ...baseQuery, before: page.nextBefore } }}>
                {t("olderPage")}
                <ChevronRight aria-hidden />
              </Link>
            </Button>
          ) : null}
        </div>
      ) : null}
    </Card>
  );
}
