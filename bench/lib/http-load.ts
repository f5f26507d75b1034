import autocannon from "autocannon";
import { pick } from "./context";
import { LatencyRecorder, type LatencySummary } from "./stats";

export type HttpRun = {
  connections: number;
  seconds: number;
  ok: number;
  requestsPerSecond: number;
  latency: LatencySummary;
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
};

/** One autocannon run: every request a new Idempotency-Key and a random one of the funded users. */
export async function drive(options: {
  url: string;
  apiKey: string;
  users: readonly string[];
  connections: number;
  seconds: number;
  keyPrefix: string;
  /** A plain GET of this path instead of spends: the HTTP stack's own ceiling on this machine. */
  getPath?: string;
}): Promise<HttpRun> {
  let sequence = 0;
  const recorder = new LatencyRecorder();
  const statusCodes: Record<string, number> = {};
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: options.url,
        connections: options.connections,
        duration: options.seconds,
        timeout: 30,
        headers: { authorization: `Bearer ${options.apiKey}`, "content-type": "application/json" },
        requests: [
          options.getPath
            ? { method: "GET", path: options.getPath }
            : {
                method: "POST",
                body: JSON.stringify({ amount: 1 }),
                // Called for every request: a fresh key makes each one a new spend, never an idempotent replay.
                setupRequest: (request) => {
                  sequence += 1;
                  return {
                    ...request,
                    path: `/api/v1/users/${encodeURIComponent(pick(options.users))}/consume`,
                    headers: { ...request.headers, "idempotency-key": `${options.keyPrefix}-${sequence}` },
                  };
                },
              },
        ],
      },
      (error, done) => (error ? reject(error) : resolve(done)),
    );
    instance.on("response", (_client, statusCode, _bytes, responseTime) => {
      statusCodes[statusCode] = (statusCodes[statusCode] ?? 0) + 1;
      if (statusCode >= 200 && statusCode < 300) recorder.record(responseTime);
    });
  });
  const latency = recorder.summary();
  return {
    connections: options.connections,
    seconds: result.duration,
    ok: latency.count,
    requestsPerSecond: latency.count / result.duration,
    latency,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statusCodes,
  };
}
