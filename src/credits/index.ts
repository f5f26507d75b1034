export * from "./add-credits";
export * from "./consume-credits";
export * from "./errors";
export * from "./format-money";
export * from "./get-balance";
export * from "./list-transactions";
export * from "./packages";
export * from "./schemas";
