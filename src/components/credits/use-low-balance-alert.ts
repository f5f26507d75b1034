"use client";

import { useQuery } from "@tanstack/react-query";
import { creditsKeys, fetchLowBalanceAlert, type LowBalanceAlert } from "./credits-api";

/** The low-balance alert under ["credits","low-balance-alert"]: the banner and the settings card share it. */
export function useLowBalanceAlert(initialAlert?: LowBalanceAlert | null) {
  return useQuery({
    queryKey: creditsKeys.lowBalanceAlert,
    queryFn: ({ signal }) => fetchLowBalanceAlert(signal),
    initialData: initialAlert ?? undefined,
  });
}
