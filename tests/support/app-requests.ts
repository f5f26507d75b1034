import { authPost } from "./route-handlers";

/** The origin Better Auth is configured with when BETTER_AUTH_URL is unset (PORT defaults to 3000). */
export const APP_ORIGIN = "http://localhost:3000";

/** The second argument Next.js passes to a dynamic route handler. */
export function routeContext<Params>(params: Params): { params: Promise<Params> } {
  return { params: Promise.resolve(params) };
}

export type AppRequestInit = {
  method?: string;
  cookie?: string;
  /** Sent as JSON with content-type application/json. */
  json?: unknown;
  /** Sent verbatim; set contentType yourself. */
  body?: string;
  contentType?: string;
  headers?: Record<string, string>;
};

/** A Request as the browser would send it to the app (no Origin header: same-origin fetches omit it). */
export function appRequest(pathname: string, init: AppRequestInit = {}): Request {
  const headers = new Headers(init.headers);
  if (init.cookie) headers.set("cookie", init.cookie);
  let body: string | undefined = init.body;
  if (init.json !== undefined) {
    body = JSON.stringify(init.json);
    headers.set("content-type", "application/json");
  }
  if (init.contentType) headers.set("content-type", init.contentType);
  return new Request(new URL(pathname, APP_ORIGIN), {
    method: init.method ?? (body === undefined ? "GET" : "POST"),
    headers,
    body,
  });
}

export type SignedUpUser = { id: string; email: string; cookie: string };

/** Signs a new user up through Better Auth's own route and returns the session cookie it set. */
export async function signUp(email: string, name = "Test User"): Promise<SignedUpUser> {
  const response = await authPost(
    appRequest("/api/auth/sign-up/email", { json: { email, password: "correct horse battery", name } }),
  );
  if (response.status !== 200) throw new Error(`sign-up failed: ${response.status} ${await response.text()}`);
  const { user } = (await response.json()) as { user: { id: string; email: string } };
  const cookie = response.headers
    .getSetCookie()
    .map((header) => header.split(";")[0])
    .join("; ");
  if (!cookie) throw new Error("sign-up set no session cookie");
  return { id: user.id, email: user.email, cookie };
}

/** Reads a Response's status and JSON body in one step. */
export async function readJson<Body = Record<string, unknown>>(
  response: Response,
): Promise<{ status: number; body: Body }> {
  return { status: response.status, body: (await response.json()) as Body };
}
