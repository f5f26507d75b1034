import { buildOpenApiDocument } from "@/service-api/openapi";

export function GET(request: Request): Response {
  return Response.json(buildOpenApiDocument(new URL(request.url).origin));
}
