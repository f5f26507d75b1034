import { buildOpenApiDocument } from "@/service-api/openapi";
import { renderApiDocs } from "@/service-api/render-api-docs";

/** A readable page of the service API, generated from the OpenAPI document. */
export function GET(request: Request): Response {
  const html = renderApiDocs(buildOpenApiDocument(new URL(request.url).origin));
  return new Response(html, { headers: { "content-type": "text/html; charset=utf-8" } });
}
