import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { expect, test } from "@playwright/test";
import { closedPort } from "../support/net";
import { REPO_ROOT, runCli, runStart, type ServerProcess, startServerProcess } from "../support/processes";

/**
 * `npm start` as an operator runs it, beside the suite's own server: settings from .env.local, the
 * sandbox opted into at a public URL, and a second process on the same embedded database. Each server
 * here is started from the existing build (SKIP_BUILD=1) on a port of its own.
 */

const SCREENSHOTS = "test-results/screenshots";
const made: string[] = [];
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "creditkit-e2e-config-"));
  made.push(dir);
  return dir;
}
test.afterAll(() => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true });
});

test.describe.configure({ mode: "serial", timeout: 240_000 });

test("npm start reads PORT from .env.local, and the app's URL follows the port", async ({ request }) => {
  // A checkout of its own whose .env.local says where to serve; scripts/ are copies (npm start serves the
  // checkout its scripts are in), everything else, the build included, is the repository's.
  const project = tempDir();
  fs.mkdirSync(path.join(project, "scripts"));
  for (const script of ["start.mjs", "server.mjs", "compile-tools.mjs"]) {
    fs.copyFileSync(path.join(REPO_ROOT, "scripts", script), path.join(project, "scripts", script));
  }
  for (const name of [
    "src",
    "messages",
    "node_modules",
    ".next",
    "package.json",
    "tsconfig.json",
    "next.config.ts",
  ]) {
    fs.symlinkSync(path.join(REPO_ROOT, name), path.join(project, name));
  }
  const port = await closedPort();
  fs.writeFileSync(
    path.join(project, ".env.local"),
    `PORT=${port}\nDATA_DIR=${path.join(project, ".data")}\n`,
  );

  const server = await startServerProcess({ env: { PORT: undefined }, port, root: project });
  try {
    // No BETTER_AUTH_URL: the allowed origin is http://localhost:<PORT from .env.local>, so signing up works.
    const signUp = await request.post(`${server.url}/api/auth/sign-up/email`, {
      headers: { origin: `http://localhost:${port}` },
      data: { name: "Port User", email: "port@example.test", password: "correct horse battery" },
    });
    expect(signUp.status(), await signUp.text()).toBe(200);
  } finally {
    await server.stop();
  }
});

test.describe("the payment sandbox opted into at a public URL", () => {
  let server: ServerProcess;
  let dataDir: string;
  test.beforeAll(async () => {
    dataDir = tempDir();
    const port = await closedPort();
    server = await startServerProcess({
      port,
      env: {
        PORT: String(port),
        DATA_DIR: dataDir,
        BETTER_AUTH_URL: "https://demo.example.test",
        PAYMENT_PROVIDER: "sandbox",
      },
    });
  });
  test.afterAll(async () => {
    await server?.stop();
  });

  test("every page says payments are simulated, in English and Chinese, light and dark", async ({ page }) => {
    const backgrounds: Record<string, string> = {};
    for (const scheme of ["light", "dark"] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      for (const [route, text] of [
        ["/en", "Payments on this site are simulated"],
        ["/en/sign-in", "the test card 4242 4242 4242 4242 buys credits for free"],
        ["/zh", "本站的支付为模拟支付"],
        ["/zh/sign-up", "PAYMENT_PROVIDER=sandbox"],
      ] as const) {
        await page.goto(`${server.url}${route}`);
        const banner = page.getByTestId("sandbox-banner");
        await expect(banner).toBeVisible();
        await expect(banner).toContainText(text);
      }
      await expect(page.locator("html")).toHaveClass(scheme === "dark" ? /\bdark\b/ : /^(?!.*\bdark\b)/);
      const banner = page.getByTestId("sandbox-banner");
      backgrounds[scheme] = await banner.evaluate((element) => getComputedStyle(element).backgroundColor);
      await banner.screenshot({ path: `${SCREENSHOTS}/sandbox-banner-zh-${scheme}.png` });
    }
    expect(backgrounds.dark, "the banner follows the dark theme").not.toBe(backgrounds.light);
  });

  test("a second npm start on the same data folder stops at once; the first keeps serving", async () => {
    const second = await runStart({ DATA_DIR: dataDir });
    const said = second.stdout + second.stderr;
    expect(second.code, said).toBe(1);
    expect(said).toContain(`in use by process ${server.pid} (node scripts/start.mjs`);
    expect(said).not.toContain("listening");

    const cli = await runCli(["verify"], { DATA_DIR: dataDir });
    expect(cli.code, cli.stdout + cli.stderr).toBe(1);
    expect(cli.stderr).toContain(`in use by process ${server.pid}`);

    const stillThere = await fetch(`${server.url}/api/credits/packages`);
    expect(stillThere.status).toBe(200);
  });
});

test("a port that is taken: it says it cannot listen, exits 1, and never says it is ready", async () => {
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
  const { port } = taken.address() as net.AddressInfo;
  try {
    const result = await runStart({ DATA_DIR: tempDir(), PORT: String(port) });
    const said = result.stdout + result.stderr;
    expect(result.code, said).toBe(1);
    expect(said).toContain(`cannot listen on 127.0.0.1:${port}`);
    expect(said).not.toMatch(/\bready\b/i);
  } finally {
    taken.close();
  }
});

test("with no opt-in and a local URL there is no banner: the newcomer's sandbox is unchanged", async ({
  page,
}) => {
  await page.goto("/en");
  await expect(page.getByRole("banner").first()).toBeVisible();
  await expect(page.getByTestId("sandbox-banner")).toHaveCount(0);
});

/** An IPv4 address of this machine that other machines on its network could connect to, if it has one. */
function networkAddress(): string | undefined {
  return Object.values(os.networkInterfaces())
    .flat()
    .find((address) => address && address.family === "IPv4" && !address.internal)?.address;
}

/** Whether a TCP connection to host:port is accepted. */
function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.setTimeout(3_000);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
    socket.once("timeout", () => {
      socket.destroy();
      resolve(false);
    });
  });
}

test("with nothing configured the server listens on this machine only, not on its network address", async () => {
  const address = networkAddress();
  test.skip(!address, "this machine has no network address besides loopback");
  const port = await closedPort();
  // HOST unset (startServerProcess sets 127.0.0.1 unless told otherwise): the newcomer's npm start.
  const server = await startServerProcess({
    port,
    env: { PORT: String(port), DATA_DIR: tempDir(), HOST: undefined },
  });
  try {
    expect(server.output()).toContain("this machine only");
    expect(await accepts("127.0.0.1", port)).toBe(true);
    expect(await accepts(address as string, port), `connected from ${address}`).toBe(false);
  } finally {
    await server.stop();
  }
});
