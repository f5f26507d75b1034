import { jsonResponse } from "@/server/json-response";
import { buildOpenApiDocument } from "@/service-api/openapi";

export function GET(request: Request): Response {
  return jsonResponse(buildOpenApiDocument(new URL(request.url).origin));
}
