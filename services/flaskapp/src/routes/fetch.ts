// /fetch, /fetch_with_trace and /fetch_with_header: the app calls another URL
// server-side (the original's second endpoint), copying the tracing headers so
// the mesh trace continues through it. Every limit is explicit: one deadline
// for the response headers across all redirects, an idle bound on the body,
// a byte cap, a redirect cap and the FETCH_ALLOW host list checked at each hop.
import type { IncomingHttpHeaders } from "node:http";
import type { Request, Response } from "express";
import type { Agent, Dispatcher } from "undici";
import type { Logger } from "pino";
import type { Config } from "../config.ts";
import type { Routes } from "../app.ts";
import { isRejected, parseContentLength, parseFetchUrl, parseRedirect } from "../input.ts";
import { Problem } from "../problem.ts";
import { tracingHeadersOf } from "../tracing.ts";

export const MAX_REDIRECTS = 5;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
/** The body the app reflects is someone else's: browsers must neither sniff it nor run its scripts. */
const REFLECTED_BODY_HEADERS = {
  "x-content-type-options": "nosniff",
  "content-security-policy": "default-src 'none'; sandbox",
};

const TIMED_OUT = Symbol("fetch timed out");
const CLIENT_GONE = Symbol("client went away");

interface Upstream {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: Dispatcher.ResponseData["body"];
}

/** Drops a response body we will not read; undici reports that as an error nobody needs to hear. */
function discard(body: Upstream["body"]): void {
  body.on("error", () => undefined);
  body.destroy();
}

const CONNECT_FAILURES: Record<string, string> = {
  ENOTFOUND: "cannot resolve the upstream host",
  EAI_AGAIN: "cannot resolve the upstream host",
  ECONNREFUSED: "upstream refused the connection",
  ECONNRESET: "upstream reset the connection",
  EHOSTUNREACH: "upstream host unreachable",
  ENETUNREACH: "upstream network unreachable",
};

/** Maps a failed upstream call to the problem the client gets. */
export function upstreamProblem(error: unknown, timedOut: boolean, timeoutMs: number): Problem {
  if (error instanceof Problem) return error;
  const code = (error as { code?: unknown } | null)?.code;
  if (timedOut || code === "UND_ERR_CONNECT_TIMEOUT" || code === "UND_ERR_HEADERS_TIMEOUT") {
    return new Problem(504, `no response headers from upstream within FETCH_TIMEOUT (${timeoutMs} ms)`);
  }
  if (typeof code === "string") return new Problem(502, `${CONNECT_FAILURES[code] ?? "upstream request failed"} (${code})`);
  return new Problem(502, "upstream request failed");
}

const overCap = (maxBytes: number): string => `upstream body is over FETCH_MAX_BYTES (${maxBytes} bytes)`;

type Relayed = "done" | "over-cap" | "failed";

/**
 * Streams the upstream body into the response, pausing it while the client is
 * slow, and cuts the connection after maxBytes: the client then sees a truncated
 * body, never a complete-looking one. Plain listeners rather than
 * stream.pipeline, which builds an AbortController and stack-traced errors for
 * every request it finishes (bench/RESULTS.md, "changes").
 */
function relay(body: Upstream["body"], res: Response, maxBytes: number): Promise<Relayed> {
  return new Promise((resolve) => {
    let seen = 0;
    const settle = (outcome: Relayed): void => {
      body.off("data", onData).off("end", onEnd).off("error", onError);
      res.off("drain", onDrain).off("close", onClose);
      resolve(outcome);
    };
    const onData = (chunk: Buffer): void => {
      const allowed = maxBytes - seen;
      seen += chunk.length;
      if (seen <= maxBytes) {
        if (!res.write(chunk)) body.pause();
        return;
      }
      if (allowed > 0) res.write(chunk.subarray(0, allowed));
      res.destroy();
      settle("over-cap");
    };
    const onDrain = (): void => void body.resume();
    const onEnd = (): void => {
      res.end();
      settle("done");
    };
    const onError = (): void => {
      res.destroy();
      settle("failed");
    };
    const onClose = (): void => settle("failed");
    body.on("data", onData).once("end", onEnd).once("error", onError);
    res.on("drain", onDrain).once("close", onClose);
  });
}

export function fetchRoutes(routes: Routes, config: Config, logger: Logger): void {
  // undici is loaded on the first fetch, not at start: it is a sixth of the
  // bundle's start-up work, and most pods never fetch (bench/RESULTS.md, "changes").
  let client: Promise<{ agent: Agent; request: typeof import("undici").request }> | undefined;
  const loadClient = (): NonNullable<typeof client> =>
    (client ??= import("undici").then(({ Agent, request }) => ({ agent: new Agent({ bodyTimeout: config.fetchTimeoutMs }), request })));

  /** Requests the URL and follows redirects (each hop re-checked) until a final response; the caller's signal carries the deadline. */
  async function open(target: URL, req: Request, signal: AbortSignal): Promise<Upstream> {
    const headers = tracingHeadersOf(req.headers);
    const method = req.method === "HEAD" ? "HEAD" : "GET";
    const { agent, request } = await loadClient();
    let url = target;
    for (let redirects = 0; ; redirects++) {
      const response = await request(url, { dispatcher: agent, method, headers, signal });
      const location = response.headers.location;
      if (!REDIRECT_STATUSES.has(response.statusCode) || typeof location !== "string") return response;
      discard(response.body);
      if (redirects === MAX_REDIRECTS) throw new Problem(502, `upstream redirected more than ${MAX_REDIRECTS} times`);
      const next = parseRedirect(location, url, config.fetchAllow);
      if (isRejected(next)) throw new Problem(next.status, next.detail);
      url = next.value;
    }
  }

  /** Validates the url, opens the upstream response and hands it to `use`; answers nothing if the client has left. */
  async function fetchFor(req: Request, res: Response, use: (upstream: Upstream) => Promise<void>): Promise<void> {
    const target = parseFetchUrl(req.query.url, config.fetchAllow);
    if (isRejected(target)) throw new Problem(target.status, target.detail);
    const controller = new AbortController();
    const onClose = (): void => controller.abort(CLIENT_GONE);
    res.once("close", onClose);
    const deadline = setTimeout(() => controller.abort(TIMED_OUT), config.fetchTimeoutMs);
    let upstream: Upstream;
    try {
      upstream = await open(target.value, req, controller.signal);
    } catch (error) {
      if (controller.signal.reason === CLIENT_GONE) return;
      throw upstreamProblem(error, controller.signal.reason === TIMED_OUT, config.fetchTimeoutMs);
    } finally {
      clearTimeout(deadline);
    }
    try {
      const length = parseContentLength(upstream.headers["content-length"]);
      if (length !== undefined && length > config.fetchMaxBytes) {
        throw new Problem(502, `upstream body is ${length} bytes, over FETCH_MAX_BYTES (${config.fetchMaxBytes} bytes)`);
      }
      res.set(REFLECTED_BODY_HEADERS);
      await use(upstream);
    } finally {
      discard(upstream.body);
      res.off("close", onClose);
    }
  }

  async function streamBody(req: Request, res: Response): Promise<void> {
    await fetchFor(req, res, async (upstream) => {
      res.status(upstream.statusCode);
      const type = upstream.headers["content-type"];
      if (typeof type === "string") res.setHeader("content-type", type);
      const length = upstream.headers["content-length"];
      if (typeof length === "string") res.setHeader("content-length", length);
      if ((await relay(upstream.body, res, config.fetchMaxBytes)) === "over-cap") logger.warn({ url: req.query.url }, overCap(config.fetchMaxBytes));
    });
  }

  routes.get("/fetch", streamBody);
  routes.get("/fetch_with_trace", streamBody);

  routes.get("/fetch_with_header", async (req, res) => {
    await fetchFor(req, res, async (upstream) => {
      const chunks: Buffer[] = [];
      let seen = 0;
      try {
        for await (const chunk of upstream.body as AsyncIterable<Buffer>) {
          seen += chunk.length;
          if (seen > config.fetchMaxBytes) throw new Problem(502, overCap(config.fetchMaxBytes));
          chunks.push(chunk);
        }
      } catch (error) {
        throw upstreamProblem(error, false, config.fetchTimeoutMs);
      }
      res.json({ headers: req.headers, status: upstream.statusCode, body: Buffer.concat(chunks).toString("utf8") });
    });
  });
}
