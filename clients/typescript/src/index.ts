/**
 * @creditkit/client: a typed client for the creditkit service API (/api/v1), generated from its OpenAPI
 * document (openapi.json), and the verifier of creditkit's signed outbound events. See README.md.
 */
export {
  type Balance,
  type CallOptions,
  type CaptureRequest,
  type CaptureResult,
  type ConsumeRequest,
  type CreatedWebhookEndpoint,
  type CreateWebhookEndpointRequest,
  type CreditkitClient,
  type CreditkitClientOptions,
  type Customer,
  type CustomerRequest,
  type CustomersClient,
  type CustomerWithBalance,
  createCreditkitClient,
  type DeletedWebhookEndpoint,
  type EntryResult,
  type GrantRequest,
  type GrantResult,
  type HoldRequest,
  type HoldResult,
  type LowBalanceThreshold,
  type LowBalanceThresholdRequest,
  type MutationOptions,
  type ReleaseResult,
  type ResentWebhookDelivery,
  type ServiceApi,
  type TransactionPage,
  type UpsertedCustomer,
  type WebhookDeliveryList,
  type WebhookEndpoint,
  type WebhookEndpointsClient,
} from "./client.js";
export {
  type ApiScope,
  CreditkitConnectionError,
  CreditkitError,
  type CreditkitErrorCode,
} from "./errors.js";
export type { components, paths } from "./generated/openapi.js";
export {
  verifyWebhook,
  type WebhookEvent,
  type WebhookEventType,
  type WebhookHeaders,
  WebhookVerificationError,
} from "./webhooks.js";
