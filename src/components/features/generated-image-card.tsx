import { Download, ImageIcon, LoaderCircle } from "lucide-react";
import { useTranslations } from "next-intl";
import { Button } from "@/components/ui/button";
import { Card, CardAction, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { Skeleton } from "@/components/ui/skeleton";

export type Generated = { svg: string; prompt: string; cost: number };

/** The result panel: an empty state, a placeholder while generating, then the image. */
export function GeneratedImageCard({
  generated,
  generating,
}: {
  generated: Generated | null;
  generating: boolean;
}) {
  const t = useTranslations("generate");
  const imageUrl = generated ? `data:image/svg+xml;utf8,${encodeURIComponent(generated.svg)}` : null;

  return (
    <Card className="gap-4" role="region" aria-labelledby="result-title" aria-busy={generating}>
      <CardHeader>
        <CardTitle id="result-title" className="text-base">
          {t("resultTitle")}
        </CardTitle>
        {generated ? (
          <CardDescription data-testid="charged-note">
            {t("charged", { count: generated.cost })}
          </CardDescription>
        ) : null}
        {generated && imageUrl ? (
          <CardAction>
            <Button asChild variant="outline" size="sm">
              <a href={imageUrl} download="creditkit-image.svg">
                <Download aria-hidden />
                <span className="max-sm:sr-only">{t("download")}</span>
              </a>
            </Button>
          </CardAction>
        ) : null}
      </CardHeader>
      <CardContent>
        {generating ? (
          <div className="relative">
            <Skeleton className="aspect-square w-full rounded-lg" />
            <span className="absolute inset-0 flex items-center justify-center gap-2 text-muted-foreground text-sm">
              <LoaderCircle className="size-4 animate-spin" aria-hidden />
              {t("generating")}
            </span>
          </div>
        ) : generated && imageUrl ? (
          <figure className="flex flex-col gap-3">
            {/* A data URL cannot go through next/image's optimizer; an <img> never runs the SVG's scripts. */}
            {/* biome-ignore lint/performance/noImgElement: data URL of a generated SVG */}
            <img
              src={imageUrl}
              alt={t("imageAlt", { prompt: generated.prompt })}
              width={256}
              height={256}
              data-testid="generated-image"
              className="aspect-square w-full rounded-lg border bg-muted object-cover"
            />
            <figcaption className="line-clamp-3 text-muted-foreground text-sm">
              “{generated.prompt}”
            </figcaption>
          </figure>
        ) : (
          <div className="flex aspect-square w-full flex-col items-center justify-center gap-2 rounded-lg border border-dashed px-6 text-center">
            <span className="flex size-11 items-center justify-center rounded-full bg-muted text-muted-foreground">
              <ImageIcon className="size-5" aria-hidden />
            </span>
            <p className="mt-1 font-medium">{t("emptyTitle")}</p>
            <p className="text-muted-foreground text-sm">{t("emptyText")}</p>
          </div>
        )}
      </CardContent>
    </Card>
  );
}
