export * from "./auth";
export * from "./credits";
export * from "./holds";
export * from "./operations";
export * from "./rate-limits";
