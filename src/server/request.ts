import type { z } from "zod";
import { CreditsError } from "@/credits/errors";
import { findUnstorableText, printablePathSegment, UNSTORABLE_TEXT_MESSAGE } from "@/credits/schemas";

export class RequestError extends CreditsError {}

/**
 * Reads a JSON body safely: the right content type, valid UTF-8 and valid JSON, every string (keys too,
 * at any depth) storable by PostgreSQL (see isStorableText), and a strict schema (unknown fields are
 * refused so a client cannot believe it set a price). Every refusal is a 4xx with a code: the same body
 * would fail the same way again. The body's size is bounded before the handler runs, by its route's limit
 * (maxBodyBytes, src/server/body-limit.ts), so it is read in one go: under the Node.js adapter
 * `arrayBuffer()` takes the socket's bytes without building a web stream (BENCHMARKS.md).
 */
export async function readJsonBody<Schema extends z.ZodType>(
  request: Request,
  schema: Schema,
): Promise<z.output<Schema>> {
  const text = decodeUtf8(await request.arrayBuffer());
  const contentType = request.headers.get("content-type") ?? "";
  // An empty body stands for `{}` (e.g. releasing a hold); a non-empty one must say it is JSON.
  // application/json, optionally with parameters (charset); not application/json-patch+json or the like.
  if (text.length > 0 && !/^application\/json\s*(;|$)/i.test(contentType)) {
    throw new RequestError("unsupported_media_type", "Send the body as application/json.");
  }
  let json: unknown;
  let protoKey = false;
  try {
    // The reviver sees every key at any depth, escaped forms decoded. A `__proto__` key survives parsing,
    // but every object the body is later copied or validated into drops it or takes it as its prototype:
    // the request would be answered as if the key had been stored. Refused instead, on every route.
    json =
      text.length === 0
        ? {}
        : JSON.parse(text, (key, value) => {
            if (key === "__proto__") protoKey = true;
            return value;
          });
  } catch {
    throw new RequestError("malformed_json", "The body is not valid JSON.");
  }
  if (protoKey) throw invalidInput([], "The key __proto__ is reserved: objects of this API cannot use it.");
  // Before the schema, so no field of any route (stored or not) can carry text the database refuses.
  const unstorable = findUnstorableText(json);
  if (unstorable) throw invalidInput(unstorable, UNSTORABLE_TEXT_MESSAGE);
  return parseWith(schema, json);
}

/**
 * Reads a query string into a strict schema: every name and value must be storable text (a `%00`
 * decodes to U+0000), unknown names are refused. Answers 400 invalid_input.
 */
export function readQuery<Schema extends z.ZodType>(request: Request, schema: Schema): z.output<Schema> {
  const query = Object.fromEntries(new URL(request.url).searchParams);
  const unstorable = findUnstorableText(query);
  if (unstorable) throw invalidInput(unstorable, UNSTORABLE_TEXT_MESSAGE, "query");
  return parseWith(schema, query);
}

function parseWith<Schema extends z.ZodType>(schema: Schema, input: unknown): z.output<Schema> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw invalidInput(issue?.path ?? [], issue?.message ?? "Invalid input", undefined, {
      issues: parsed.error.issues.map((i) => ({ path: printablePath(i.path), message: i.message })),
    });
  }
  return parsed.data;
}

function printablePath(path: readonly PropertyKey[]): string {
  return path.map(printablePathSegment).join(".");
}

function invalidInput(
  path: readonly PropertyKey[],
  message: string,
  where = "",
  context: Record<string, unknown> = {},
): RequestError {
  const at = path.length ? printablePath(path) : where;
  return new RequestError("invalid_input", `${at ? `${at}: ` : ""}${message}`, { context });
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * JSON travels as UTF-8 (RFC 8259). Bytes that are not UTF-8 would be decoded to U+FFFD and stored as
 * something the client never sent, so they are refused, as an unpaired surrogate in a JSON escape is.
 */
function decodeUtf8(bytes: ArrayBuffer): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new RequestError("malformed_json", "The body is not valid UTF-8.");
  }
}
