// /env/:name: the value of one environment variable, exactly, as the original
// (so `http --body http://flaskapp/env/version` prints `v2`).
import type { Response } from "express";
import type { Config } from "../config.ts";
import type { Routes } from "./routes.ts";
import { quote } from "../input.ts";
import { Problem } from "../problem.ts";

export function envRoutes(routes: Routes, config: Config, env: Readonly<Record<string, string | undefined>>): void {
  // A copy of the environment taken now, as Python's os.environ does (a lookup
  // in process.env calls into the C++ environment on every request), in a Map
  // of its own variables: `constructor` or `__proto__` are just unset names,
  // and a name from the URL is looked up by its hash, where a property lookup
  // first searched V8's table of interned strings for it.
  const values = new Map(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined));
  routes.get("/env/:name", (req, res) => {
    const name = req.params.name as string;
    const value = config.envAllow === null || config.envAllow.has(name) ? values.get(name) : undefined;
    // One answer for unset and not allowed, so the response does not reveal which variables exist.
    if (value === undefined)
      throw new Problem(404, `environment variable ${quote(name)} is not set or not exposed (ENV_ALLOW)`);
    sendPlainText(res, value);
  });
}

const PLAIN_TEXT = "text/plain; charset=utf-8";

/**
 * What `res.type("text/plain; charset=utf-8").send(text)` sends for this route
 * (no ETag, no Last-Modified, so never a 304; Node leaves the body out for
 * HEAD), written directly: the lessons load this route, and send() parses the
 * content type back, with regular expressions, to find its charset on every
 * request (bench/RESULTS.md, "changes").
 */
function sendPlainText(res: Response, text: string): void {
  res.setHeader("Content-Type", PLAIN_TEXT);
  res.setHeader("Content-Length", Buffer.byteLength(text));
  res.end(text);
}
