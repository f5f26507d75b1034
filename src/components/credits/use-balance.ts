"use client";

import { useQuery } from "@tanstack/react-query";
import { type Balance, creditsKeys, fetchBalance } from "./credits-api";

/** The balance under ["credits","balance"]: the header badge and the balance card read the same cache entry. */
export function useBalance(initialBalance?: Balance | null) {
  return useQuery({
    queryKey: creditsKeys.balance,
    queryFn: ({ signal }) => fetchBalance(signal),
    initialData: initialBalance ?? undefined,
  });
}
