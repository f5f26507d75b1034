"use client";

import { useQuery } from "@tanstack/react-query";
import { type AutoTopUpView, fetchAutoTopUp } from "./auto-top-up-api";
import { creditsKeys } from "./credits-api";

/** Auto top-up under ["credits","auto-top-up"]: the settings card and the banner share it. */
export function useAutoTopUp(initial?: AutoTopUpView | null) {
  return useQuery({
    queryKey: creditsKeys.autoTopUp,
    queryFn: ({ signal }) => fetchAutoTopUp(signal),
    initialData: initial ?? undefined,
  });
}
