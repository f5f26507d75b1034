import type { z } from "zod";
import { CreditsError } from "@/credits/errors";

/** Bodies of this API are a few hundred bytes; anything near this limit is not a real request. */
export const MAX_JSON_BODY_BYTES = 16 * 1024;

export class RequestError extends CreditsError {}

/**
 * Reads a JSON body safely: the right content type, a size limit enforced while reading, valid JSON,
 * and a strict schema (unknown fields are refused so a client cannot believe it set a price).
 */
export async function readJsonBody<Schema extends z.ZodType>(
  request: Request,
  schema: Schema,
  maxBytes = MAX_JSON_BODY_BYTES,
): Promise<z.output<Schema>> {
  const text = await readTextBody(request, maxBytes);
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
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? `${issue.path.join(".")}: ` : "";
    throw new RequestError("invalid_input", `${where}${issue?.message ?? "Invalid input"}`, {
      context: { issues: parsed.error.issues.map((i) => ({ path: i.path.join("."), message: i.message })) },
    });
  }
  return parsed.data;
}

/**
 * The body as text, refused with 413 payload_too_large past `maxBytes`. With a declared length (checked
 * first) the HTTP parser delivers exactly that many bytes, so the body is read in one go, which the service
 * routes' Node adapter does without building a web stream (the costliest part of a spend's request
 * handling, BENCHMARKS.md). Without one (chunked), it is read piece by piece and refused as soon as it
 * passes the limit, so an endless body never fills memory.
 */
export async function readTextBody(request: Request, maxBytes: number): Promise<string> {
  const declaredLength = request.headers.get("content-length");
  if (Number(declaredLength ?? "0") > maxBytes)
    throw new RequestError("payload_too_large", `The body is larger than ${maxBytes} bytes.`);
  return declaredLength !== null && /^\d+$/.test(declaredLength)
    ? request.text()
    : readLimitedText(request, maxBytes);
}

async function readLimitedText(request: Request, maxBytes: number): Promise<string> {
  if (!request.body) return "";
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
  return Buffer.concat(chunks).toString("utf8");
}
