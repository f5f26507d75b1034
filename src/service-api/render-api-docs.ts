import type { buildOpenApiDocument } from "./openapi";

type Document = ReturnType<typeof buildOpenApiDocument>;

function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

function example(schema: unknown): string {
  return escapeHtml(JSON.stringify(schema, null, 2));
}

export function renderApiDocs(document: Document): string {
  const server = document.servers[0]?.url ?? "";
  const sections = Object.entries(document.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, raw]) => {
      const op = raw as {
        summary: string;
        description: string;
        requestBody?: { content: { "application/json": { schema: unknown } } };
        responses: Record<
          string,
          { description: string; content: { "application/json": { schema: unknown } } }
        >;
      };
      const body = op.requestBody?.content["application/json"].schema;
      const curl = [
        `curl -X ${method.toUpperCase()} ${server}${path}`,
        `  -H "Authorization: Bearer $CREDITKIT_API_KEY"`,
        ...(method === "post"
          ? [`  -H "Idempotency-Key: $(uuidgen)"`, `  -H "Content-Type: application/json"`]
          : []),
        ...(body ? [`  -d '{"amount": 10}'`] : []),
      ].join(" \\\n");
      const responses = Object.entries(op.responses)
        .map(([status, response]) => `<li><code>${status}</code> ${escapeHtml(response.description)}</li>`)
        .join("");
      return `<section id="${escapeHtml(`${method}-${path}`)}">
  <h2><span class="method">${method.toUpperCase()}</span> <code>${escapeHtml(path)}</code></h2>
  <p><strong>${escapeHtml(op.summary)}.</strong> ${escapeHtml(op.description)}</p>
  ${body ? `<h3>Body</h3><pre>${example(body)}</pre>` : ""}
  <h3>Responses</h3><ul>${responses}</ul>
  <h3>Example</h3><pre>${escapeHtml(curl)}</pre>
</section>`;
    }),
  );
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(document.info.title)}</title>
<style>
  :root { color-scheme: light dark; font-family: system-ui, sans-serif; }
  body { max-width: 860px; margin: 2rem auto; padding: 0 1rem; line-height: 1.5; }
  pre { background: color-mix(in srgb, currentColor 8%, transparent); padding: 0.75rem; border-radius: 8px; overflow-x: auto; }
  section { border-top: 1px solid color-mix(in srgb, currentColor 20%, transparent); padding-top: 1rem; margin-top: 1.5rem; }
  .method { font-size: 0.8em; padding: 0.1rem 0.4rem; border-radius: 4px; background: #2563eb; color: white; }
</style></head>
<body>
<h1>${escapeHtml(document.info.title)} <small>v${escapeHtml(document.info.version)}</small></h1>
<p>${escapeHtml(document.info.description)}</p>
<p>Base URL: <code>${escapeHtml(server)}</code>. Machine-readable: <a href="${escapeHtml(server)}/openapi.json">openapi.json</a> (OpenAPI 3.1).
API keys are created by an admin in the app or with <code>npm run credits -- api-key create --name NAME</code>.</p>
${sections.join("\n")}
</body></html>`;
}
