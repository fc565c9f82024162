// Liveness and readiness. Readiness turns 503 the moment shutdown begins, so
// Kubernetes takes the pod out of the Service while it still serves.
import type { Routes } from "../app.ts";
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
