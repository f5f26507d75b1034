import { getServerEnv, publicUrl } from "@/config/env";
import { defineRoute } from "@/server/define-route";
import { serviceApiDocument } from "@/server/openapi-document";
import { renderApiDocs } from "@/server/render-api-docs";

/** GET /api/v1/docs: a readable page of the service API, generated from its OpenAPI document.
 * Its server URL is the app's public URL (BETTER_AUTH_URL, or localhost and PORT), never the request's Host
 * header: a client must not make the document send others to a host of its choosing.
 */
export default defineRoute({
  method: "GET",
  path: "/api/v1/docs",
  handler: async () => {
    const html = renderApiDocs(await serviceApiDocument(publicUrl(getServerEnv())));
    return new Response(html, { headers: { "content-type": "text/html; charset=utf-8" } });
  },
});
