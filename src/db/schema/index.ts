export * from "./auth";
export * from "./credits";
export * from "./holds";
export * from "./operations";
export * from "./payment-delivery";
export * from "./rate-limits";
export * from "./refunds";
