// Sends the requests and counts every one of them exactly once, under the key
// of its response or under the error that ended it. One keep-alive connection
// per concurrent worker, so `-c 3` means at most three requests in flight.
import type { IncomingHttpHeaders } from "node:http";
import Pool from "undici/lib/dispatcher/pool.js";
import type { Dispatcher } from "undici";
import { formatDuration } from "#common/duration.ts";
import { LatencyHistogram } from "./latency.ts";
import type { GroupBy, LoadResult, TallyOptions } from "./types.ts";

export type { LoadResult } from "./types.ts";

export const ERROR_KINDS = ["timeout", "refused", "reset", "dns", "protocol", "other"] as const;
export type ErrorKind = (typeof ERROR_KINDS)[number];

export const EMPTY_KEY = "(empty)";
export const MISSING_HEADER_KEY = "(none)";
const KEY_CHARS = 60;
// Enough bytes for 60 characters after trimming; the rest of a body is read and dropped.
const BODY_PREFIX_BYTES = 4096;
const UTF8 = new TextDecoder();

/**
 * Distinct answers counted one by one; any further answer is counted in
 * `untracked` (keys named by --expect and the error rows are always counted),
 * so memory stays bounded whatever the server sends.
 */
export const MAX_TRACKED_KEYS = 1000;

type Outcome = { kind: "response"; key: string; latencyMs: number } | { kind: "error"; key: string; detail: string };

const ERROR_CODES: Record<string, ErrorKind> = {
  ECONNREFUSED: "refused",
  ECONNRESET: "reset",
  EPIPE: "reset",
  UND_ERR_SOCKET: "reset", // "other side closed": the server hung up without an answer
  ENOTFOUND: "dns",
  EAI_AGAIN: "dns",
  EAI_FAIL: "dns",
  EAI_NONAME: "dns",
  ETIMEDOUT: "timeout",
  UND_ERR_CONNECT_TIMEOUT: "timeout",
  UND_ERR_HEADERS_TIMEOUT: "timeout",
  UND_ERR_BODY_TIMEOUT: "timeout",
};

/**
 * Answers that are not HTTP/1.1 as tally can count it, by what undici reports:
 * its parser's errors, its assertions (a status below 100, or 101 Switching
 * Protocols to an ordinary request) and an informational status with nothing
 * after it. The detail says it in words (an assertion's own message is about
 * undici's source, and garbled inside the bundle).
 */
function protocolDetail(name: unknown, code: unknown, message: unknown): string | undefined {
  if (name === "HTTPParserError" && typeof message === "string") return message;
  if (code === "ERR_ASSERTION")
    return "the response is not valid HTTP/1.1: a status below 100, or 101 Switching Protocols to an ordinary request";
  if (code === "UND_ERR_SOCKET" && message === "bad upgrade")
    return "the response is not valid HTTP/1.1: 101 Switching Protocols to an ordinary request";
  if (code === "UND_ERR_SOCKET" && message === "bad response")
    return "the response is not valid HTTP/1.1: an informational (1xx) status where the answer should be";
  return undefined;
}

/** Which error row a failed request belongs to; looks through `cause` chains (undici wraps socket errors). */
export function classifyError(err: unknown): ErrorKind {
  for (
    let e: unknown = err, depth = 0;
    e instanceof Object && depth < 5;
    e = (e as { cause?: unknown }).cause, depth++
  ) {
    const { name, code, message } = e as { name?: unknown; code?: unknown; message?: unknown };
    // The only signal tally aborts with is its per-request timeout.
    if (name === "TimeoutError" || name === "AbortError" || code === "UND_ERR_ABORTED") return "timeout";
    if (protocolDetail(name, code, message) !== undefined) return "protocol";
    const kind = typeof code === "string" ? ERROR_CODES[code] : undefined;
    if (kind) return kind;
  }
  return "other";
}

/** The first error message seen for an error row, as a person can read it. */
export function errorDetail(err: unknown): string {
  const { name, message, code } = (err ?? {}) as { name?: unknown; message?: unknown; code?: unknown };
  const protocol = protocolDetail(name, code, message);
  if (protocol !== undefined) return protocol;
  const text = typeof message === "string" && message !== "" ? message : String(err);
  return typeof code === "string" && !text.includes(code) ? `${code}: ${text}` : text;
}

function cut(text: string): string {
  const chars = Array.from(text);
  return chars.length > KEY_CHARS ? chars.slice(0, KEY_CHARS).join("") : text;
}

/**
 * The key a response body is counted under: whitespace runs made one space, trimmed, 60
 * characters at most. An empty body of a status other than 2xx is keyed by its status
 * (`503 (empty)`): a sidecar's own 503 or 502 has no body, and "(empty)" alone hid which.
 */
export function bodyKey(text: string, status = 200): string {
  const key = cut(text.replace(/\s+/g, " ").trim());
  if (key !== "") return key;
  return status >= 200 && status < 300 ? EMPTY_KEY : `${status} ${EMPTY_KEY}`;
}

/** The key for a response header: its value (several joined with ", "), cut to 60 characters. */
export function headerKey(value: string | string[] | undefined): string {
  if (value === undefined) return MISSING_HEADER_KEY;
  const joined = Array.isArray(value) ? value.join(", ") : value;
  return joined === "" ? EMPTY_KEY : cut(joined);
}

/** The placeholder in a header value that becomes the request's number (1-based). */
export const REQUEST_NUMBER = "{n}";

/** The request headers for request number `n`: values with {n} filled in, the others as given (one array when none has it). */
export function headersFor(headers: TallyOptions["headers"], n: number): string[] {
  return headers.flatMap(([name, value]) => [name, value.replaceAll(REQUEST_NUMBER, String(n))]);
}

/** The highest status code HTTP has (RFC 9110 section 15: 100 to 599); undici reports any three digits. */
export const MAX_STATUS = 599;
const BAD_STATUS = Object.assign(new Error("status above 599"), { code: "TALLY_BAD_STATUS" });

/** The reason tally aborts a request with when its --timeout passes: classified as error:timeout. */
const TIMED_OUT = Object.assign(new Error("tally's per-request timeout"), { name: "TimeoutError" });

/**
 * One request, as an undici dispatch handler: reads the whole response (so the
 * connection is reused), keeps what its key needs (the first bytes of the body,
 * the status or a header), and reports once, through `done`. Cheaper than
 * request(), which builds a body stream and an AbortSignal per request
 * (bench/RESULTS.md, "changes").
 */
class Exchange implements Dispatcher.DispatchHandler {
  readonly #by: GroupBy;
  readonly #started = performance.now();
  readonly #done: (outcome: Outcome) => void;
  #controller: Dispatcher.DispatchController | undefined;
  #key: string | undefined;
  #kept: Buffer[] = [];
  #keptBytes = 0;
  #status = 200;
  #finished = false;

  constructor(by: GroupBy, done: (outcome: Outcome) => void) {
    this.#by = by;
    this.#done = done;
  }

  /** Ends the request with an error (tally's timeout); undici's own callback for it is then ignored. */
  abort(reason: Error): void {
    this.#finish(failure(reason));
    this.#controller?.abort(reason);
  }

  #finish(outcome: Outcome): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#done(outcome);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    if (this.#finished) controller.abort(TIMED_OUT);
    else this.#controller = controller;
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    if (statusCode < 200) return; // informational: the final answer follows
    if (statusCode > MAX_STATUS) {
      // Three digits to undici, but no HTTP status (RFC 9110 section 15: 100 to 599): counted
      // with the statuses below 100, and the connection is not trusted with another request.
      this.#finish({
        kind: "error",
        key: "error:protocol",
        detail: `the response is not valid HTTP/1.1: status ${statusCode}, above 599`,
      });
      controller.abort(BAD_STATUS);
      return;
    }
    this.#status = statusCode;
    if (this.#by.kind === "status") this.#key = String(statusCode);
    else if (this.#by.kind === "header") this.#key = headerKey(headers[this.#by.name]);
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#by.kind !== "body" || this.#keptBytes >= BODY_PREFIX_BYTES) return;
    const part = chunk.subarray(0, BODY_PREFIX_BYTES - this.#keptBytes);
    this.#kept.push(part);
    this.#keptBytes += part.length;
  }

  onResponseEnd(): void {
    const key =
      this.#key ??
      bodyKey(UTF8.decode(this.#kept.length === 1 ? this.#kept[0] : Buffer.concat(this.#kept)), this.#status);
    this.#finish({ kind: "response", key, latencyMs: performance.now() - this.#started });
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.#finish(failure(error));
  }
}

/** The error outcome for `error`; a timeout's detail is left empty for runLoad, which knows the --timeout. */
function failure(error: unknown): Outcome {
  const kind = classifyError(error);
  return { kind: "error", key: `error:${kind}`, detail: kind === "timeout" ? "" : errorDetail(error) };
}

/**
 * Runs -n requests (or as many as fit in -d) with `concurrency` workers, each
 * sending its next request when the last one has ended, with one timer of its
 * own for --timeout. In duration mode no request starts after the deadline;
 * those in flight are finished (each bounded by the timeout) and counted.
 */
export async function runLoad(options: TallyOptions, onRequestDone: () => void = () => {}): Promise<LoadResult> {
  const { amount, concurrency, timeoutMs, url } = options;
  const pool = new Pool(url.origin, {
    connections: concurrency,
    pipelining: 1,
    connect: { timeout: timeoutMs },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  const path = url.pathname + url.search;
  const method = options.method as Dispatcher.HttpMethod;
  const templated = options.headers.some(([, value]) => value.includes(REQUEST_NUMBER));
  const fixedHeaders = options.headers.flat();
  const timeoutDetail = `no complete response within ${formatDuration(timeoutMs)}`;
  const result: LoadResult = {
    counts: new Map(),
    untracked: 0,
    errorDetails: new Map(),
    latency: new LatencyHistogram(),
    requests: 0,
    elapsedMs: 0,
  };
  const expected = new Set(options.expectations.map((e) => e.key));
  let tracked = 0;
  const count = (outcome: Outcome): void => {
    const seen = result.counts.get(outcome.key);
    if (seen !== undefined) return void result.counts.set(outcome.key, seen + 1);
    if (outcome.kind === "response" && tracked >= MAX_TRACKED_KEYS && !expected.has(outcome.key))
      return void result.untracked++;
    if (outcome.kind === "response") tracked++;
    result.counts.set(outcome.key, 1);
  };
  const start = performance.now();
  const deadline = amount.kind === "duration" ? start + amount.ms : Infinity;
  let started = 0;
  const another = () => (amount.kind === "requests" ? started < amount.count : performance.now() < deadline);

  const worker = (finished: () => void): void => {
    let exchange: Exchange | undefined;
    const timer = setTimeout(() => exchange?.abort(TIMED_OUT), timeoutMs);
    const send = (): void => {
      if (!another()) {
        clearTimeout(timer);
        return finished();
      }
      const n = ++started;
      const current = new Exchange(options.by, (outcome) => {
        exchange = undefined;
        if (outcome.kind === "error" && outcome.detail === "") outcome.detail = timeoutDetail;
        count(outcome);
        result.requests++;
        if (outcome.kind === "response") result.latency.record(outcome.latencyMs);
        else if (!result.errorDetails.has(outcome.key)) result.errorDetails.set(outcome.key, outcome.detail);
        onRequestDone();
        // The next request starts once undici has finished with this one's callbacks.
        queueMicrotask(send);
      });
      exchange = current;
      timer.refresh();
      try {
        pool.dispatch({ path, method, headers: templated ? headersFor(options.headers, n) : fixedHeaders }, current);
      } catch (error) {
        current.abort(error as Error);
      }
    };
    send();
  };
  const workers = amount.kind === "requests" ? Math.min(concurrency, amount.count) : concurrency;
  try {
    await new Promise<void>((resolve) => {
      let running = workers;
      for (let i = 0; i < workers; i++) worker(() => --running === 0 && resolve());
    });
  } finally {
    result.elapsedMs = performance.now() - start;
    await pool.destroy();
  }
  return result;
}
