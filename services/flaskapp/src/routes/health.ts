// Liveness and readiness. Readiness turns 503 the moment shutdown begins, so
// Kubernetes takes the pod out of the Service while it still serves. The app
// answers them on its own port, and the probe listener (PROBE_PORT) with
// probeHandler, the same answers without express, logs or metrics.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Routes } from "./routes.ts";
import { STATUS_CODES } from "../node-http.ts";
import type { Lifecycle } from "../observe.ts";
import { sendProblem } from "../problem.ts";

export function healthRoutes(routes: Routes, lifecycle: Lifecycle): void {
  routes.get("/healthz", (_req, res) => {
    res.type("text/plain; charset=utf-8").send("ok");
  });
  routes.get("/readyz", (_req, res) => {
    if (lifecycle.shuttingDown) sendProblem(res, 503, "shutting down");
    else res.type("text/plain; charset=utf-8").send("ready");
  });
}

/** What the probe listener answers for a method and a request target: status, type, body, and extra headers. */
export interface ProbeAnswer {
  status: number;
  type: string;
  body: string;
  headers?: Record<string, string>;
}

const TEXT = "text/plain; charset=utf-8";
const problem = (status: number, detail: string): ProbeAnswer => ({
  status,
  type: "application/problem+json",
  body: JSON.stringify({ title: STATUS_CODES[status] ?? "Error", status, detail }),
});

/** The probe listener's answer, pure: /healthz and /readyz (query ignored), GET or HEAD; anything else a problem. */
export function probeAnswer(
  method: string | undefined,
  target: string | undefined,
  shuttingDown: boolean,
): ProbeAnswer {
  const path = (target ?? "").split("?", 1)[0];
  if (path !== "/healthz" && path !== "/readyz")
    return problem(404, "the probe port answers only /healthz and /readyz");
  if (method !== "GET" && method !== "HEAD")
    return {
      ...problem(405, `${JSON.stringify(method)} is not allowed on ${path}: use GET, HEAD`),
      headers: { allow: "GET, HEAD" },
    };
  if (path === "/healthz") return { status: 200, type: TEXT, body: "ok" };
  return shuttingDown ? problem(503, "shutting down") : { status: 200, type: TEXT, body: "ready" };
}

/** The probe listener's request handler. */
export function probeHandler(lifecycle: Lifecycle): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const answer = probeAnswer(req.method, req.url, lifecycle.shuttingDown);
    res.writeHead(answer.status, {
      "content-type": answer.type,
      "content-length": Buffer.byteLength(answer.body),
      ...answer.headers,
    });
    res.end(req.method === "HEAD" ? undefined : answer.body);
  };
}
