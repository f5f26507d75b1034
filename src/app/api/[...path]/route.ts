import { routes } from "@/routes";
import { createApiApp } from "@/server/api-app";

/**
 * Under `next dev` and `next start`, Next.js hands every /api request to the app's routes (src/routes/,
 * served by one Hono application: src/server/api-app.ts). `npm start` serves the same application without
 * Next.js's request pipeline (scripts/server.mjs), so both answer alike.
 */
const app = createApiApp(routes);

export const dynamic = "force-dynamic";

function handle(request: Request): Response | Promise<Response> {
  return app.fetch(request);
}

export {
  handle as DELETE,
  handle as GET,
  handle as HEAD,
  handle as OPTIONS,
  handle as PATCH,
  handle as POST,
  handle as PUT,
};
