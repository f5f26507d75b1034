import { routes } from "../../src/routes";
import exportUserTransactions from "../../src/routes/admin/export-user-transactions";
import getAdminOverview from "../../src/routes/admin/get-overview";
import listUserTransactions from "../../src/routes/admin/list-user-transactions";
import authRoute from "../../src/routes/auth";
import cancelSubscription from "../../src/routes/credits/cancel-subscription";
import createPurchase from "../../src/routes/credits/create-purchase";
import createSubscription from "../../src/routes/credits/create-subscription";
import exportCreditTransactions from "../../src/routes/credits/export-transactions";
import getCreditsBalance from "../../src/routes/credits/get-balance";
import getPurchase from "../../src/routes/credits/get-purchase";
import getSubscription from "../../src/routes/credits/get-subscription";
import getCreditUsage from "../../src/routes/credits/get-usage";
import listPackages from "../../src/routes/credits/list-packages";
import listPlans from "../../src/routes/credits/list-plans";
import listCreditTransactions from "../../src/routes/credits/list-transactions";
import generateImage from "../../src/routes/features/generate-image";
import advanceSubscription from "../../src/routes/sandbox/advance-subscription";
import confirmPaymentIntent from "../../src/routes/sandbox/confirm-payment-intent";
import setSubscriptionCard from "../../src/routes/sandbox/set-subscription-card";
import docsPage from "../../src/routes/v1/docs-page";
import openApiJson from "../../src/routes/v1/openapi-json";
import stripeWebhook from "../../src/routes/webhooks/stripe";
import { createApiApp, routeServesPath } from "../../src/server/api-app";
import { type RouteDefinition, routeMethods } from "../../src/server/define-route";

type Handler = (request: Request, context?: unknown) => Promise<Response>;

const app = createApiApp(routes);

/**
 * A route as the app serves it: the request goes through the app's dispatch (src/server/api-app.ts), which
 * must send it to `route` (its method and path), so a test also proves the route is reachable where it says.
 */
export function handlerOf(route: RouteDefinition): Handler {
  return async (request) => {
    const { pathname } = new URL(request.url);
    if (!routeServesPath(route, pathname) || !routeMethods(route).includes(request.method as "GET"))
      throw new Error(`${request.method} ${pathname} is not ${route.path}: the test asks the wrong route`);
    return app.fetch(request);
  };
}

export const authGet = handlerOf(authRoute);
export const authPost = handlerOf(authRoute);
export const balanceGet = handlerOf(getCreditsBalance);
export const packagesGet = handlerOf(listPackages);
export const purchasesPost = handlerOf(createPurchase);
export const purchaseGet = handlerOf(getPurchase);
export const plansGet = handlerOf(listPlans);
export const subscriptionsPost = handlerOf(createSubscription);
export const subscriptionGet = handlerOf(getSubscription);
export const subscriptionDelete = handlerOf(cancelSubscription);
export const advancePost = handlerOf(advanceSubscription);
export const cardPut = handlerOf(setSubscriptionCard);
export const transactionsGet = handlerOf(listCreditTransactions);
export const usageGet = handlerOf(getCreditUsage);
export const transactionsExportGet = handlerOf(exportCreditTransactions);
export const adminTransactionsGet = handlerOf(listUserTransactions);
export const adminTransactionsExportGet = handlerOf(exportUserTransactions);
export const adminOverviewGet = handlerOf(getAdminOverview);
export const generateImagePost = handlerOf(generateImage);
export const confirmPost = handlerOf(confirmPaymentIntent);
export const webhookPost = handlerOf(stripeWebhook);
export const openApiGet = handlerOf(openApiJson);
export const docsGet = handlerOf(docsPage);
