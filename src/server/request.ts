import type { z } from "zod";
import { CreditsError } from "@/credits/errors";
import { findUnstorableText, printablePathSegment, UNSTORABLE_TEXT_MESSAGE } from "@/credits/schemas";

/** Bodies of this API are a few hundred bytes; anything near this limit is not a real request. */
export const MAX_JSON_BODY_BYTES = 16 * 1024;

export class RequestError extends CreditsError {}

/**
 * Reads a JSON body safely: the right content type, a size limit enforced while reading, valid UTF-8
 * and valid JSON, every string (keys too, at any depth) storable by PostgreSQL (see isStorableText), and
 * a strict schema (unknown fields are refused so a client cannot believe it set a price). Every refusal
 * is a 4xx with a code: the same body would fail the same way again.
 */
export async function readJsonBody<Schema extends z.ZodType>(
  request: Request,
  schema: Schema,
  maxBytes = MAX_JSON_BODY_BYTES,
): Promise<z.output<Schema>> {
  const text = await readTextBody(request, maxBytes, { strictUtf8: true });
  const contentType = request.headers.get("content-type") ?? "";
  // An empty body stands for `{}` (e.g. releasing a hold); a non-empty one must say it is JSON.
  if (text.length > 0 && !/^application\/json\b/i.test(contentType)) {
    throw new RequestError("unsupported_media_type", "Send the body as application/json.");
  }
  let json: unknown;
  try {
    json = text.length === 0 ? {} : JSON.parse(text);
  } catch {
    throw new RequestError("malformed_json", "The body is not valid JSON.");
  }
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

/**
 * The body as text, refused with 413 payload_too_large past `maxBytes`. With a declared length (checked
 * first) the HTTP parser delivers exactly that many bytes, so the body is read in one go, which the service
 * routes' Node adapter does without building a web stream (the costliest part of a spend's request
 * handling, BENCHMARKS.md). Without one (chunked), it is read piece by piece and refused as soon as it
 * passes the limit, so an endless body never fills memory.
 */
export async function readTextBody(
  request: Request,
  maxBytes: number,
  options: { strictUtf8?: boolean } = {},
): Promise<string> {
  const declaredLength = request.headers.get("content-length");
  if (Number(declaredLength ?? "0") > maxBytes)
    throw new RequestError("payload_too_large", `The body is larger than ${maxBytes} bytes.`);
  if (declaredLength !== null && /^\d+$/.test(declaredLength)) {
    return options.strictUtf8 ? decodeUtf8(await request.arrayBuffer()) : request.text();
  }
  const bytes = await readLimitedBytes(request, maxBytes);
  return options.strictUtf8 ? decodeUtf8(bytes) : bytes.toString("utf8");
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * JSON travels as UTF-8 (RFC 8259). Bytes that are not UTF-8 would be decoded to U+FFFD and stored as
 * something the client never sent, so they are refused, as an unpaired surrogate in a JSON escape is.
 */
function decodeUtf8(bytes: ArrayBuffer | Uint8Array): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new RequestError("malformed_json", "The body is not valid UTF-8.");
  }
}

/**
 * The body's bytes, refused with 413 payload_too_large past `maxBytes` while reading (a declared length
 * is checked first; a chunked body is cut off as soon as it passes the limit), for routes that pass the
 * body on to another handler unchanged.
 */
export async function readBodyBytes(request: Request, maxBytes: number): Promise<Buffer> {
  const declaredLength = request.headers.get("content-length");
  if (Number(declaredLength ?? "0") > maxBytes)
    throw new RequestError("payload_too_large", `The body is larger than ${maxBytes} bytes.`);
  return readLimitedBytes(request, maxBytes);
}

async function readLimitedBytes(request: Request, maxBytes: number): Promise<Buffer> {
  if (!request.body) return Buffer.alloc(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      throw new RequestError("payload_too_large", `The body is larger than ${maxBytes} bytes.`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}
