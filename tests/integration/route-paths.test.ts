import { afterAll, describe, expect, it } from "vitest";
import { routes } from "../../src/routes";
import { createApiApp } from "../../src/server/api-app";
import { configureServerEnv } from "../support/server-env";

// Under `next start` and `next dev`, Next.js answers a path with a trailing slash or repeated slashes with a
// 308 to the normalized path before the catch-all runs (trailingSlash: false). Under `npm start`
// scripts/server.mjs hands every /api/ request to the app's Hono application directly, which must answer
// the same, or a client (or an operator's configured URL) that works under one host breaks under the other.
const serverEnv = configureServerEnv({ BETTER_AUTH_URL: "https://credits.example.test" });
afterAll(() => serverEnv.cleanup());

const app = createApiApp(routes);

describe("paths Next.js normalizes get the same answer under npm start", () => {
  for (const [sent, normalized] of [
    ["/api/v1/docs/", "/api/v1/docs"],
    ["/api/v1/openapi.json/", "/api/v1/openapi.json"],
    ["/api/credits/packages/", "/api/credits/packages"],
    ["/api//v1/openapi.json", "/api/v1/openapi.json"],
    ["/api/auth/get-session/", "/api/auth/get-session"],
  ] as const) {
    it(`GET ${sent} redirects to ${normalized} as next start does`, async () => {
      const response = await app.fetch(new Request(`http://localhost${sent}`));
      expect(response.status).toBe(308);
      expect(new URL(response.headers.get("location") ?? "", "http://localhost").pathname).toBe(normalized);
    });
  }
});

describe("the OpenAPI document", () => {
  it("names the app's public URL as its server, whatever Host the request carries", async () => {
    const response = await app.fetch(
      new Request("http://localhost/api/v1/openapi.json", { headers: { host: "evil.example" } }),
    );
    const document = (await response.json()) as { servers: { url: string }[] };
    expect(document.servers).toEqual([{ url: "https://credits.example.test/api/v1" }]);
    const page = await (await app.fetch(new Request("http://evil.example/api/v1/docs"))).text();
    expect(page).not.toContain("evil.example");
  });

  it("marks a body optional where every field is (capture), required where one is not (consume)", async () => {
    const document = (await (
      await app.fetch(new Request("http://localhost/api/v1/openapi.json"))
    ).json()) as {
      paths: Record<string, { post: { requestBody?: { required?: boolean } } }>;
    };
    expect(document.paths["/holds/{holdId}/capture"]?.post.requestBody?.required).toBe(false);
    expect(document.paths["/users/{userId}/consume"]?.post.requestBody?.required).toBe(true);
  });
});
