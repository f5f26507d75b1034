import authRoute from "../../src/routes/auth";
import createPurchase from "../../src/routes/credits/create-purchase";
import getCreditsBalance from "../../src/routes/credits/get-balance";
import getPurchase from "../../src/routes/credits/get-purchase";
import listPackages from "../../src/routes/credits/list-packages";
import listCreditTransactions from "../../src/routes/credits/list-transactions";
import generateImage from "../../src/routes/features/generate-image";
import confirmPaymentIntent from "../../src/routes/sandbox/confirm-payment-intent";
import docsPage from "../../src/routes/v1/docs-page";
import openApiJson from "../../src/routes/v1/openapi-json";
import stripeWebhook from "../../src/routes/webhooks/stripe";
import type { RouteDefinition } from "../../src/server/define-route";

type Handler = (request: Request, context?: { params: Promise<Record<string, string>> }) => Promise<Response>;

/** A route's handler called the way the app calls it (path parameters given by the test). */
function handlerOf(route: RouteDefinition): Handler {
  return async (request, context = { params: Promise.resolve({}) }) => route.handler(request, context);
}

export const authGet = handlerOf(authRoute);
export const authPost = handlerOf(authRoute);
export const balanceGet = handlerOf(getCreditsBalance);
export const packagesGet = handlerOf(listPackages);
export const purchasesPost = handlerOf(createPurchase);
export const purchaseGet = handlerOf(getPurchase);
export const transactionsGet = handlerOf(listCreditTransactions);
export const generateImagePost = handlerOf(generateImage);
export const confirmPost = handlerOf(confirmPaymentIntent);
export const webhookPost = handlerOf(stripeWebhook);
export const openApiGet = handlerOf(openApiJson);
export const docsGet = handlerOf(docsPage);
