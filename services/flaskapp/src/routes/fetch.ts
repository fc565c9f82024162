// /fetch, /fetch_with_trace and /fetch_with_header: the app calls another URL
// server-side (the original's second endpoint), copying the tracing headers so
// the mesh trace continues through it. Every limit is explicit: one deadline
// for the response headers across all redirects, an idle bound on the body, an
// overall deadline for the whole fetch (its slot is free by then), a byte cap, a redirect cap, the FETCH_ALLOW host list checked at each hop,
// a cap on fetches in flight and a loop guard across flaskapp pods. Bodies are
// streamed, never held whole, so memory per fetch is bounded by the stream
// buffers whatever the upstream sends. The upstream call is undici's dispatch
// with a handler (class Relay) rather than request() and its body stream: each
// chunk goes straight from undici's parser to the response (bench/RESULTS.md, "changes").
import type { IncomingHttpHeaders } from "node:http";
import type { Request, Response } from "express";
import type { Dispatcher } from "undici";
import type { Logger } from "pino";
import type { Config } from "../config.ts";
import type { Routes } from "./routes.ts";
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
  quote,
} from "../input.ts";
import { markCut } from "../observe.ts";
import { Problem } from "../problem.ts";
import { tracingHeadersOf } from "../tracing.ts";

export const MAX_REDIRECTS = 5;
/**
 * Upstream body bytes a relay passes on before it lets the event loop turn.
 * undici parses whatever its socket holds in one go, and a client that reads as
 * fast as flaskapp writes never pushes back, so without this a large body kept
 * the loop to itself: /healthz went unanswered for over a second under the
 * pod's CPU limit, three probes in a row, and the kubelet would restart the pod.
 */
export const RELAY_TURN_BYTES = 64 * 1024;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
/** The body the app reflects is someone else's: browsers must neither sniff it nor run its scripts. */
const REFLECTED_BODY_HEADERS = {
  "x-content-type-options": "nosniff",
  "content-security-policy": "default-src 'none'; sandbox",
};

/** Why flaskapp stopped an upstream call (undici hands the reason back to the handler, which ignores its own). */
const TIMED_OUT = new Error("no response headers within FETCH_TIMEOUT");
const PAST_DEADLINE = new Error("the fetch ran past FETCH_DEADLINE");
const CLIENT_GONE = new Error("the client went away");
const NOT_RELAYED = new Error("flaskapp answered without relaying this response");

/** What the encoders see of the upstream's final response. */
interface Upstream {
  statusCode: number;
  headers: IncomingHttpHeaders;
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
  if (code === "UND_ERR_BODY_TIMEOUT")
    return new Problem(504, `upstream went silent for FETCH_TIMEOUT (${timeoutMs} ms) after its response headers`);
  if (typeof code === "string")
    return new Problem(502, `${UPSTREAM_FAILURES[code] ?? "upstream request failed"} (${code})`);
  // undici's HTTP parser errors carry no code: a status line or header that is not HTTP/1.1.
  if ((error as { name?: unknown } | null)?.name === "HTTPParserError")
    return new Problem(502, "upstream sent a malformed response");
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

type Outcome =
  | { outcome: "done" }
  | { outcome: "client-gone" }
  | { outcome: "failed"; error: unknown }
  | { outcome: "problem"; problem: Problem };

/** The one method of undici's dispatchers that /fetch calls (the dispatcher modules it loads have no request()). */
type Dispatch = Pick<Dispatcher, "dispatch">;

/** What a Relay needs from its route: the upstream request, the limits, and the encoder for the final response. */
interface RelayOptions {
  dispatcher: Dispatch;
  method: "GET" | "HEAD";
  headers: Record<string, string>;
  allow: ReadonlySet<string> | null;
  timeoutMs: number;
  deadlineMs: number;
  maxBytes: number;
  /** The route's encoder for this response, or the problem that answers it instead. */
  encoderFor(upstream: Upstream): Encoder | Problem;
}

/**
 * One fetch, as an undici dispatch handler: requests the URL, follows redirects
 * (each hop re-checked against FETCH_ALLOW), and relays the final response's
 * body into `res` through the route's encoder, pausing the upstream while the
 * client is slow, and for a turn of the event loop after every RELAY_TURN_BYTES
 * so that other requests are served meanwhile. One deadline covers the response
 * headers across all hops; undici's bodyTimeout bounds each silence in the body;
 * the overall deadline (FETCH_DEADLINE) ends the relay wherever it is, so a
 * trickling upstream or a client that never reads holds its slot no longer.
 * Nothing is sent before the first chunk (or the end), so a failure before then
 * can still be answered with a problem. After maxBytes, or when the client goes
 * away, the upstream call is abandoned. `done` is called once, with how it ended.
 */
class Relay implements Dispatcher.DispatchHandler {
  readonly #res: Response;
  readonly #options: RelayOptions;
  readonly #done: (outcome: Outcome) => void;
  #url: URL;
  #redirects = 0;
  /** The current hop's controller: a callback from an abandoned hop (another controller) is ignored. */
  #controller: Dispatcher.DispatchController | undefined;
  #encoder: Encoder | undefined;
  #started = false;
  #seen = 0;
  #settled = false;
  readonly #deadline: NodeJS.Timeout;
  readonly #overall: NodeJS.Timeout;
  readonly #onClose = (): void => this.#stop({ outcome: "client-gone" }, CLIENT_GONE);
  /** Body bytes relayed since this relay last let the event loop turn (RELAY_TURN_BYTES). */
  #sinceTurn = 0;
  readonly #onDrain = (): void => {
    if (this.#sinceTurn < RELAY_TURN_BYTES) this.#controller?.resume();
    else setImmediate(this.#resumeNextTurn);
  };
  /** Resumes the upstream once the event loop has served what else was waiting. */
  readonly #resumeNextTurn = (): void => {
    this.#sinceTurn = 0;
    this.#controller?.resume();
  };

  constructor(res: Response, url: URL, options: RelayOptions, done: (outcome: Outcome) => void) {
    this.#res = res;
    this.#url = url;
    this.#options = options;
    this.#done = done;
    this.#deadline = setTimeout(
      () => this.#stop({ outcome: "failed", error: TIMED_OUT }, TIMED_OUT),
      options.timeoutMs,
    );
    this.#overall = setTimeout(() => {
      const problem = new Problem(
        504,
        `upstream response not complete within FETCH_DEADLINE (${options.deadlineMs} ms)`,
      );
      this.#stop({ outcome: "problem", problem }, PAST_DEADLINE);
    }, options.deadlineMs);
    res.once("close", this.#onClose).on("drain", this.#onDrain);
    this.#dispatch();
  }

  #dispatch(): void {
    const { dispatcher, method, headers, timeoutMs } = this.#options;
    const url = this.#url;
    try {
      dispatcher.dispatch(
        { origin: url.origin, path: url.pathname + url.search, method, headers, bodyTimeout: timeoutMs },
        this,
      );
    } catch (error) {
      this.#settle({ outcome: "failed", error });
    }
  }

  /** Ends the relay and abandons the upstream call, if one is running. */
  #stop(outcome: Outcome, reason: Error): void {
    const controller = this.#controller;
    this.#settle(outcome);
    if (controller !== undefined && !controller.aborted) controller.abort(reason);
  }

  #settle(outcome: Outcome): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#controller = undefined;
    clearTimeout(this.#deadline);
    clearTimeout(this.#overall);
    this.#res.off("close", this.#onClose).off("drain", this.#onDrain);
    this.#done(outcome);
  }

  #begin(encoder: Encoder): void {
    if (this.#started) return;
    this.#started = true;
    encoder.start(this.#res);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    if (this.#settled) controller.abort(CLIENT_GONE);
    else this.#controller = controller;
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    // An informational answer (103 Early Hints): the final one follows.
    if (controller !== this.#controller || statusCode < 200) return;
    const location = headers.location;
    if (REDIRECT_STATUSES.has(statusCode) && location !== undefined) {
      this.#controller = undefined;
      controller.abort(NOT_RELAYED);
      if (this.#redirects === MAX_REDIRECTS)
        return this.#settle({
          outcome: "problem",
          problem: new Problem(502, `upstream redirected more than ${MAX_REDIRECTS} times`),
        });
      const next = parseRedirect(location, this.#url, this.#options.allow);
      if (isRejected(next)) return this.#settle({ outcome: "problem", problem: new Problem(next.status, next.detail) });
      this.#url = next.value;
      this.#redirects++;
      return this.#dispatch();
    }
    clearTimeout(this.#deadline);
    const status = checkUpstreamStatus(statusCode);
    if (status !== undefined)
      return this.#stop({ outcome: "problem", problem: new Problem(status.status, status.detail) }, NOT_RELAYED);
    const length = parseContentLength(headers["content-length"]);
    if (length !== undefined && length > this.#options.maxBytes) {
      const detail = `upstream body is ${headers["content-length"]} bytes, over FETCH_MAX_BYTES (${this.#options.maxBytes} bytes)`;
      return this.#stop({ outcome: "problem", problem: new Problem(502, detail) }, NOT_RELAYED);
    }
    const encoder = this.#options.encoderFor({ statusCode, headers });
    if (encoder instanceof Problem) return this.#stop({ outcome: "problem", problem: encoder }, NOT_RELAYED);
    this.#res.set(REFLECTED_BODY_HEADERS);
    this.#encoder = encoder;
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    const encoder = this.#encoder;
    if (controller !== this.#controller || encoder === undefined) return;
    this.#seen += chunk.length;
    if (this.#seen > this.#options.maxBytes)
      return this.#stop(
        { outcome: "problem", problem: new Problem(502, overCap(this.#options.maxBytes)) },
        NOT_RELAYED,
      );
    this.#begin(encoder);
    this.#sinceTurn += chunk.length;
    const flowing = this.#res.write(encoder.chunk(chunk));
    if (flowing && this.#sinceTurn < RELAY_TURN_BYTES) return;
    controller.pause();
    // A full response buffer resumes on 'drain'; otherwise, on the next turn.
    if (flowing) setImmediate(this.#resumeNextTurn);
  }

  onResponseEnd(controller: Dispatcher.DispatchController): void {
    const encoder = this.#encoder;
    if (controller !== this.#controller || encoder === undefined) return;
    this.#begin(encoder);
    this.#res.end(encoder.end());
    this.#settle({ outcome: "done" });
  }

  onResponseError(controller: Dispatcher.DispatchController, error: Error): void {
    if (controller === this.#controller) this.#settle({ outcome: "failed", error });
  }
}

/** The headers that say what the relayed bytes are: passed on as the upstream sent them, or the client misreads the body (gzip bytes as text). */
const BODY_HEADERS = ["content-type", "content-length", "content-encoding"] as const;

/** The upstream's status, type, encoding and body, as they are. */
function passThrough(upstream: Upstream): Encoder {
  return {
    start(res) {
      res.status(upstream.statusCode);
      for (const name of BODY_HEADERS) {
        const value = upstream.headers[name];
        if (typeof value === "string") res.setHeader(name, value);
      }
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
function headersAndBody(req: Request, upstream: Upstream): Encoder | Problem {
  const encoding = contentEncodingProblem(upstream.headers["content-encoding"]);
  if (encoding !== undefined) return encoding;
  const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
  const jsonEscape = (text: string): string => JSON.stringify(text).slice(1, -1);
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
    chunk: (data) => withPrefix(jsonEscape(decoder.decode(data, { stream: true }))),
    end: () => `${withPrefix(jsonEscape(decoder.decode()))}"}`,
  };
}

/**
 * flaskapp asks every upstream for `Accept-Encoding: identity`; an upstream that
 * encodes its body anyway cannot be shown as text by /fetch_with_header (it is
 * 502; /fetch relays it as it is, with its Content-Encoding).
 */
export function contentEncodingProblem(encoding: string | string[] | undefined): Problem | undefined {
  if (encoding === undefined) return undefined;
  const codings = (typeof encoding === "string" ? encoding : encoding.join(","))
    .split(",")
    .map((c) => c.trim().toLowerCase());
  if (codings.every((c) => c === "" || c === "identity")) return undefined;
  return new Problem(
    502,
    `upstream sent a body with Content-Encoding ${quote(codings.join(", "), 40)} though asked for identity; /fetch relays it as it is`,
  );
}

export function fetchRoutes(routes: Routes, config: Config, logger: Logger): void {
  // undici's dispatcher is loaded on the first fetch, not at start: it is a sixth
  // of the bundle's start-up work, and most pods never fetch. Only the one
  // dispatcher: undici's index also loads fetch, WebSocket, its caches and mocks,
  // and with them node:tls, crypto, http2, zlib and web streams (bench/RESULTS.md, "changes").
  // With FETCH_PROXY every request goes to the proxy; plain http:// targets in
  // absolute form (`GET http://host/path`), never through a CONNECT tunnel.
  let dispatcher: Dispatch | undefined;
  const loadDispatcher = async (): Promise<Dispatch> => {
    if (config.fetchProxy === null) {
      const { default: Agent } = await import("undici/lib/dispatcher/agent.js");
      return (dispatcher ??= new Agent());
    }
    const { default: ProxyAgent } = await import("undici/lib/dispatcher/proxy-agent.js");
    return (dispatcher ??= new ProxyAgent({ uri: config.fetchProxy, proxyTunnel: false }));
  };
  const ownHop = hopEntry(config.version, config.podName);
  let inFlight = 0;

  /**
   * Checks the request (loop guard, url, capacity), then relays the upstream's
   * answer through the route's encoder. A failure before the first byte is a
   * problem response; after it, the connection is cut and the request log says
   * why. Answers nothing if the client has left.
   */
  async function fetchFor(
    req: Request,
    res: Response,
    encoderFor: (upstream: Upstream) => Encoder | Problem,
  ): Promise<void> {
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
    let outcome: Outcome;
    try {
      const headers = tracingHeadersOf(req.headers);
      headers[HOPS_HEADER] = hops === 0 ? ownHop : `${req.headers[HOPS_HEADER]}, ${ownHop}`;
      headers["accept-encoding"] = "identity";
      const options: RelayOptions = {
        dispatcher: dispatcher ?? (await loadDispatcher()),
        method: req.method === "HEAD" ? "HEAD" : "GET",
        headers,
        allow: config.fetchAllow,
        timeoutMs: config.fetchTimeoutMs,
        deadlineMs: config.fetchDeadlineMs,
        maxBytes: config.fetchMaxBytes,
        encoderFor,
      };
      outcome = await new Promise<Outcome>((resolve) => new Relay(res, target.value, options, resolve));
    } finally {
      inFlight--;
    }
    if (outcome.outcome === "done" || outcome.outcome === "client-gone") return;
    const problem =
      outcome.outcome === "problem"
        ? outcome.problem
        : upstreamProblem(outcome.error, outcome.error === TIMED_OUT, config.fetchTimeoutMs);
    if (!res.headersSent) throw problem;
    // Part of the body is out: the only honest end is a cut connection, so the
    // client sees a truncated response, never a complete-looking one.
    markCut(res, problem.message);
    logger.warn({ url: req.query.url, reason: problem.message }, "upstream body cut; connection closed");
    res.destroy();
  }

  const streamBody = (req: Request, res: Response): Promise<void> => fetchFor(req, res, passThrough);
  routes.get("/fetch", streamBody);
  routes.get("/fetch_with_trace", streamBody);
  routes.get("/fetch_with_header", (req, res) => fetchFor(req, res, (upstream) => headersAndBody(req, upstream)));
}
