// /metrics: Prometheus text from the app's own registry (request metrics from
// observe.ts plus Node's process metrics).
import type { Registry } from "prom-client";
import type { Routes } from "./routes.ts";

/** `beforeScrape` runs before each scrape (app.ts starts the process metrics with it, if the first response has not). */
export function metricsRoutes(routes: Routes, registry: Registry, beforeScrape: () => void): void {
  routes.get("/metrics", async (_req, res) => {
    beforeScrape();
    res.type(registry.contentType).send(await registry.metrics());
  });
}
