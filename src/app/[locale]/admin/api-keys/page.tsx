import { BookOpen, FileJson } from "lucide-react";
import { getTranslations, setRequestLocale } from "next-intl/server";
import { requireAdmin } from "@/auth/require-admin";
import { ApiKeysTable } from "@/components/admin/api-keys-table";
import { CreateApiKey } from "@/components/admin/create-api-key";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { getDb } from "@/db/client";
import { listApiKeys } from "@/service-api/api-keys";

type PageProps = { params: Promise<{ locale: string }> };

export default async function AdminApiKeysPage({ params }: PageProps) {
  const { locale } = await params;
  setRequestLocale(locale);
  await requireAdmin();
  const [t, keys] = await Promise.all([getTranslations("admin"), getDb().then(listApiKeys)]);

  return (
    <div className="flex flex-col gap-6">
      <Card className="gap-4">
        <CardHeader>
          <CardTitle className="text-xl tracking-tight">{t("apiKeysTitle")}</CardTitle>
          <CardDescription>{t("apiKeysSubtitle")}</CardDescription>
        </CardHeader>
        <CardContent className="flex flex-col gap-5">
          <DocsLinks docs={t("apiDocs")} openApi={t("openApi")} />
          <CreateApiKey />
        </CardContent>
      </Card>
      <Card className="gap-4">
        <CardHeader>
          <CardTitle className="text-base">{t("keysListTitle")}</CardTitle>
          <CardDescription>{t("keysListSubtitle")}</CardDescription>
        </CardHeader>
        <CardContent className="px-0">
          <ApiKeysTable keys={keys} />
        </CardContent>
      </Card>
    </div>
  );
}

/** Route handlers, not localized pages: plain links. */
function DocsLinks({ docs, openApi }: { docs: string; openApi: string }) {
  return (
    <div className="flex flex-wrap gap-2">
      <Button asChild variant="outline" size="sm">
        <a href="/api/v1/docs" data-testid="api-docs-link">
          <BookOpen aria-hidden />
          {docs}
        </a>
      </Button>
      <Button asChild variant="outline" size="sm">
        <a href="/api/v1/openapi.json">
          <FileJson aria-hidden />
          {openApi}
        </a>
      </Button>
    </div>
  );
}
