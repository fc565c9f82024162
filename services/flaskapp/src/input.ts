// Every parse and bound of request input, as pure functions. Routes turn a
// Rejected result into a problem response with its status; nothing here does I/O.
import { pickWeighted } from "#common/weighted.ts";

export interface Rejected {
  status: 400 | 403 | 502 | 508;
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
/** At most 7 digits before the point and 9 after: no weight can become Infinity (309 digits did, and the last choice always won). */
const WEIGHT = /^(\d{1,7}(\.\d{1,9})?|\.\d{1,9})$/;
export const MAX_STATUS_WEIGHT = 1_000_000;
const MAX_STATUS_CHOICES = 20;
const STATUS_FORM = `a status code from 200 to 599, or weighted choices such as 503:0.5,200:0.5 (weights from 0 to ${MAX_STATUS_WEIGHT})`;

/** Parses `503` or `503:0.5,200:0.5` (weights are relative; they need not add up to 1). */
export function parseStatusSpec(spec: string): Parsed<WeightedStatus[]> {
  const parts = spec.split(",");
  const bad: Rejected = { status: 400, detail: `invalid status ${quote(spec)}: expected ${STATUS_FORM}` };
  if (parts.length > MAX_STATUS_CHOICES)
    return { status: 400, detail: `at most ${MAX_STATUS_CHOICES} weighted choices` };
  if (parts.length === 1 && !spec.includes(":"))
    return STATUS_CODE.test(spec) ? { value: [{ status: Number(spec), weight: 1 }] } : bad;
  const choices: WeightedStatus[] = [];
  for (const part of parts) {
    const [code, weight, extra] = part.split(":");
    if (code === undefined || weight === undefined || extra !== undefined) return bad;
    if (!STATUS_CODE.test(code) || !WEIGHT.test(weight) || Number(weight) > MAX_STATUS_WEIGHT) return bad;
    choices.push({ status: Number(code), weight: Number(weight) });
  }
  if (!choices.some((choice) => choice.weight > 0))
    return { status: 400, detail: `invalid status ${quote(spec)}: at least one weight must be above 0` };
  return { value: choices };
}

/** Picks a status by weight (the project's one weighted choice); `random` is a number in [0, 1) such as Math.random(). */
export function pickStatus(choices: readonly WeightedStatus[], random: number): number {
  return pickWeighted(choices, random).status;
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
  if (url.username !== "" || url.password !== "")
    return { status: schemeStatus, detail: "URLs with credentials (user:password@) are not allowed" };
  const host = normalizeHost(url.hostname);
  if (allow !== null && !allow.has(host)) return { status: 403, detail: `host ${quote(host)} is not in FETCH_ALLOW` };
  return { value: url };
}

/** Validates the `url` query parameter of /fetch (express gives a string, an array, or nothing). */
export function parseFetchUrl(raw: unknown, allow: ReadonlySet<string> | null): Parsed<URL> {
  if (raw === undefined || raw === "")
    return { status: 400, detail: "missing url: expected /fetch?url=http://host/path" };
  if (typeof raw !== "string") return { status: 400, detail: "url must be given exactly once" };
  if (!URL.canParse(raw))
    return { status: 400, detail: `invalid url ${quote(raw)}: expected an absolute http or https URL` };
  return checkTarget(new URL(raw), allow, 400);
}

/**
 * Resolves a redirect's Location against the URL that answered; a bad target is
 * the upstream's fault (502), and so is a redirect with several Location headers
 * (which one to follow would be a guess).
 */
export function parseRedirect(location: string | string[], base: URL, allow: ReadonlySet<string> | null): Parsed<URL> {
  if (typeof location !== "string")
    return { status: 502, detail: `upstream redirected with ${location.length} Location headers` };
  if (!URL.canParse(location, base))
    return { status: 502, detail: `upstream redirected to an invalid location ${quote(location)}` };
  return checkTarget(new URL(location, base), allow, 502);
}

/**
 * Reads a Content-Length header; undefined when absent or not a plain number.
 * Any number of digits counts: a 17-digit length is still a length (and far over
 * any cap), not something to ignore.
 */
export function parseContentLength(header: string | string[] | undefined): number | undefined {
  return typeof header === "string" && /^\d+$/.test(header) ? Number(header) : undefined;
}

/**
 * Whether a final upstream status can be passed on: 200 to 599. Others (600,
 * 999, or an informational 1xx as a final answer) are the upstream breaking
 * HTTP, so the client gets a 502 instead of a status it cannot interpret.
 */
export function checkUpstreamStatus(status: number): Rejected | undefined {
  return status >= 200 && status <= 599
    ? undefined
    : { status: 502, detail: `upstream answered with status ${status}, which is not a valid final HTTP status` };
}

// ---- loop guard -------------------------------------------------------------

/** The header flaskapp adds to each of its outgoing fetches, one entry per flaskapp it passed through (as Via lists proxies). */
export const HOPS_HEADER = "x-flaskapp-via";

/** This pod's entry in HOPS_HEADER: `<version> <pod>`, with anything that is not a visible ASCII character (or a comma) made `_`. */
export function hopEntry(version: string, podName: string): string {
  const token = (text: string): string => text.replace(/[^\x21-\x2b\x2d-\x7e]/g, "_") || "_";
  return `${token(version)} ${token(podName)}`;
}

/** How many flaskapp fetches a request has already passed through: the entries of its HOPS_HEADER. */
export function countHops(header: string | string[] | undefined): number {
  if (header === undefined) return 0;
  const joined = typeof header === "string" ? header : header.join(",");
  return joined.split(",").filter((entry) => entry.trim() !== "").length;
}

/** Refuses a fetch that would be hop number maxHops + 1 of a chain of flaskapp fetches. */
export function checkHops(hops: number, maxHops: number): Rejected | undefined {
  if (hops < maxHops) return undefined;
  return {
    status: 508,
    detail: `request already passed through flaskapp's fetch ${hops} times (${HOPS_HEADER}); FETCH_MAX_HOPS is ${maxHops}`,
  };
}
