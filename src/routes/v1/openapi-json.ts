import { getServerEnv, publicUrl } from "@/config/env";
import { defineRoute } from "@/server/define-route";
import { jsonResponse } from "@/server/json-response";
import { serviceApiDocument } from "@/server/openapi-document";

/** GET /api/v1/openapi.json: the service API's OpenAPI 3.1 document, made from the route definitions.
 * Its server URL is the app's public URL (BETTER_AUTH_URL, or localhost and PORT), never the request's Host
 * header: a client must not make the document send others to a host of its choosing.
 */
export default defineRoute({
  method: "GET",
  path: "/api/v1/openapi.json",
  handler: async () => jsonResponse(await serviceApiDocument(publicUrl(getServerEnv()))),
});
