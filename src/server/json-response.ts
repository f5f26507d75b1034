/**
 * A JSON answer whose text the service routes' dispatcher writes to the socket itself. A web `Response`
 * with a body builds a stream, which on Node 20 costs more CPU under load than the rest of a spend's
 * request handling (BENCHMARKS.md, scenario 2); this one is made without a body and carries the text.
 */
export class JsonReply extends Response {
  constructor(
    readonly jsonText: string,
    init: ResponseInit,
  ) {
    const headers = new Headers(init.headers);
    headers.set("content-type", "application/json");
    super(null, { status: init.status, headers });
  }

  // A reader of this object gets the answer too (its stream body stays empty: only the dispatcher sends it).
  override async text(): Promise<string> {
    return this.jsonText;
  }

  override async json(): Promise<unknown> {
    return JSON.parse(this.jsonText);
  }

  /** The same answer as a complete web Response, for a caller that streams bodies. */
  toResponse(): Response {
    return new Response(this.jsonText, { status: this.status, headers: this.headers });
  }
}

// Set by createNodeApiApp (src/server/api-app.ts) when `npm start` serves every /api request through the
// Node.js adapter, which writes JsonReply's text without building a web Response. Under `next dev` and
// `next start` (the catch-all route), and for a caller of a route handler that reads the body, it stays
// unset and answers are Response.json.
let repliesWrittenByDispatcher = false;

export function dispatcherWritesJsonReplies(): void {
  repliesWrittenByDispatcher = true;
}

/** Every JSON answer of the service API and the webhook is made here. */
export function jsonResponse(body: unknown, init: ResponseInit = {}): Response {
  return repliesWrittenByDispatcher ? new JsonReply(JSON.stringify(body), init) : Response.json(body, init);
}
