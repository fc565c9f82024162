// Command line -> TallyOptions, or a UsageError saying in one line what is wrong.
// Every number has an explicit range; the limits are exported for the help text
// and the tests.
import { parseArgs } from "node:util";
import { checkDuration, checkWholeNumber, rangeText, type Range } from "#common/bounded.ts";
import { DURATION_FORM, formatDuration } from "#common/duration.ts";
import { parseArgsUsageError, UsageError } from "#common/usage-error.ts";
import { visibleLine } from "#common/visible-text.ts";
import { parseDistinctExpectation, parseLatencyExpectation, parseShareExpectation, type Parsed } from "./expect.ts";
import { GROUPED_KEY, MAX_ROWS, type Amount, type GroupBy, type TallyOptions } from "./types.ts";

export type { Amount, GroupBy, TallyOptions } from "./types.ts";

export const LIMITS = {
  requests: { min: 1, max: 1_000_000, default: 100 },
  concurrency: { min: 1, max: 1000, default: 1 },
  durationMs: { min: 1, max: 3_600_000 },
  timeoutMs: { min: 1, max: 600_000, default: 5000 },
} as const;

export type Command = { kind: "help" } | { kind: "run"; options: TallyOptions };

export const HELP = `tally: send HTTP requests, count the answers, draw the split, check it.

usage: tally [options] URL [Name:Value ...]

  Name:Value items after the URL add request headers, as in httpie
  (tally http://flaskapp/env/version lab:canary). One URL only;
  user:password@ in it is sent as Basic auth and never printed.

options:
  -n, --requests N        requests to send (default ${LIMITS.requests.default}, ${LIMITS.requests.min} to ${LIMITS.requests.max})
  -d, --duration D        send for this long instead of -n (up to ${formatDuration(LIMITS.durationMs.max)});
                          requests in flight at the end are finished and counted
  -c, --concurrency C     requests in flight at once, each on its own keep-alive
                          connection (default ${LIMITS.concurrency.default}, ${LIMITS.concurrency.min} to ${LIMITS.concurrency.max})
  -X, --method M          request method (default GET)
  -H, --header 'N: V'     add a request header (repeatable); {n} in a value is
                          the request's number, 1, 2, ... (x-user:user-{n})
      --by KEY            group responses by: body (default; trimmed, whitespace
                          collapsed, cut to 60 characters), status, header:NAME
      --timeout D         per-request time limit (default ${formatDuration(LIMITS.timeoutMs.default)}, up to ${formatDuration(LIMITS.timeoutMs.max)})
      --expect EXPR       check a key's share of all requests sent, in percent
                          (one per --expect): KEY=PCT, KEY=PCT±TOL (or +-TOL),
                          KEY>=PCT, KEY<=PCT; e.g. v2=100, v1=70±10,
                          error:timeout<=5, 503>=1
      --expect-latency E  check a latency figure of the responses (repeatable):
                          min|p50|p90|p99|max, then >= or <=, then a duration;
                          e.g. p99<=200ms, min>=3s
      --expect-distinct E how many distinct answers (rows, errors included):
                          N, =N, >=N or <=N; e.g. 1 (all the same), >=3
      --json              print one JSON object instead of the table
      --quiet             no table and no progress line; failed expectations
                          are still explained on stderr
  -h, --help              show this help

Durations are ${DURATION_FORM}.
Failed requests get their own rows: error:timeout, error:refused, error:reset,
error:dns, error:protocol, error:other; --expect accepts them like any other key.
The ${MAX_ROWS} most frequent answers get a row each; the others are grouped into
one row, "${GROUPED_KEY}".

exit codes: 0 fine, 1 an expectation failed, 2 usage error, 3 a bug in tally
`;

const OPTIONS = {
  requests: { type: "string", short: "n" },
  duration: { type: "string", short: "d" },
  concurrency: { type: "string", short: "c" },
  method: { type: "string", short: "X" },
  header: { type: "string", short: "H", multiple: true },
  by: { type: "string" },
  timeout: { type: "string" },
  expect: { type: "string", multiple: true },
  "expect-latency": { type: "string", multiple: true },
  "expect-distinct": { type: "string", multiple: true },
  json: { type: "boolean" },
  quiet: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// What undici sends in a header value (its headerCharRegex, after RFC 9110's
// field-vchar and obs-text): anything else it refuses when the request is made,
// so every request would fail; tally refuses it before sending any.
const NOT_HEADER_VALUE = /[^\t\x20-\x7e\x80-\xff]/u;

/** `U+007F (DEL)`, `U+1F600 😀`: a character named in a message, never written raw when it is a control character. */
function describeChar(c: string): string {
  const code = `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`;
  const name = c === "\x7f" ? "DEL" : c === "\x1b" ? "ESC" : c < " " ? "a control character" : undefined;
  return name !== undefined ? `${code} (${name})` : `${code} "${visibleLine(c)}"`;
}
// undici manages these itself and refuses them in a request.
const RESERVED_HEADERS = new Set(["connection", "keep-alive", "transfer-encoding", "upgrade", "expect"]);

function unwrap<T>(parsed: Parsed<T>): T {
  if (!parsed.ok) throw new UsageError(parsed.error);
  return parsed.value;
}

function parseCount(option: string, text: string, range: Range): number {
  const n = checkWholeNumber(text, range);
  if (!n.ok) throw new UsageError(`${option} must be a whole number ${rangeText(range)}, got "${text}"`);
  return n.value;
}

function parseMs(option: string, text: string, range: Range): number {
  const ms = checkDuration(text, range);
  if (!ms.ok)
    throw new UsageError(
      `${option} must be ${ms.problem === "form" ? DURATION_FORM : rangeText(range, true)}, got "${text}"`,
    );
  return ms.value;
}

/** A URL as tally may print it: any `user:password@` replaced, even in text that does not parse. */
export function redactUrl(text: string): string {
  return text.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, "$1***@");
}

const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

export interface Target {
  /** The URL to send to, without credentials. */
  url: URL;
  /** `Basic ...` from `user:password@` in the URL, as curl and httpie send it. */
  authorization: string | undefined;
}

export function parseUrl(text: string): Target {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`"${redactUrl(text)}" is not a URL; write it in full, e.g. http://flaskapp/env/version`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UsageError(`"${redactUrl(text)}": only http:// and https:// URLs are supported`);
  }
  if (url.username === "" && url.password === "") return { url, authorization: undefined };
  let credentials: string;
  try {
    credentials = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
  } catch {
    // `%` not followed by two hex digits, or bytes that are not UTF-8 (`u%C3`).
    throw new UsageError(
      `"${redactUrl(text)}": the user name or password in it is not valid percent-encoding (write % as %25)`,
    );
  }
  url.username = "";
  url.password = "";
  return { url, authorization: `Basic ${Buffer.from(credentials).toString("base64")}` };
}

/** `Name:Value` (httpie item) or `Name: Value` (-H); the value is trimmed and may be empty. */
export function parseHeader(text: string, origin: string): [string, string] {
  const colon = text.indexOf(":");
  const name = colon > 0 ? text.slice(0, colon).trim().toLowerCase() : "";
  const value = text.slice(colon + 1).trim();
  if (!TOKEN.test(name)) {
    throw new UsageError(`${origin} "${text}" is not a header; write Name:Value, e.g. lab:canary`);
  }
  if (/[\r\n\0]/.test(value)) throw new UsageError(`${origin} "${name}": a header value cannot contain line breaks`);
  const bad = NOT_HEADER_VALUE.exec(value)?.[0];
  if (bad !== undefined) {
    throw new UsageError(
      `${origin} "${name}": a header value holds only tabs, printable ASCII and Latin-1 characters (up to U+00FF), not ${describeChar(bad)}`,
    );
  }
  if (RESERVED_HEADERS.has(name)) throw new UsageError(`${origin} "${name}": tally manages this header itself`);
  return [name, value];
}

export function parseGroupBy(text: string): GroupBy {
  if (text === "body" || text === "status") return { kind: text };
  const name = text.startsWith("header:") ? text.slice("header:".length).toLowerCase() : "";
  if (!TOKEN.test(name)) throw new UsageError(`--by must be body, status or header:NAME, got "${text}"`);
  return { kind: "header", name };
}

function parseMethod(text: string): string {
  const method = text.toUpperCase();
  if (!TOKEN.test(method)) throw new UsageError(`-X "${text}" is not an HTTP method`);
  if (method === "CONNECT") throw new UsageError("-X CONNECT opens a tunnel; tally sends ordinary requests");
  return method;
}

export function parseCommand(argv: readonly string[]): Command {
  let parsed: ReturnType<
    typeof parseArgs<{ args: string[]; options: typeof OPTIONS; allowPositionals: true; strict: true }>
  >;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    if (argv.includes("--help") || argv.includes("-h")) return { kind: "help" };
    throw parseArgsUsageError(err);
  }
  const { values, positionals } = parsed;
  if (values.help) return { kind: "help" };

  const [urlText, ...items] = positionals;
  if (urlText === undefined) throw new UsageError("missing URL, e.g. tally http://flaskapp/env/version");
  const second = items.find((item) => SCHEME.test(item));
  if (second !== undefined)
    throw new UsageError(`tally takes one URL; "${redactUrl(second)}" is a second one (run tally once per URL)`);
  if (values.requests !== undefined && values.duration !== undefined) {
    throw new UsageError("-n and -d cannot be used together: give a number of requests or a duration");
  }
  const amount: Amount =
    values.duration !== undefined
      ? { kind: "duration", ms: parseMs("-d/--duration", values.duration, LIMITS.durationMs) }
      : {
          kind: "requests",
          count: parseCount("-n/--requests", values.requests ?? String(LIMITS.requests.default), LIMITS.requests),
        };

  const target = parseUrl(urlText);
  const headers = [
    ...(values.header ?? []).map((h) => parseHeader(h, "-H")),
    ...items.map((item) => parseHeader(item, "item")),
  ];
  if (target.authorization !== undefined) {
    if (headers.some(([name]) => name === "authorization"))
      throw new UsageError("credentials in the URL and an Authorization header: give only one");
    headers.push(["authorization", target.authorization]);
  }
  const options: TallyOptions = {
    url: target.url,
    method: parseMethod(values.method ?? "GET"),
    headers,
    amount,
    concurrency: parseCount(
      "-c/--concurrency",
      values.concurrency ?? String(LIMITS.concurrency.default),
      LIMITS.concurrency,
    ),
    by: parseGroupBy(values.by ?? "body"),
    timeoutMs: parseMs("--timeout", values.timeout ?? formatDuration(LIMITS.timeoutMs.default), LIMITS.timeoutMs),
    expectations: [
      ...(values.expect ?? []).map((e) => unwrap(parseShareExpectation(e))),
      ...(values["expect-latency"] ?? []).map((e) => unwrap(parseLatencyExpectation(e))),
      ...(values["expect-distinct"] ?? []).map((e) => unwrap(parseDistinctExpectation(e))),
    ],
    json: values.json ?? false,
    quiet: values.quiet ?? false,
  };
  return { kind: "run", options };
}
