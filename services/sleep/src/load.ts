// Sends the requests and counts every one of them exactly once, under the key
// of its response or under the error that ended it. One keep-alive connection
// per concurrent worker, so `-c 3` means at most three requests in flight.
import { Pool } from "undici";
import type { Dispatcher } from "undici";
import { formatDuration } from "../../common/src/duration.ts";
import type { GroupBy, TallyOptions } from "./args.ts";

export const ERROR_KINDS = ["timeout", "refused", "reset", "dns", "other"] as const;
export type ErrorKind = (typeof ERROR_KINDS)[number];

export const EMPTY_KEY = "(empty)";
export const MISSING_HEADER_KEY = "(none)";
const KEY_CHARS = 60;
// Enough bytes for 60 characters after trimming; the rest of a body is read and dropped.
const BODY_PREFIX_BYTES = 4096;
const UTF8 = new TextDecoder();

export interface LoadResult {
  /** Requests per key; error rows are keyed `error:<kind>`. Sums to `requests`. */
  counts: Map<string, number>;
  /** The first error message seen for each error key, to say what "error:other" was. */
  errorDetails: Map<string, string>;
  /** Time to the end of the body, for every request that got a response. */
  latenciesMs: number[];
  requests: number;
  elapsedMs: number;
}

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

/** Which error row a failed request belongs to; looks through `cause` chains (undici wraps socket errors). */
export function classifyError(err: unknown): ErrorKind {
  for (let e: unknown = err, depth = 0; e instanceof Object && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const { name, code } = e as { name?: unknown; code?: unknown };
    // The only signal tally aborts with is its per-request timeout.
    if (name === "TimeoutError" || name === "AbortError" || code === "UND_ERR_ABORTED") return "timeout";
    const kind = typeof code === "string" ? ERROR_CODES[code] : undefined;
    if (kind) return kind;
  }
  return "other";
}

function errorDetail(err: unknown): string {
  const { message, code } = (err ?? {}) as { message?: unknown; code?: unknown };
  const text = typeof message === "string" && message !== "" ? message : String(err);
  return typeof code === "string" && !text.includes(code) ? `${code}: ${text}` : text;
}

function cut(text: string): string {
  const chars = Array.from(text);
  return chars.length > KEY_CHARS ? chars.slice(0, KEY_CHARS).join("") : text;
}

/** The key a response body is counted under: whitespace runs made one space, trimmed, 60 characters at most. */
export function bodyKey(text: string): string {
  const key = cut(text.replace(/\s+/g, " ").trim());
  return key === "" ? EMPTY_KEY : key;
}

/** The key for a response header: its value (several joined with ", "), cut to 60 characters. */
export function headerKey(value: string | string[] | undefined): string {
  if (value === undefined) return MISSING_HEADER_KEY;
  const joined = Array.isArray(value) ? value.join(", ") : value;
  return joined === "" ? EMPTY_KEY : cut(joined);
}

/** Reads a whole body (so the connection can be reused) and keeps its first bytes. */
async function readPrefix(body: Dispatcher.ResponseData["body"], keepBytes: number): Promise<Buffer> {
  const kept: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    if (size < keepBytes) {
      kept.push(chunk.subarray(0, keepBytes - size));
      size += Math.min(chunk.length, keepBytes - size);
    }
  }
  return Buffer.concat(kept);
}

async function responseKey(by: GroupBy, response: Dispatcher.ResponseData): Promise<string> {
  const prefix = await readPrefix(response.body, by.kind === "body" ? BODY_PREFIX_BYTES : 0);
  switch (by.kind) {
    case "body":
      return bodyKey(UTF8.decode(prefix));
    case "status":
      return String(response.statusCode);
    case "header":
      return headerKey(response.headers[by.name]);
  }
}

async function sendOne(pool: Pool, options: TallyOptions, path: string): Promise<Outcome> {
  const start = performance.now();
  try {
    const response = await pool.request({
      path,
      method: options.method as Dispatcher.HttpMethod,
      headers: options.headers.flat(),
      signal: AbortSignal.timeout(options.timeoutMs),
    });
    const key = await responseKey(options.by, response);
    return { kind: "response", key, latencyMs: performance.now() - start };
  } catch (err) {
    const kind = classifyError(err);
    const detail = kind === "timeout" ? `no complete response within ${formatDuration(options.timeoutMs)}` : errorDetail(err);
    return { kind: "error", key: `error:${kind}`, detail };
  }
}

/**
 * Runs -n requests (or as many as fit in -d) with `concurrency` workers.
 * In duration mode no request starts after the deadline; those in flight are
 * finished (each bounded by the timeout) and counted.
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
  const result: LoadResult = { counts: new Map(), errorDetails: new Map(), latenciesMs: [], requests: 0, elapsedMs: 0 };
  const start = performance.now();
  const deadline = amount.kind === "duration" ? start + amount.ms : Infinity;
  let started = 0;
  const another = () => (amount.kind === "requests" ? started < amount.count : performance.now() < deadline);

  const worker = async () => {
    while (another()) {
      started++;
      const outcome = await sendOne(pool, options, path);
      result.counts.set(outcome.key, (result.counts.get(outcome.key) ?? 0) + 1);
      result.requests++;
      if (outcome.kind === "response") result.latenciesMs.push(outcome.latencyMs);
      else if (!result.errorDetails.has(outcome.key)) result.errorDetails.set(outcome.key, outcome.detail);
      onRequestDone();
    }
  };
  const workers = amount.kind === "requests" ? Math.min(concurrency, amount.count) : concurrency;
  try {
    await Promise.all(Array.from({ length: workers }, worker));
  } finally {
    result.elapsedMs = performance.now() - start;
    await pool.destroy();
  }
  return result;
}
