// /metrics: Prometheus text from the app's own registry (request metrics from
// observe.ts plus Node's process metrics).
import type { Registry } from "prom-client";
import type { Routes } from "../app.ts";

export function metricsRoutes(routes: Routes, registry: Registry): void {
  routes.get("/metrics", async (_req, res) => {
    res.type(registry.contentType).send(await registry.metrics());
  });
}
