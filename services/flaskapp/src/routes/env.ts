// /env/:name: the value of one environment variable, exactly, as the original
// (so `http --body http://flaskapp/env/version` prints `v2`).
import type { Config } from "../config.ts";
import type { Routes } from "../app.ts";
import { ownValue, quote } from "../input.ts";
import { Problem } from "../problem.ts";

export function envRoutes(routes: Routes, config: Config, env: Readonly<Record<string, string | undefined>>): void {
  routes.get("/env/:name", (req, res) => {
    const name = req.params.name as string;
    const value = config.envAllow === null || config.envAllow.has(name) ? ownValue(env, name) : undefined;
    // One answer for unset and not allowed, so the response does not reveal which variables exist.
    if (value === undefined) throw new Problem(404, `environment variable ${quote(name)} is not set or not exposed (ENV_ALLOW)`);
    res.type("text/plain; charset=utf-8").send(value);
  });
}
