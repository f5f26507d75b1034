import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { CLIENT_DIR, generateClientFiles, staleClientFiles } from "../../scripts/generate-client";

// The typed client is generated from the service API's OpenAPI document (scripts/generate-client.ts):
// the committed document and types must be what the current route definitions make, or the client and
// the API disagree.

describe("the typed client's generated files", () => {
  it("are what the current route definitions make", async () => {
    const stale = await staleClientFiles();
    expect(
      stale,
      `${stale.join(", ")} differ from what the service API's route definitions make now: run \`npm run client:generate\` and commit the result`,
    ).toEqual([]);
  });

  it("name what differs when a committed copy is out of date", async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "creditkit-client-"));
    try {
      const files = await generateClientFiles();
      for (const file of files) {
        fs.mkdirSync(path.dirname(path.join(root, file.path)), { recursive: true });
        fs.writeFileSync(path.join(root, file.path), file.contents);
      }
      expect(await staleClientFiles(root)).toEqual([]);
      // A route whose answer gained a field: the committed document no longer says so.
      const documentPath = path.join(root, CLIENT_DIR, "openapi.json");
      const document = JSON.parse(fs.readFileSync(documentPath, "utf8"));
      delete document.components.schemas.Balance.properties.debt;
      fs.writeFileSync(documentPath, `${JSON.stringify(document, null, 2)}\n`);
      fs.rmSync(path.join(root, CLIENT_DIR, "src", "generated", "openapi.ts"));
      expect(await staleClientFiles(root)).toEqual([
        `${CLIENT_DIR}/openapi.json`,
        `${CLIENT_DIR}/src/generated/openapi.ts`,
      ]);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it("describe every service-API operation, and the types follow the document", async () => {
    const [documentFile, typesFile] = await generateClientFiles();
    const document = JSON.parse(documentFile?.contents ?? "{}") as { paths: Record<string, object> };
    const types = typesFile?.contents ?? "";
    expect(Object.keys(document.paths).length).toBeGreaterThanOrEqual(7);
    for (const route of Object.keys(document.paths)) expect(types).toContain(`"${route}": {`);
    // The client sets the Idempotency-Key itself, so a typed call need not.
    expect(types).not.toContain('"Idempotency-Key": string');
    expect(documentFile?.contents).toContain('"name": "Idempotency-Key"');
  });
});
