import { previewBulkFile } from "@/admin/bulk/preview-bulk-file";
import { getDb } from "@/db/client";
import { defineRoute } from "@/server/define-route";
import { jsonError } from "@/server/http-errors";
import { withAdmin } from "@/server/with-admin";

/** A bulk file may be this large: 200,000 rows of a long email, an amount, a date and a reason. */
const MAX_BULK_FILE_BYTES = 64 * 1024 * 1024;

/**
 * POST /api/admin/bulk?fileName=…: the body is the CSV file itself (src/admin/bulk/bulk-csv.ts), read as a
 * stream. Answers 201 `{ batchId, existing }` with the preview stored (nothing applied; `existing: true`
 * when the same rows were uploaded before, in whatever bytes: their batch). 400 for a file that is not a bulk CSV, 401
 * without a session, 404 for a non-admin (the console is not advertised), 413 past 64 MiB.
 */
export default defineRoute({
  method: "POST",
  path: "/api/admin/bulk",
  maxBodyBytes: MAX_BULK_FILE_BYTES,
  handler: withAdmin(async (request, admin) => {
    if (!request.body) return jsonError(400, "invalid_input", "The body must be the CSV file.");
    const fileName = new URL(request.url).searchParams.get("fileName") ?? "upload.csv";
    const preview = await previewBulkFile(
      await getDb(),
      { fileName, body: chunksOf(request.body) },
      { userId: admin.id, label: admin.email },
    );
    return Response.json(preview, { status: 201 });
  }),
});

async function* chunksOf(stream: ReadableStream<Uint8Array>): AsyncIterable<Uint8Array> {
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    reader.releaseLock();
  }
}
