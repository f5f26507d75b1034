import fs from "node:fs";
import path from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

/**
 * Imports run one way (docs/architecture.md): pages and routes → use cases → the catalog → the ledger
 * core → the database. An import that runs back up ties a lower layer to a framework or a caller it must
 * not know (the core is used by the CLI, the jobs and the routes alike; the UI is bundled for the
 * browser), and the next change then has to move both. This test reads every file under src/ with the
 * TypeScript parser and fails on any such import, naming the file, the import and the rule.
 */

const root = path.resolve(import.meta.dirname, "../..");

type Layer = "pages" | "start-up" | "http" | "use cases" | "catalog" | "core" | "database" | "shared";

/** Higher imports lower or equal, never higher. */
const RANK: Record<Layer, number> = {
  pages: 6,
  "start-up": 6,
  http: 5,
  "use cases": 4,
  catalog: 3,
  core: 2,
  database: 1,
  // Configuration, the logger, the process registry, locale routing: usable from every layer.
  shared: 0,
};

/** Where each file of src/ sits; the first matching prefix wins. A new folder must be placed here. */
const LAYERS: [prefix: string, layer: Layer][] = [
  ["src/app/", "pages"],
  ["src/components/", "pages"],
  ["src/actions/", "pages"],
  ["src/proxy.ts", "pages"],
  // The start-up checks run before anything serves: they open the database and read the payment setup.
  ["src/instrumentation.ts", "start-up"],
  ["src/config/prepare-server.ts", "start-up"],
  ["src/config/preflight.ts", "start-up"],
  ["src/routes/", "http"],
  ["src/server/", "http"],
  ["src/payment/", "use cases"],
  ["src/admin/", "use cases"],
  ["src/features/", "use cases"],
  ["src/service-api/", "use cases"],
  ["src/auth/", "use cases"],
  ["src/jobs/", "use cases"],
  ["src/audit/", "use cases"],
  ["src/email/", "use cases"],
  ["src/limits/", "use cases"],
  ["src/outbound/", "use cases"],
  ["src/alerts/", "use cases"],
  ["src/auto-top-up/", "use cases"],
  ["src/catalog/", "catalog"],
  ["src/credits/", "core"],
  ["src/db/", "database"],
  ["src/config/", "shared"],
  ["src/lib/", "shared"],
  ["src/i18n/", "shared"],
];

/**
 * Imports that run back up today, each with the reason it is still there. The test fails when one of
 * them is gone, so the list only shrinks: delete the line with the import.
 */
const KNOWN_BACK_UP: { from: string; to: string; why: string }[] = [];

/**
 * What the ledger core may import: itself, and the database only through its schema and handle types
 * (every operation takes a handle; the app's connection is the caller's), plus packages that are no
 * framework (Node's own, `node:*`, included).
 */
const CORE_MAY_USE = {
  files: ["src/credits/", "src/db/schema/", "src/db/types.ts"],
  packages: ["zod", "drizzle-orm", "canonicalize", "vitest", "node:"],
};
/**
 * What the catalog may import: itself and the core's limits. The browser bundles it (prices, currencies
 * and their formatting), so no Node.js module either.
 */
const CATALOG_MAY_USE = { files: ["src/catalog/", "src/credits/"], packages: ["zod", "vitest"] };

/** Modules that must never be reached from src/components: they read the request, the database or secrets. */
const SERVER_ONLY_FILES = ["src/db/", "src/auth/session.ts", "src/auth/auth.ts", "src/config/env.ts"];
const SERVER_ONLY_PACKAGES = [
  "server-only",
  "pg",
  "@electric-sql/pglite",
  "drizzle-orm",
  "stripe",
  "nodemailer",
  "pg-boss",
];
/** Exact specifiers: the rest of these packages (next/link, better-auth/react) is fine in the UI. */
const SERVER_ONLY_SPECIFIERS = ["next/headers", "better-auth"];

type Import = { from: string; specifier: string; target: string; typeOnly: boolean };

function listSourceFiles(dir: string): string[] {
  return fs.readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    const relative = `${dir}/${entry.name}`;
    if (entry.isDirectory()) return listSourceFiles(relative);
    return /\.tsx?$/.test(entry.name) ? [relative] : [];
  });
}

/** A file of the repository (`src/...`), or `package:<specifier>` for a package. */
function resolve(from: string, specifier: string): string {
  if (!specifier.startsWith(".") && !specifier.startsWith("@/")) return `package:${specifier}`;
  const base = specifier.startsWith("@/")
    ? `src/${specifier.slice(2)}`
    : path.posix.normalize(path.posix.join(path.posix.dirname(from), specifier));
  for (const candidate of [base, `${base}.ts`, `${base}.tsx`, `${base}/index.ts`, `${base}/index.tsx`]) {
    if (fs.existsSync(path.join(root, candidate)) && fs.statSync(path.join(root, candidate)).isFile())
      return candidate;
  }
  throw new Error(`${from}: cannot resolve ${specifier}`);
}

/** Static imports, re-exports and `import()` calls; `import type` and all-type specifier lists are marked. */
function readImports(file: string): { imports: Import[]; useServer: boolean } {
  const text = fs.readFileSync(path.join(root, file), "utf8");
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const imports: Import[] = [];
  const add = (specifier: string, typeOnly: boolean) =>
    imports.push({ from: file, specifier, target: resolve(file, specifier), typeOnly });
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const named =
        clause?.namedBindings && ts.isNamedImports(clause.namedBindings) ? clause.namedBindings : null;
      const typeOnly =
        clause !== undefined &&
        (clause.isTypeOnly ||
          (!clause.name && named !== null && named.elements.every((element) => element.isTypeOnly)));
      add(node.moduleSpecifier.text, typeOnly);
    } else if (
      ts.isExportDeclaration(node) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      add(node.moduleSpecifier.text, node.isTypeOnly);
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] &&
      ts.isStringLiteralLike(node.arguments[0])
    ) {
      add(node.arguments[0].text, false);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  const first = source.statements[0];
  const useServer =
    first !== undefined &&
    ts.isExpressionStatement(first) &&
    ts.isStringLiteral(first.expression) &&
    first.expression.text === "use server";
  return { imports, useServer };
}

function layerOf(file: string): Layer | undefined {
  return LAYERS.find(([prefix]) => file === prefix || file.startsWith(prefix))?.[1];
}

const startsWithAny = (value: string, prefixes: string[]) =>
  prefixes.some((prefix) => value.startsWith(prefix));
/** `package:@scope/name/sub` → `@scope/name`, `package:next/headers` → `next`. */
function packageName(target: string): string {
  const specifier = target.slice("package:".length);
  return specifier
    .split("/")
    .slice(0, specifier.startsWith("@") ? 2 : 1)
    .join("/");
}
const describeImport = (entry: Import) => `${entry.from} imports "${entry.specifier}"`;

const files = listSourceFiles("src");
const graph = new Map(files.map((file) => [file, readImports(file)]));
const allImports = [...graph.values()].flatMap((entry) => entry.imports);

/** Every import whose target sits in a higher layer than the file importing it. */
function backUpImports(): Import[] {
  return allImports.filter((entry) => {
    if (entry.target.startsWith("package:")) return false;
    const from = layerOf(entry.from);
    const to = layerOf(entry.target);
    return from !== undefined && to !== undefined && RANK[to] > RANK[from];
  });
}

/** The imports of a layer's files that reach neither the files nor the packages it may use. */
function importsBeyond(layer: Layer, mayUse: { files: string[]; packages: string[] }): string[] {
  return allImports
    .filter((entry) => layerOf(entry.from) === layer)
    .filter((entry) => {
      if (!entry.target.startsWith("package:")) return !startsWithAny(entry.target, mayUse.files);
      const name = packageName(entry.target);
      return !mayUse.packages.some(
        (allowed) => name === allowed || (allowed.endsWith(":") && name.startsWith(allowed)),
      );
    })
    .map(describeImport);
}

const isKnown = (entry: Import) =>
  KNOWN_BACK_UP.some((known) => known.from === entry.from && known.to === entry.target);

function isServerOnly(target: string): boolean {
  if (!target.startsWith("package:")) return startsWithAny(target, SERVER_ONLY_FILES);
  return (
    SERVER_ONLY_PACKAGES.includes(packageName(target)) ||
    SERVER_ONLY_SPECIFIERS.includes(target.slice("package:".length))
  );
}

/**
 * The server-only modules a file pulls in when it runs, each with the chain of imports that reaches it:
 * value imports followed through src/, up to the first server-only module on each path. A "use server"
 * module is where it stops: a client component that imports a server action gets a reference to call,
 * not the action's code.
 */
function serverOnlyReachedFrom(start: string): string[][] {
  const chains = new Map<string, string[]>([[start, [start]]]);
  const found: string[][] = [];
  const queue = [start];
  while (queue.length > 0) {
    const file = queue.shift()!;
    const entry = graph.get(file);
    if (!entry || (file !== start && entry.useServer)) continue;
    for (const item of entry.imports) {
      if (item.typeOnly || chains.has(item.target)) continue;
      const chain = [...chains.get(file)!, item.target];
      chains.set(item.target, chain);
      if (isServerOnly(item.target)) found.push(chain);
      else if (!item.target.startsWith("package:")) queue.push(item.target);
    }
  }
  return found;
}

describe("imports run one way", () => {
  it("places every file of src/ in a layer", () => {
    expect(files.filter((file) => layerOf(file) === undefined)).toEqual([]);
  });

  it("has no import from a higher layer (pages and routes → use cases → catalog → core → database)", () => {
    const problems = backUpImports()
      .filter((entry) => !isKnown(entry))
      .map((entry) => `${describeImport(entry)}: ${layerOf(entry.from)} → ${layerOf(entry.target)}`);
    expect(problems).toEqual([]);
  });

  it("lists only back-up imports that still exist", () => {
    const found = backUpImports();
    const gone = KNOWN_BACK_UP.filter(
      (known) => !found.some((entry) => entry.from === known.from && entry.target === known.to),
    ).map((known) => `${known.from} → ${known.to}`);
    expect(gone).toEqual([]);
  });

  it("keeps the ledger core framework-free, with no prices and no app connection", () => {
    expect(importsBeyond("core", CORE_MAY_USE)).toEqual([]);
  });

  it("keeps the package catalog to prices and currencies", () => {
    expect(importsBeyond("catalog", CATALOG_MAY_USE)).toEqual([]);
  });

  it("keeps src/components to UI: nothing there reaches the database, the session or server secrets", () => {
    const problems = files
      .filter((file) => file.startsWith("src/components/"))
      .flatMap((file) => serverOnlyReachedFrom(file).map((chain) => chain.join(" → ")));
    expect(problems).toEqual([]);
  });

  // The UI shows credits and prices; it never runs a ledger operation (those take a database handle). Of
  // the core it needs only the shapes it shares with the server: entry types and limits.
  it("lets src/components use the ledger core's shared shapes only", () => {
    const problems = allImports
      .filter((entry) => entry.from.startsWith("src/components/") && entry.target.startsWith("src/credits/"))
      .filter((entry) => entry.target !== "src/credits/schemas.ts")
      .map(describeImport);
    expect(problems).toEqual([]);
  });
});
