// /status/:code and /delay/:seconds: controllable failures and slowness for
// the retry, outlier-detection, fault and timeout lessons.
import type { ServerResponse } from "node:http";
import { STATUS_CODES } from "../node-http.ts";
import type { Config } from "../config.ts";
import type { Routes } from "./routes.ts";
import { isRejected, parseDelay, parseStatusSpec, pickStatus } from "../input.ts";
import { Problem } from "../problem.ts";

/** Statuses that must not carry a body. */
const BODILESS = new Set([204, 205, 304]);

/** Resolves true after ms, or false as soon as the client goes away (the timer is cleared). */
function waitUnlessClosed(res: ServerResponse, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const onClose = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      res.off("close", onClose);
      resolve(true);
    }, ms);
    res.once("close", onClose);
  });
}

export function statusRoutes(routes: Routes, config: Config, random: () => number): void {
  routes.any("/status/:code", (req, res) => {
    const parsed = parseStatusSpec(req.params.code as string);
    if (isRejected(parsed)) throw new Problem(parsed.status, parsed.detail);
    const status = pickStatus(parsed.value, random());
    res.status(status);
    if (BODILESS.has(status)) res.end();
    else res.type("text/plain; charset=utf-8").send(`${status} ${STATUS_CODES[status] ?? ""}`.trimEnd());
  });

  routes.get("/delay/:seconds", async (req, res) => {
    const parsed = parseDelay(req.params.seconds as string, config.maxDelayMs);
    if (isRejected(parsed)) throw new Problem(parsed.status, parsed.detail);
    if (await waitUnlessClosed(res, parsed.value)) res.json({ delay: parsed.value / 1000 });
  });
}
