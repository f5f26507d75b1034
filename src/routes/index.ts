import type { RouteDefinition } from "@/server/define-route";
import applyBulkBatch from "./admin/apply-bulk-batch";
import exportUserTransactions from "./admin/export-user-transactions";
import getBulkBatch from "./admin/get-bulk-batch";
import getAdminOverview from "./admin/get-overview";
import listUserTransactions from "./admin/list-user-transactions";
import uploadBulkFile from "./admin/upload-bulk-file";
import auth from "./auth";
import cancelSubscription from "./credits/cancel-subscription";
import changeSubscription from "./credits/change-subscription";
import createAutoTopUpSetupIntent from "./credits/create-auto-top-up-setup-intent";
import createPurchase from "./credits/create-purchase";
import createSubscription from "./credits/create-subscription";
import exportCreditTransactions from "./credits/export-transactions";
import getAutoTopUp from "./credits/get-auto-top-up";
import getCreditsBalance from "./credits/get-balance";
import getLowBalanceAlert from "./credits/get-low-balance-alert";
import getPurchase from "./credits/get-purchase";
import getSubscription from "./credits/get-subscription";
import getCreditUsage from "./credits/get-usage";
import listExpiring from "./credits/list-expiring";
import listPackages from "./credits/list-packages";
import listPlans from "./credits/list-plans";
import listCreditTransactions from "./credits/list-transactions";
import openBillingPortal from "./credits/open-billing-portal";
import removeAutoTopUpCard from "./credits/remove-auto-top-up-card";
import saveAutoTopUpCard from "./credits/save-auto-top-up-card";
import setAutoTopUp from "./credits/set-auto-top-up";
import setLowBalanceAlert from "./credits/set-low-balance-alert";
import generateImage from "./features/generate-image";
import advanceSubscription from "./sandbox/advance-subscription";
import confirmPaymentIntent from "./sandbox/confirm-payment-intent";
import confirmSetupIntent from "./sandbox/confirm-setup-intent";
import setSubscriptionCard from "./sandbox/set-subscription-card";
import captureHold from "./v1/capture-hold";
import consume from "./v1/consume";
import createHold from "./v1/create-hold";
import createWebhookEndpoint from "./v1/create-webhook-endpoint";
import customerConsume from "./v1/customers/consume";
import customerCreateHold from "./v1/customers/create-hold";
import customerGetBalance from "./v1/customers/get-balance";
import customerGrant from "./v1/customers/grant";
import customerListTransactions from "./v1/customers/list-transactions";
import customerSetLowBalanceThreshold from "./v1/customers/set-low-balance-threshold";
import deleteWebhookEndpoint from "./v1/delete-webhook-endpoint";
import docsPage from "./v1/docs-page";
import getBalance from "./v1/get-balance";
import getCustomer from "./v1/get-customer";
import grant from "./v1/grant";
import listTransactions from "./v1/list-transactions";
import listWebhookDeliveries from "./v1/list-webhook-deliveries";
import listWebhookEndpoints from "./v1/list-webhook-endpoints";
import openApiJson from "./v1/openapi-json";
import putCustomer from "./v1/put-customer";
import releaseHold from "./v1/release-hold";
import resendWebhookDelivery from "./v1/resend-webhook-delivery";
import setLowBalanceThreshold from "./v1/set-low-balance-threshold";
import stripeWebhook from "./webhooks/stripe";

/**
 * Every HTTP route of the app, each defined in its own file under src/routes/. A test checks that every
 * file there is listed here (tests/integration/routes.test.ts). The service API's document lists its
 * operations in this order.
 */
export const routes: readonly RouteDefinition[] = [
  // The service API (`Authorization: Bearer <API key>`).
  getBalance,
  consume,
  grant,
  createHold,
  captureHold,
  releaseHold,
  listTransactions,
  // Customers by external id, and the user-scoped routes again for them (src/server/customer-route.ts).
  putCustomer,
  getCustomer,
  customerGetBalance,
  customerConsume,
  customerGrant,
  customerCreateHold,
  customerListTransactions,
  setLowBalanceThreshold,
  customerSetLowBalanceThreshold,
  createWebhookEndpoint,
  listWebhookEndpoints,
  deleteWebhookEndpoint,
  listWebhookDeliveries,
  resendWebhookDelivery,
  openApiJson,
  docsPage,
  // Stripe's webhook (signed).
  stripeWebhook,
  // The browser's JSON API (the session cookie).
  getCreditsBalance,
  listCreditTransactions,
  exportCreditTransactions,
  listExpiring,
  getLowBalanceAlert,
  setLowBalanceAlert,
  getAutoTopUp,
  setAutoTopUp,
  createAutoTopUpSetupIntent,
  saveAutoTopUpCard,
  removeAutoTopUpCard,
  getCreditUsage,
  listPackages,
  createPurchase,
  getPurchase,
  listPlans,
  createSubscription,
  getSubscription,
  cancelSubscription,
  changeSubscription,
  openBillingPortal,
  generateImage,
  confirmPaymentIntent,
  confirmSetupIntent,
  advanceSubscription,
  setSubscriptionCard,
  // The admin console's JSON API (the session cookie of an admin).
  listUserTransactions,
  exportUserTransactions,
  getAdminOverview,
  uploadBulkFile,
  getBulkBatch,
  applyBulkBatch,
  auth,
];
