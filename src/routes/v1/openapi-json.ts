import { defineRoute } from "@/server/define-route";
import { jsonResponse } from "@/server/json-response";
import { serviceApiDocument } from "@/server/openapi-document";

/** GET /api/v1/openapi.json: the service API's OpenAPI 3.1 document, made from the route definitions. */
export default defineRoute({
  method: "GET",
  path: "/api/v1/openapi.json",
  handler: async (request) => jsonResponse(await serviceApiDocument(new URL(request.url).origin)),
});
