// Every parse and bound of request input, as pure functions. Routes turn a
// Rejected result into a problem response with its status; nothing here does I/O.

export interface Rejected {
  status: 400 | 403 | 502;
  detail: string;
}
export type Parsed<T> = { value: T } | Rejected;

export function isRejected<T>(parsed: Parsed<T>): parsed is Rejected {
  return "status" in parsed;
}

/** Shortens user input echoed back in an error detail. */
export function quote(text: string, max = 100): string {
  return JSON.stringify(text.length > max ? `${text.slice(0, max)}…` : text);
}

// ---- /status/:code ----------------------------------------------------------

export interface WeightedStatus {
  status: number;
  weight: number;
}

const STATUS_CODE = /^[2-5]\d\d$/;
const WEIGHT = /^(\d+(\.\d+)?|\.\d+)$/;
const MAX_STATUS_CHOICES = 20;
const STATUS_FORM = "a status code from 200 to 599, or weighted choices such as 503:0.5,200:0.5";

/** Parses `503` or `503:0.5,200:0.5` (weights are relative; they need not add up to 1). */
export function parseStatusSpec(spec: string): Parsed<WeightedStatus[]> {
  const parts = spec.split(",");
  const bad: Rejected = { status: 400, detail: `invalid status ${quote(spec)}: expected ${STATUS_FORM}` };
  if (parts.length > MAX_STATUS_CHOICES) return { status: 400, detail: `at most ${MAX_STATUS_CHOICES} weighted choices` };
  if (parts.length === 1 && !spec.includes(":")) return STATUS_CODE.test(spec) ? { value: [{ status: Number(spec), weight: 1 }] } : bad;
  const choices: WeightedStatus[] = [];
  for (const part of parts) {
    const [code, weight, extra] = part.split(":");
    if (code === undefined || weight === undefined || extra !== undefined) return bad;
    if (!STATUS_CODE.test(code) || !WEIGHT.test(weight)) return bad;
    choices.push({ status: Number(code), weight: Number(weight) });
  }
  if (!choices.some((choice) => choice.weight > 0)) return { status: 400, detail: `invalid status ${quote(spec)}: at least one weight must be above 0` };
  return { value: choices };
}

/** Picks a status by weight; `random` is a number in [0, 1) such as Math.random(). */
export function pickStatus(choices: readonly WeightedStatus[], random: number): number {
  const total = choices.reduce((sum, choice) => sum + choice.weight, 0);
  let point = random * total;
  for (const choice of choices) {
    if (point < choice.weight) return choice.status;
    point -= choice.weight;
  }
  // Only reached through floating-point rounding at the top end.
  return choices.findLast((choice) => choice.weight > 0)!.status;
}

// ---- /delay/:seconds --------------------------------------------------------

const SECONDS = /^(\d{1,9}(\.\d{1,9})?|\.\d{1,9})$/;

/** Parses decimal seconds (`1.5`) bounded by maxMs; returns milliseconds. */
export function parseDelay(text: string, maxMs: number): Parsed<number> {
  const form = `decimal seconds from 0 to ${maxMs / 1000}`;
  if (!SECONDS.test(text)) return { status: 400, detail: `invalid delay ${quote(text)}: expected ${form}` };
  const ms = Math.round(Number(text) * 1000);
  if (ms > maxMs) return { status: 400, detail: `delay ${quote(text)} is above MAX_DELAY: expected ${form}` };
  return { value: ms };
}

// ---- /fetch?url= ------------------------------------------------------------

/** Lower-cases a host and drops IPv6 brackets and a trailing dot, so `[::1]`, `::1` and `Example.COM.` compare equal. */
export function normalizeHost(host: string): string {
  const lower = host.toLowerCase();
  const unbracketed = lower.startsWith("[") && lower.endsWith("]") ? lower.slice(1, -1) : lower;
  return unbracketed.endsWith(".") ? unbracketed.slice(0, -1) : unbracketed;
}

/** Checks a URL against the fetch policy: http or https, no credentials, host allowed. */
function checkTarget(url: URL, allow: ReadonlySet<string> | null, schemeStatus: 400 | 502): Parsed<URL> {
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return { status: schemeStatus, detail: `scheme ${quote(url.protocol)} is not allowed: only http and https` };
  }
  if (url.username !== "" || url.password !== "") return { status: schemeStatus, detail: "URLs with credentials (user:password@) are not allowed" };
  const host = normalizeHost(url.hostname);
  if (allow !== null && !allow.has(host)) return { status: 403, detail: `host ${quote(host)} is not in FETCH_ALLOW` };
  return { value: url };
}

/** Validates the `url` query parameter of /fetch (express gives a string, an array, or nothing). */
export function parseFetchUrl(raw: unknown, allow: ReadonlySet<string> | null): Parsed<URL> {
  if (raw === undefined || raw === "") return { status: 400, detail: "missing url: expected /fetch?url=http://host/path" };
  if (typeof raw !== "string") return { status: 400, detail: "url must be given exactly once" };
  if (!URL.canParse(raw)) return { status: 400, detail: `invalid url ${quote(raw)}: expected an absolute http or https URL` };
  return checkTarget(new URL(raw), allow, 400);
}

/** Resolves a redirect's Location against the URL that answered; a bad target is the upstream's fault (502). */
export function parseRedirect(location: string, base: URL, allow: ReadonlySet<string> | null): Parsed<URL> {
  if (!URL.canParse(location, base)) return { status: 502, detail: `upstream redirected to an invalid location ${quote(location)}` };
  return checkTarget(new URL(location, base), allow, 502);
}

/** Reads a Content-Length header; undefined when absent or not a plain number. */
export function parseContentLength(header: string | string[] | undefined): number | undefined {
  return typeof header === "string" && /^\d{1,16}$/.test(header) ? Number(header) : undefined;
}
