// Who answered (/) and what arrived (/headers): the two views a learner uses
// to see routing decisions and what the sidecar added to a request.
import { hostname } from "node:os";
import type { Config } from "../config.ts";
import type { Routes } from "../app.ts";

export function infoRoutes(routes: Routes, config: Config): void {
  const host = hostname();
  const line = `flaskapp ${config.version} (pod ${config.podName})`;
  const json = JSON.stringify({ service: "flaskapp", version: config.version, hostname: host });
  routes.get("/", (req, res) => {
    if (req.accepts(["text/plain", "application/json"]) === "application/json") res.type("application/json").send(json);
    else res.type("text/plain; charset=utf-8").send(line);
  });
  routes.get("/headers", (req, res) => {
    res.json({ headers: req.headers });
  });
}
