export * from "./add-credits";
export * from "./compact-ledger-aggregates";
export * from "./consume-credits";
export * from "./errors";
export * from "./get-balance";
export * from "./idempotency-keys";
export * from "./list-transactions";
export * from "./schemas";
