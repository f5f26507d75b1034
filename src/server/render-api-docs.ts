import type { ServiceApiDocument } from "./openapi-document";

type Document = ServiceApiDocument;

function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

/** Descriptions are Markdown-ish: `code` spans become <code>, everything else is escaped. */
function inline(text: string): string {
  return escapeHtml(text).replace(/`([^`]+)`/g, "<code>$1</code>");
}

type JsonSchema = {
  $ref?: string;
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  format?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  description?: string;
  additionalProperties?: boolean | JsonSchema;
};

/** Follows a `#/components/schemas/X` reference, so the page shows the schema itself, never a `$ref`. */
function resolve(schema: JsonSchema, components: Record<string, unknown>): JsonSchema {
  if (!schema.$ref) return schema;
  const id = schema.$ref.split("/").pop() ?? "";
  return resolve((components[id] ?? {}) as JsonSchema, components);
}

/** A short human description of a schema's type and limits, e.g. "integer, 1 to 1000000000". */
function describeType(raw: JsonSchema, components: Record<string, unknown>): string {
  const schema = resolve(raw, components);
  if (schema.anyOf) return schema.anyOf.map((part) => describeType(part, components)).join(" or ");
  if (schema.enum) return `one of ${schema.enum.map((value) => `\`${JSON.stringify(value)}\``).join(", ")}`;
  if (schema.const !== undefined) return `\`${JSON.stringify(schema.const)}\``;
  const type = Array.isArray(schema.type) ? schema.type.join(" or ") : (schema.type ?? "any");
  if (type === "array" && schema.items) return `array of ${describeType(schema.items, components)}`;
  if (type === "object" && !schema.properties) {
    const values = typeof schema.additionalProperties === "object" ? schema.additionalProperties : undefined;
    return values ? `object of ${describeType(values, components)}` : "object";
  }
  const limits: string[] = [];
  // zod states JavaScript's safe-integer range on every integer: not a limit worth showing.
  const bound = (value: number | undefined) =>
    value === undefined || Math.abs(value) >= Number.MAX_SAFE_INTEGER ? undefined : value;
  const max = bound(schema.maximum);
  const min = bound(
    schema.minimum ?? (schema.exclusiveMinimum !== undefined ? schema.exclusiveMinimum + 1 : undefined),
  );
  if (min !== undefined && max !== undefined) limits.push(`${min} to ${max}`);
  else if (min !== undefined) limits.push(`at least ${min}`);
  else if (max !== undefined) limits.push(`at most ${max}`);
  if (schema.minLength !== undefined || schema.maxLength !== undefined)
    limits.push(`${schema.minLength ?? 0} to ${schema.maxLength ?? "any"} characters`);
  if (schema.format) limits.push(schema.format);
  return [type, ...limits].join(", ");
}

/** An object schema as a table of its fields (nested objects as their own rows, dotted). */
function fieldRows(raw: JsonSchema, components: Record<string, unknown>, prefix = ""): string[] {
  const schema = resolve(raw, components);
  const required = new Set(schema.required ?? []);
  return Object.entries(schema.properties ?? {}).flatMap(([name, field]) => {
    const resolved = resolve(field, components);
    const row = `<tr><td><code>${escapeHtml(prefix + name)}</code></td><td>${inline(describeType(field, components))}</td><td>${required.has(name) ? "yes" : "no"}</td><td>${inline(resolved.description ?? "")}</td></tr>`;
    const nested = resolved.properties ? fieldRows(resolved, components, `${prefix}${name}.`) : [];
    const items = resolved.items ? resolve(resolved.items, components) : undefined;
    const itemRows = items?.properties ? fieldRows(items, components, `${prefix}${name}[].`) : [];
    return [row, ...nested, ...itemRows];
  });
}

function schemaTable(schema: unknown, components: Record<string, unknown>): string {
  const rows = fieldRows(schema as JsonSchema, components);
  if (rows.length === 0) return "<p>No fields.</p>";
  return `<table><thead><tr><th>field</th><th>type</th><th>required</th><th>meaning</th></tr></thead><tbody>${rows.join("")}</tbody></table>`;
}

/** The readable page at /api/v1/docs: every operation of the OpenAPI document with its fields, answers and a curl example. */
export function renderApiDocs(document: Document): string {
  const server = document.servers?.[0]?.url ?? "";
  const components = (document.components?.schemas ?? {}) as Record<string, unknown>;
  const sections = Object.entries(document.paths ?? {}).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, raw]) => {
      const op = raw as {
        summary: string;
        description: string;
        requestBody?: { content: { "application/json": { schema: unknown } } };
        responses: Record<
          string,
          {
            description: string;
            headers?: Record<string, { description: string }>;
            content: { "application/json": { schema: unknown } };
          }
        >;
      };
      const body = op.requestBody?.content["application/json"].schema;
      const curl = [
        `curl -X ${method.toUpperCase()} ${server}${path}`,
        `  -H "Authorization: Bearer $CREDITKIT_API_KEY"`,
        ...(method === "post" ? [`  -H "Idempotency-Key: $(uuidgen)"`] : []),
        ...(method === "post" || method === "put" ? [`  -H "Content-Type: application/json"`] : []),
        // PUT is a customer's create-or-update (the only PUT); every POST body takes an amount.
        ...(body ? [method === "put" ? `  -d '{"name": "Ann"}'` : `  -d '{"amount": 10}'`] : []),
      ].join(" \\\n");
      const responses = Object.entries(op.responses)
        .map(([status, response]) => {
          const headers = Object.entries(response.headers ?? {})
            .map(
              ([name, header]) =>
                `<br>Header <code>${escapeHtml(name)}</code>: ${inline(header.description)}`,
            )
            .join("");
          return `<li><code>${status}</code> ${inline(response.description)}${headers}</li>`;
        })
        .join("");
      const success = Object.entries(op.responses).find(([status]) => status.startsWith("2"));
      return `<section id="${escapeHtml(`${method}-${path}`)}">
  <h2><span class="method">${method.toUpperCase()}</span> <code>${escapeHtml(path)}</code></h2>
  <p><strong>${escapeHtml(op.summary)}.</strong> ${inline(op.description)}</p>
  ${body ? `<h3>Body</h3>${schemaTable(body, components)}` : ""}
  ${success ? `<h3>Answer (${success[0]})</h3>${schemaTable(success[1].content["application/json"].schema, components)}` : ""}
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
  table { border-collapse: collapse; width: 100%; font-size: 0.95em; }
  th, td { text-align: left; padding: 0.3rem 0.5rem; border-bottom: 1px solid color-mix(in srgb, currentColor 15%, transparent); vertical-align: top; }
  .method { font-size: 0.8em; padding: 0.1rem 0.4rem; border-radius: 4px; background: #2563eb; color: white; }
</style></head>
<body>
<h1>${escapeHtml(document.info.title)} <small>v${escapeHtml(document.info.version)}</small></h1>
<p>${inline(document.info.description ?? "")}</p>
<p>Base URL: <code>${escapeHtml(server)}</code>. Machine-readable: <a href="${escapeHtml(server)}/openapi.json">openapi.json</a> (OpenAPI 3.1).
API keys are created by an admin in the app or with <code>npm run credits -- api-key create --name NAME</code>.</p>
${sections.join("\n")}
</body></html>`;
}
