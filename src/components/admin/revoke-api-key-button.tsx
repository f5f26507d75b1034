"use client";

import { Ban, LoaderCircle } from "lucide-react";
import { useTranslations } from "next-intl";
import { useAction } from "next-safe-action/hooks";
import { useState } from "react";
import { toast } from "sonner";
import { revokeApiKeyAction } from "@/actions/admin";
import { Button } from "@/components/ui/button";
import {
  Dialog,
  DialogClose,
  DialogContent,
  DialogDescription,
  DialogFooter,
  DialogHeader,
  DialogTitle,
  DialogTrigger,
} from "@/components/ui/dialog";
import { useRouter } from "@/i18n/navigation";

export function RevokeApiKeyButton({ apiKey }: { apiKey: { id: string; name: string } }) {
  const t = useTranslations("admin");
  const tc = useTranslations("common");
  const router = useRouter();
  const { executeAsync, isExecuting } = useAction(revokeApiKeyAction);
  const [open, setOpen] = useState(false);

  async function revoke() {
    try {
      const result = await executeAsync({ id: apiKey.id });
      if (result?.serverError || !result?.data) {
        toast.error(result?.serverError?.code === "forbidden" ? t("errorForbidden") : t("errorGeneric"));
        return;
      }
      toast.success(t("revoked", { name: apiKey.name }));
      setOpen(false);
      router.refresh();
    } catch {
      toast.error(t("errorGeneric"));
    }
  }

  return (
    <Dialog open={open} onOpenChange={setOpen}>
      <DialogTrigger asChild>
        <Button
          variant="outline"
          size="sm"
          data-testid={`revoke-${apiKey.id}`}
          aria-label={t("revokeAria", { name: apiKey.name })}
        >
          <Ban aria-hidden />
          {t("revoke")}
        </Button>
      </DialogTrigger>
      <DialogContent closeLabel={tc("close")}>
        <DialogHeader>
          <DialogTitle>{t("revokeTitle", { name: apiKey.name })}</DialogTitle>
          <DialogDescription>{t("revokeText")}</DialogDescription>
        </DialogHeader>
        <DialogFooter>
          <DialogClose asChild>
            <Button variant="outline">{t("cancel")}</Button>
          </DialogClose>
          <Button
            variant="destructive"
            onClick={() => void revoke()}
            disabled={isExecuting}
            aria-busy={isExecuting}
            data-testid="revoke-confirm"
          >
            {isExecuting ? <LoaderCircle className="animate-spin" aria-hidden /> : null}
            {t("revokeConfirm")}
          </Button>
        </DialogFooter>
      </DialogContent>
    </Dialog>
  );
}
