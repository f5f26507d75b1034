"use client";

import {
  ChartColumn,
  FileSpreadsheet,
  KeyRound,
  ReceiptText,
  Repeat,
  ScrollText,
  Send,
  Users,
  Webhook,
} from "lucide-react";
import { useTranslations } from "next-intl";
import { Link, usePathname } from "@/i18n/navigation";
import { cn } from "@/lib/utils";

export function AdminNav() {
  const t = useTranslations("admin");
  const pathname = usePathname();
  const items = [
    {
      href: "/admin/overview",
      label: t("navOverview"),
      icon: ChartColumn,
      active: pathname.startsWith("/admin/overview"),
    },
    {
      href: "/admin",
      label: t("navUsers"),
      icon: Users,
      active: pathname === "/admin" || pathname.startsWith("/admin/users"),
    },
    {
      href: "/admin/purchases",
      label: t("navPurchases"),
      icon: ReceiptText,
      active: pathname.startsWith("/admin/purchases"),
    },
    {
      href: "/admin/subscriptions",
      label: t("navSubscriptions"),
      icon: Repeat,
      active: pathname.startsWith("/admin/subscriptions"),
    },
    {
      href: "/admin/webhooks",
      label: t("navWebhooks"),
      icon: Webhook,
      active: pathname.startsWith("/admin/webhooks"),
    },
    {
      href: "/admin/outbound-webhooks",
      label: t("navOutbound"),
      icon: Send,
      active: pathname.startsWith("/admin/outbound-webhooks"),
    },
    {
      href: "/admin/bulk",
      label: t("navBulk"),
      icon: FileSpreadsheet,
      active: pathname.startsWith("/admin/bulk"),
    },
    {
      href: "/admin/api-keys",
      label: t("navApiKeys"),
      icon: KeyRound,
      active: pathname.startsWith("/admin/api-keys"),
    },
    {
      href: "/admin/audit",
      label: t("navAudit"),
      icon: ScrollText,
      active: pathname.startsWith("/admin/audit"),
    },
  ];

  return (
    <nav aria-label={t("navLabel")} className="flex flex-wrap gap-1 md:flex-col">
      {items.map(({ href, label, icon: Icon, active }) => (
        <Link
          key={href}
          href={href}
          aria-current={active ? "page" : undefined}
          data-testid={`admin-nav-${href.split("/")[2] ?? "users"}`}
          className={cn(
            "flex items-center gap-2 whitespace-nowrap rounded-md px-3 py-2 font-medium text-muted-foreground text-sm transition-colors hover:bg-accent hover:text-foreground",
            active && "bg-accent text-foreground",
          )}
        >
          <Icon className="size-4" aria-hidden />
          {label}
        </Link>
      ))}
    </nav>
  );
}
