// /fetch, /fetch_with_trace and /fetch_with_header: the app calls another URL
// server-side (the original's second endpoint), copying the tracing headers so
// the mesh trace continues through it. Every limit is explicit: one deadline
// for the response headers across all redirects, an idle bound on the body,
// a byte cap, a redirect cap, the FETCH_ALLOW host list checked at each hop,
// a cap on fetches in flight and a loop guard across flaskapp pods. Bodies are
// streamed, never held whole, so memory per fetch is bounded by the stream
// buffers whatever the upstream sends.
import type { IncomingHttpHeaders } from "node:http";
import type { Request, Response } from "express";
import type { Dispatcher } from "undici";
import type { Logger } from "pino";
import type { Config } from "../config.ts";
import type { Routes } from "../app.ts";
import {
  HOPS_HEADER,
  checkHops,
  checkUpstreamStatus,
  countHops,
  hopEntry,
  isRejected,
  parseContentLength,
  parseFetchUrl,
  parseRedirect,
} from "../input.ts";
import { markCut } from "../observe.ts";
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

const UPSTREAM_FAILURES: Record<string, string> = {
  ENOTFOUND: "cannot resolve the upstream host",
  EAI_AGAIN: "cannot resolve the upstream host",
  ECONNREFUSED: "upstream refused the connection",
  ECONNRESET: "upstream reset the connection",
  EHOSTUNREACH: "upstream host unreachable",
  ENETUNREACH: "upstream network unreachable",
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH: "upstream body does not match its Content-Length",
  // undici asserts a status of at least 100 (an upstream answering `HTTP/1.1 099`).
  ERR_ASSERTION: "upstream sent a malformed response",
};

const codeOf = (error: unknown): unknown => (error as { code?: unknown } | null)?.code;

/** Maps a failed upstream call to the problem the client gets. */
export function upstreamProblem(error: unknown, timedOut: boolean, timeoutMs: number): Problem {
  if (error instanceof Problem) return error;
  const code = codeOf(error);
  if (timedOut || code === "UND_ERR_CONNECT_TIMEOUT" || code === "UND_ERR_HEADERS_TIMEOUT") {
    return new Problem(504, `no response headers from upstream within FETCH_TIMEOUT (${timeoutMs} ms)`);
  }
  if (code === "UND_ERR_BODY_TIMEOUT") return new Problem(504, `upstream went silent for FETCH_TIMEOUT (${timeoutMs} ms) after its response headers`);
  if (typeof code === "string") return new Problem(502, `${UPSTREAM_FAILURES[code] ?? "upstream request failed"} (${code})`);
  // undici's HTTP parser errors carry no code: a status line or header that is not HTTP/1.1.
  if ((error as { name?: unknown } | null)?.name === "HTTPParserError") return new Problem(502, "upstream sent a malformed response");
  return new Problem(502, "upstream request failed");
}

const overCap = (maxBytes: number): string => `upstream body is over FETCH_MAX_BYTES (${maxBytes} bytes)`;

/** How a route turns the upstream body into its own response. */
interface Encoder {
  /** Sets the response's status and headers; called once, just before the first byte is written. */
  start(res: Response): void;
  /** The bytes to send for one chunk of upstream body (the first call gets the first chunk, or nothing for an empty body). */
  chunk(data: Buffer): string | Buffer;
  /** The bytes that end the response. */
  end(): string | Buffer;
}

type Relayed = { outcome: "done" } | { outcome: "client-gone" } | { outcome: "failed"; error: unknown } | { outcome: "over-cap" };

/**
 * Streams the upstream body into the response through `encoder`, pausing it
 * while the client is slow. Nothing is sent before the first chunk (or the
 * end), so a failure before then can still be answered with a problem. After
 * maxBytes the upstream is abandoned. Plain listeners rather than
 * stream.pipeline, which builds an AbortController and stack-traced errors for
 * every request it finishes (bench/RESULTS.md, "changes").
 */
function relay(body: Upstream["body"], res: Response, maxBytes: number, encoder: Encoder): Promise<Relayed> {
  return new Promise((resolve) => {
    let seen = 0;
    let started = false;
    const begin = (): void => {
      if (started) return;
      started = true;
      encoder.start(res);
    };
    const settle = (result: Relayed): void => {
      body.off("data", onData).off("end", onEnd).off("error", onError);
      res.off("drain", onDrain).off("close", onClose);
      resolve(result);
    };
    const onData = (chunk: Buffer): void => {
      seen += chunk.length;
      if (seen > maxBytes) return settle({ outcome: "over-cap" });
      begin();
      if (!res.write(encoder.chunk(chunk))) body.pause();
    };
    const onDrain = (): void => void body.resume();
    const onEnd = (): void => {
      begin();
      res.end(encoder.end());
      settle({ outcome: "done" });
    };
    const onError = (error: unknown): void => settle({ outcome: "failed", error });
    const onClose = (): void => settle({ outcome: "client-gone" });
    body.on("data", onData).once("end", onEnd).once("error", onError);
    res.on("drain", onDrain).once("close", onClose);
  });
}

/** The upstream's status, type and body, as they are. */
function passThrough(upstream: Upstream): Encoder {
  return {
    start(res) {
      res.status(upstream.statusCode);
      const type = upstream.headers["content-type"];
      if (typeof type === "string") res.setHeader("content-type", type);
      const length = upstream.headers["content-length"];
      if (typeof length === "string") res.setHeader("content-length", length);
    },
    chunk: (data) => data,
    end: () => "",
  };
}

/**
 * `{"headers": ..., "status": ..., "body": "..."}` with the body decoded as
 * UTF-8 and JSON-escaped as it flows: an escaped body can be six times its
 * size (a NUL becomes \u0000), so it is never assembled whole.
 */
function headersAndBody(req: Request, upstream: Upstream): Encoder {
  const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
  const escape = (text: string): string => JSON.stringify(text).slice(1, -1);
  let prefix = `{"headers":${JSON.stringify(req.headers)},"status":${upstream.statusCode},"body":"`;
  const withPrefix = (text: string): string => {
    const out = prefix + text;
    prefix = "";
    return out;
  };
  return {
    start(res) {
      res.status(200).type("application/json");
    },
    chunk: (data) => withPrefix(escape(decoder.decode(data, { stream: true }))),
    end: () => `${withPrefix(escape(decoder.decode()))}"}`,
  };
}

export function fetchRoutes(routes: Routes, config: Config, logger: Logger): void {
  // undici is loaded on the first fetch, not at start: it is a sixth of the
  // bundle's start-up work, and most pods never fetch (bench/RESULTS.md, "changes").
  // With FETCH_PROXY every request goes to the proxy; plain http:// targets in
  // absolute form (`GET http://host/path`), never through a CONNECT tunnel.
  let client: Promise<{ dispatcher: Dispatcher; request: typeof import("undici").request }> | undefined;
  const loadClient = (): NonNullable<typeof client> =>
    (client ??= import("undici").then(({ Agent, ProxyAgent, request }) => ({
      dispatcher: config.fetchProxy === null ? new Agent() : new ProxyAgent({ uri: config.fetchProxy, proxyTunnel: false }),
      request,
    })));
  const ownHop = hopEntry(config.version, config.podName);
  let inFlight = 0;

  /** Requests the URL and follows redirects (each hop re-checked) until a final response; the caller's signal carries the deadline. */
  async function open(target: URL, req: Request, hops: number, signal: AbortSignal): Promise<Upstream> {
    const headers = tracingHeadersOf(req.headers);
    headers[HOPS_HEADER] = hops === 0 ? ownHop : `${req.headers[HOPS_HEADER]}, ${ownHop}`;
    const method = req.method === "HEAD" ? "HEAD" : "GET";
    const { dispatcher, request } = await loadClient();
    let url = target;
    for (let redirects = 0; ; redirects++) {
      const response = await request(url, { dispatcher, method, headers, signal, bodyTimeout: config.fetchTimeoutMs });
      const location = response.headers.location;
      if (!REDIRECT_STATUSES.has(response.statusCode) || location === undefined) return response;
      discard(response.body);
      if (redirects === MAX_REDIRECTS) throw new Problem(502, `upstream redirected more than ${MAX_REDIRECTS} times`);
      const next = parseRedirect(location, url, config.fetchAllow);
      if (isRejected(next)) throw new Problem(next.status, next.detail);
      url = next.value;
    }
  }

  /**
   * Checks the request (loop guard, url, capacity), opens the upstream
   * response and relays its body through the route's encoder. A failure before
   * the first byte is a problem response; after it, the connection is cut and
   * the request log says why. Answers nothing if the client has left.
   */
  async function fetchFor(req: Request, res: Response, encoderFor: (upstream: Upstream) => Encoder): Promise<void> {
    const hops = countHops(req.headers[HOPS_HEADER]);
    const loop = checkHops(hops, config.fetchMaxHops);
    if (loop !== undefined) throw new Problem(loop.status, loop.detail);
    const target = parseFetchUrl(req.query.url, config.fetchAllow);
    if (isRejected(target)) throw new Problem(target.status, target.detail);
    if (inFlight >= config.fetchConcurrency) {
      res.setHeader("retry-after", "1");
      throw new Problem(503, `${config.fetchConcurrency} fetches are already in flight (FETCH_CONCURRENCY); try again`);
    }
    inFlight++;
    try {
      await fetchWithin(req, res, target.value, hops, encoderFor);
    } finally {
      inFlight--;
    }
  }

  async function fetchWithin(req: Request, res: Response, target: URL, hops: number, encoderFor: (upstream: Upstream) => Encoder): Promise<void> {
    const controller = new AbortController();
    const onClose = (): void => controller.abort(CLIENT_GONE);
    res.once("close", onClose);
    const deadline = setTimeout(() => controller.abort(TIMED_OUT), config.fetchTimeoutMs);
    let upstream: Upstream;
    try {
      upstream = await open(target, req, hops, controller.signal);
    } catch (error) {
      res.off("close", onClose);
      if (controller.signal.reason === CLIENT_GONE) return;
      throw upstreamProblem(error, controller.signal.reason === TIMED_OUT, config.fetchTimeoutMs);
    } finally {
      clearTimeout(deadline);
    }
    res.off("close", onClose);
    try {
      const status = checkUpstreamStatus(upstream.statusCode);
      if (status !== undefined) throw new Problem(status.status, status.detail);
      const length = parseContentLength(upstream.headers["content-length"]);
      if (length !== undefined && length > config.fetchMaxBytes) {
        throw new Problem(502, `upstream body is ${upstream.headers["content-length"]} bytes, over FETCH_MAX_BYTES (${config.fetchMaxBytes} bytes)`);
      }
      res.set(REFLECTED_BODY_HEADERS);
      const relayed = await relay(upstream.body, res, config.fetchMaxBytes, encoderFor(upstream));
      if (relayed.outcome === "done" || relayed.outcome === "client-gone") return;
      const problem = relayed.outcome === "over-cap" ? new Problem(502, overCap(config.fetchMaxBytes)) : upstreamProblem(relayed.error, false, config.fetchTimeoutMs);
      if (!res.headersSent) throw problem;
      // Part of the body is out: the only honest end is a cut connection, so the
      // client sees a truncated response, never a complete-looking one.
      markCut(res, problem.message);
      logger.warn({ url: req.query.url, reason: problem.message }, "upstream body cut; connection closed");
      res.destroy();
    } finally {
      discard(upstream.body);
    }
  }

  const streamBody = (req: Request, res: Response): Promise<void> => fetchFor(req, res, passThrough);
  routes.get("/fetch", streamBody);
  routes.get("/fetch_with_trace", streamBody);
  routes.get("/fetch_with_header", (req, res) => fetchFor(req, res, (upstream) => headersAndBody(req, upstream)));
}
