import { defineRoute } from "@/server/define-route";
import { serviceApiDocument } from "@/server/openapi-document";
import { renderApiDocs } from "@/server/render-api-docs";

/** GET /api/v1/docs: a readable page of the service API, generated from its OpenAPI document. */
export default defineRoute({
  method: "GET",
  path: "/api/v1/docs",
  handler: async (request) => {
    const html = renderApiDocs(await serviceApiDocument(new URL(request.url).origin));
    return new Response(html, { headers: { "content-type": "text/html; charset=utf-8" } });
  },
});
