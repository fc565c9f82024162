// Who answered (/) and what arrived (/headers, /headers/:name): the views a
// learner uses to see routing decisions and what the sidecar added to a request.
import { hostname } from "node:os";
import type { Config } from "../config.ts";
import type { Routes } from "./routes.ts";
import { quote } from "../input.ts";
import { Problem } from "../problem.ts";

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
  // One header's value as it arrived (several joined with ", "), like /env/:name: what a check compares.
  routes.get("/headers/:name", (req, res) => {
    const name = (req.params.name as string).toLowerCase();
    const value = Object.hasOwn(req.headers, name) ? req.headers[name] : undefined;
    if (value === undefined) throw new Problem(404, `request header ${quote(name)} did not arrive`);
    res.type("text/plain; charset=utf-8").send(Array.isArray(value) ? value.join(", ") : value);
  });
}
