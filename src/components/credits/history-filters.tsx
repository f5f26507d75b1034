"use client";

import { Download, X } from "lucide-react";
import { useSearchParams } from "next/navigation";
import { useTranslations } from "next-intl";
import { useEffect, useId, useMemo, useState } from "react";
import { Button } from "@/components/ui/button";
import { Input } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { COST_CATALOG } from "@/features/cost-catalog";
import { cn } from "@/lib/utils";
import { TRANSACTION_TYPES } from "./credits-api";
import { useTransactionText } from "./transaction-text";

/**
 * The history's filter as the page's URL keeps it (`?type=consume&feature=…&from=2026-11-01&to=2026-11-30&q=…`),
 * so a filtered view can be reloaded or shared. `from` and `to` are calendar days, both included, in the
 * reader's time zone.
 */
export type HistoryFilterState = { type: string; feature: string; from: string; to: string; q: string };

const EMPTY: HistoryFilterState = { type: "", feature: "", from: "", to: "", q: "" };
const DAY_PATTERN = /^\d{4}-\d{2}-\d{2}$/;

function readFilter(params: URLSearchParams): HistoryFilterState {
  const day = (value: string | null) => (value && DAY_PATTERN.test(value) ? value : "");
  const type = params.get("type") ?? "";
  return {
    type: (TRANSACTION_TYPES as readonly string[]).includes(type) ? type : "",
    feature: (params.get("feature") ?? "").slice(0, 100),
    from: day(params.get("from")),
    to: day(params.get("to")),
    q: (params.get("q") ?? "").slice(0, 200),
  };
}

/** Midnight at the start of `day` (YYYY-MM-DD) in the browser's time zone, as an ISO instant. */
function startOfLocalDay(day: string, addDays = 0): string {
  const [year, month, date] = day.split("-").map(Number);
  return new Date(year ?? 1970, (month ?? 1) - 1, (date ?? 1) + addDays).toISOString();
}

export function rangeIsValid(filter: HistoryFilterState): boolean {
  return !(filter.from && filter.to && filter.from > filter.to);
}

/**
 * The API's query for a filter (src/server/history-query.ts): the days become instants, `to` exclusive
 * (the start of the day after), so "to Nov 30" includes all of Nov 30 in the reader's zone.
 */
export function apiQuery(filter: HistoryFilterState): URLSearchParams {
  const params = new URLSearchParams();
  if (filter.type) params.set("type", filter.type);
  if (filter.feature.trim()) params.set("feature", filter.feature.trim());
  if (filter.from) params.set("from", startOfLocalDay(filter.from));
  if (filter.to) params.set("to", startOfLocalDay(filter.to, 1));
  if (filter.q.trim()) params.set("search", filter.q.trim());
  return params;
}

/**
 * The filter, read from and written back to the URL (history.replaceState, which Next.js keeps in step
 * with useSearchParams, so the page is not rendered again on the server). Typing in the text fields
 * updates the applied filter after a short pause, so each keystroke does not fetch.
 */
export function useHistoryFilter() {
  const searchParams = useSearchParams();
  const [draft, setDraft] = useState<HistoryFilterState>(() => readFilter(new URLSearchParams(searchParams)));
  const [applied, setApplied] = useState(draft);

  useEffect(() => {
    const timer = setTimeout(() => setApplied(draft), 300);
    return () => clearTimeout(timer);
  }, [draft]);

  useEffect(() => {
    const url = new URL(window.location.href);
    for (const [key, value] of Object.entries(applied)) {
      if (value) url.searchParams.set(key, value);
      else url.searchParams.delete(key);
    }
    if (url.href !== window.location.href) window.history.replaceState(window.history.state, "", url);
  }, [applied]);

  /** A select or a date applies at once; text waits for the pause. */
  function update(patch: Partial<HistoryFilterState>, immediate = false) {
    const next = { ...draft, ...patch };
    setDraft(next);
    if (immediate) setApplied(next);
  }

  const active = Object.values(applied).some(Boolean);
  return {
    draft,
    applied,
    active,
    update,
    clear: () => {
      setDraft(EMPTY);
      setApplied(EMPTY);
    },
  };
}

const controlClass =
  "h-9 w-full min-w-0 rounded-md border border-input bg-background px-3 py-1 text-base shadow-xs outline-none md:text-sm dark:bg-input/30 focus-visible:border-ring focus-visible:ring-[3px] focus-visible:ring-ring/50 aria-invalid:border-destructive";

/** The filter controls and the export link of a history (the credits page and the admin console). */
export function HistoryFilters({
  filter,
  exportHref,
}: {
  filter: ReturnType<typeof useHistoryFilter>;
  /** The export of exactly what is filtered; null while the filter is invalid. */
  exportHref: string | null;
}) {
  const t = useTranslations("credits");
  const text = useTransactionText();
  const id = useId();
  const { draft } = filter;
  const invalidRange = !rangeIsValid(draft);
  const features = useMemo(() => Object.keys(COST_CATALOG), []);

  return (
    <search aria-label={t("historyFilters")} className="flex flex-col gap-3" data-testid="history-filters">
      <div className="grid grid-cols-1 gap-3 sm:grid-cols-2 lg:grid-cols-5">
        <div className="flex flex-col gap-1.5">
          <Label htmlFor={`${id}-type`}>{t("historyFilterType")}</Label>
          <select
            id={`${id}-type`}
            className={controlClass}
            value={draft.type}
            onChange={(event) => filter.update({ type: event.target.value }, true)}
            data-testid="history-filter-type"
          >
            <option value="">{t("historyFilterTypeAll")}</option>
            {TRANSACTION_TYPES.map((type) => (
              <option key={type} value={type}>
                {text.label(type)}
              </option>
            ))}
          </select>
        </div>
        <div className="flex flex-col gap-1.5">
          <Label htmlFor={`${id}-feature`}>{t("historyFilterFeature")}</Label>
          <Input
            id={`${id}-feature`}
            list={`${id}-features`}
            value={draft.feature}
            maxLength={100}
            placeholder={t("historyFilterFeatureAny")}
            onChange={(event) => filter.update({ feature: event.target.value })}
            data-testid="history-filter-feature"
            className="bg-background"
          />
          <datalist id={`${id}-features`}>
            {features.map((feature) => (
              <option key={feature} value={feature} />
            ))}
          </datalist>
        </div>
        <div className="flex flex-col gap-1.5">
          <Label htmlFor={`${id}-from`}>{t("historyFilterFrom")}</Label>
          <Input
            id={`${id}-from`}
            type="date"
            value={draft.from}
            max={draft.to || undefined}
            onChange={(event) => filter.update({ from: event.target.value }, true)}
            aria-invalid={invalidRange || undefined}
            aria-describedby={invalidRange ? `${id}-range-error` : undefined}
            data-testid="history-filter-from"
            className="bg-background"
          />
        </div>
        <div className="flex flex-col gap-1.5">
          <Label htmlFor={`${id}-to`}>{t("historyFilterTo")}</Label>
          <Input
            id={`${id}-to`}
            type="date"
            value={draft.to}
            min={draft.from || undefined}
            onChange={(event) => filter.update({ to: event.target.value }, true)}
            aria-invalid={invalidRange || undefined}
            aria-describedby={invalidRange ? `${id}-range-error` : undefined}
            data-testid="history-filter-to"
            className="bg-background"
          />
        </div>
        <div className="flex flex-col gap-1.5">
          <Label htmlFor={`${id}-search`}>{t("historyFilterSearch")}</Label>
          <Input
            id={`${id}-search`}
            type="search"
            value={draft.q}
            maxLength={200}
            placeholder={t("historyFilterSearchPlaceholder")}
            onChange={(event) => filter.update({ q: event.target.value })}
            data-testid="history-filter-search"
            className="bg-background"
          />
        </div>
      </div>
      {invalidRange ? (
        <p id={`${id}-range-error`} role="alert" className="text-destructive text-sm">
          {t("historyFilterRangeError")}
        </p>
      ) : null}
      <div className="flex flex-wrap items-center justify-end gap-2">
        {filter.active || Object.values(draft).some(Boolean) ? (
          <Button variant="ghost" size="sm" onClick={filter.clear} data-testid="history-filter-clear">
            <X aria-hidden />
            {t("historyFilterClear")}
          </Button>
        ) : null}
        {exportHref ? (
          <Button variant="outline" size="sm" asChild>
            <a href={exportHref} download data-testid="history-export">
              <Download aria-hidden />
              {t("historyExport")}
            </a>
          </Button>
        ) : (
          <Button variant="outline" size="sm" disabled className={cn("pointer-events-none")}>
            <Download aria-hidden />
            {t("historyExport")}
          </Button>
        )}
      </div>
    </search>
  );
}
