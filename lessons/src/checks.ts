// A lesson's expected outcome, as data: `k8s/overlays/<lesson>/checks.yaml`.
// Each check becomes one `tally` command line (probeToTallyArgs), the same one
// locally against the mesh preview and on a cluster from the sleep pod, so the
// outcome is judged the same way in both places.
import { readFile } from "node:fs/promises";
import { parse } from "yaml";
import { parseGroupBy, parseHeader } from "../../services/sleep/src/args.ts";
import { parseLatencyExpectation, parseShareExpectation } from "../../services/sleep/src/expect.ts";
import { parseDuration } from "../../services/common/src/duration.ts";
import { isShadowHost } from "./mesh/policy.ts";

export interface MirrorExpectation {
  /** The Deployment that receives the mirrored copies. */
  deployment: string;
  /** Share of the requests sent that must reach it as mirrored copies (Host ending in -shadow), in percent. */
  atLeastPercent: number;
}

export interface Check {
  name: string;
  /** Path and query on the Service, e.g. /env/version. */
  path: string;
  method?: string;
  headers: Record<string, string>;
  requests: number;
  concurrency: number;
  by?: string;
  timeout?: string;
  /** tally --expect expressions. */
  expect: string[];
  /** tally --expect-latency expressions. */
  expectLatency: string[];
  mirroredTo?: MirrorExpectation;
}

export interface LessonChecks {
  /** What the learner observes, one line. */
  summary: string;
  checks: Check[];
}

export class ChecksError extends Error {}

export const CHECK_LIMITS = { requests: { min: 1, max: 10_000 }, concurrency: { min: 1, max: 100 } } as const;

const CHECK_FIELDS = ["name", "path", "method", "headers", "requests", "concurrency", "by", "timeout", "expect", "expectLatency", "mirroredTo"];
const METHOD = /^[A-Z]+$/;

/** The header tally adds to a check with mirroredTo, so the mirrored copies can be told apart in the logs. */
export const RUN_ID_HEADER = "x-request-id";

function fieldError(file: string, field: string, message: string): never {
  throw new ChecksError(`${file}: ${field}: ${message}`);
}

function stringList(value: unknown, file: string, field: string, parse: (s: string) => { ok: true } | { ok: false; error: string }): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) fieldError(file, field, "expected a list of strings");
  return value.map((item, i) => {
    if (typeof item !== "string") fieldError(file, `${field}[${i}]`, `expected a string, got ${JSON.stringify(item)}`);
    const parsed = parse(item);
    if (!parsed.ok) fieldError(file, `${field}[${i}]`, parsed.error.replace(/^--expect(-latency)? /, ""));
    return item;
  });
}

function integer(value: unknown, file: string, field: string, limits: { min: number; max: number }, fallback?: number): number {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < limits.min || value > limits.max) {
    fieldError(file, field, `expected an integer from ${limits.min} to ${limits.max}, got ${JSON.stringify(value)}`);
  }
  return value;
}

function check(value: unknown, file: string, at: string): Check {
  if (typeof value !== "object" || value === null || Array.isArray(value)) fieldError(file, at, "expected a mapping");
  const v = value as Record<string, unknown>;
  const unknown = Object.keys(v).filter((k) => !CHECK_FIELDS.includes(k));
  if (unknown.length > 0) fieldError(file, `${at}.${unknown[0]}`, `unknown field (known: ${CHECK_FIELDS.join(", ")})`);
  if (typeof v.name !== "string" || v.name.trim() === "") fieldError(file, `${at}.name`, "expected a non-empty string");
  if (typeof v.path !== "string" || !v.path.startsWith("/") || /\s/.test(v.path)) fieldError(file, `${at}.path`, `expected a path starting with /, got ${JSON.stringify(v.path)}`);
  const result: Check = {
    name: v.name,
    path: v.path,
    headers: {},
    requests: integer(v.requests, file, `${at}.requests`, CHECK_LIMITS.requests),
    concurrency: integer(v.concurrency, file, `${at}.concurrency`, CHECK_LIMITS.concurrency, 1),
    expect: stringList(v.expect, file, `${at}.expect`, parseShareExpectation),
    expectLatency: stringList(v.expectLatency, file, `${at}.expectLatency`, parseLatencyExpectation),
  };
  if (result.expect.length + result.expectLatency.length === 0 && v.mirroredTo === undefined) {
    fieldError(file, `${at}.expect`, "a check needs at least one of expect, expectLatency, mirroredTo");
  }
  if (v.method !== undefined) {
    if (typeof v.method !== "string" || !METHOD.test(v.method)) fieldError(file, `${at}.method`, `expected an HTTP method such as GET, got ${JSON.stringify(v.method)}`);
    result.method = v.method;
  }
  if (v.headers !== undefined) {
    if (typeof v.headers !== "object" || v.headers === null || Array.isArray(v.headers)) fieldError(file, `${at}.headers`, "expected a mapping of header names to values");
    for (const [name, hv] of Object.entries(v.headers)) {
      if (typeof hv !== "string") fieldError(file, `${at}.headers.${name}`, `expected a string value, got ${JSON.stringify(hv)}`);
      try {
        parseHeader(`${name}: ${hv}`, "header");
      } catch (error) {
        fieldError(file, `${at}.headers.${name}`, (error as Error).message);
      }
      result.headers[name] = hv;
    }
  }
  if (v.by !== undefined) {
    try {
      parseGroupBy(String(v.by));
    } catch (error) {
      fieldError(file, `${at}.by`, (error as Error).message.replace(/^--by /, ""));
    }
    result.by = String(v.by);
  }
  if (v.timeout !== undefined) {
    if (typeof v.timeout !== "string" || parseDuration(v.timeout) === undefined) fieldError(file, `${at}.timeout`, `expected a duration such as 5s, got ${JSON.stringify(v.timeout)}`);
    result.timeout = v.timeout;
  }
  if (v.mirroredTo !== undefined) {
    const m = v.mirroredTo as Record<string, unknown>;
    if (typeof m !== "object" || m === null || typeof m.deployment !== "string") fieldError(file, `${at}.mirroredTo.deployment`, "expected the name of the Deployment receiving the mirrored requests");
    const extra = Object.keys(m).find((k) => k !== "deployment" && k !== "atLeastPercent");
    if (extra) fieldError(file, `${at}.mirroredTo.${extra}`, "unknown field (known: deployment, atLeastPercent)");
    result.mirroredTo = { deployment: m.deployment, atLeastPercent: integer(m.atLeastPercent, file, `${at}.mirroredTo.atLeastPercent`, { min: 1, max: 100 }) };
  }
  return result;
}

/** Validates the parsed content of a checks file; `file` names it in errors. */
export function parseChecks(value: unknown, file: string): LessonChecks {
  if (typeof value !== "object" || value === null || Array.isArray(value)) fieldError(file, "(top level)", "expected a mapping with summary and checks");
  const v = value as Record<string, unknown>;
  const extra = Object.keys(v).find((k) => k !== "summary" && k !== "checks");
  if (extra) fieldError(file, extra, "unknown field (known: summary, checks)");
  if (typeof v.summary !== "string" || v.summary.trim() === "") fieldError(file, "summary", "expected one line saying what the learner observes");
  if (!Array.isArray(v.checks) || v.checks.length === 0) fieldError(file, "checks", "expected a non-empty list of checks");
  const checks = v.checks.map((c, i) => check(c, file, `checks[${i}]`));
  const names = new Set<string>();
  for (const [i, c] of checks.entries()) {
    if (names.has(c.name)) fieldError(file, `checks[${i}].name`, `duplicate name "${c.name}"`);
    names.add(c.name);
  }
  return { summary: v.summary, checks };
}

export async function loadChecks(file: string): Promise<LessonChecks> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new ChecksError(`${file}: cannot read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  let value: unknown;
  try {
    value = parse(text);
  } catch (error) {
    throw new ChecksError(`${file}: invalid YAML: ${(error as Error).message}`);
  }
  return parseChecks(value, file);
}

/**
 * The tally command line for a check: the same arguments locally and on a
 * cluster, only the base URL differs. `runId` tags a mirror check's requests
 * (x-request-id) so their mirrored copies can be counted in the logs.
 */
export function probeToTallyArgs(check: Check, baseUrl: string, runId?: string): string[] {
  const args = ["-n", String(check.requests), "-c", String(check.concurrency)];
  if (check.method) args.push("-X", check.method);
  if (check.by) args.push("--by", check.by);
  if (check.timeout) args.push("--timeout", check.timeout);
  for (const [name, value] of Object.entries(check.headers)) args.push("-H", `${name}: ${value}`);
  if (check.mirroredTo && runId) args.push("-H", `${RUN_ID_HEADER}: ${runId}`);
  for (const e of check.expect) args.push("--expect", e);
  for (const e of check.expectLatency) args.push("--expect-latency", e);
  args.push(new URL(check.path, baseUrl).href);
  return args;
}

/** A request-log line as flaskapp writes it (the fields the mirror check reads). */
export interface RequestLogLine {
  msg?: unknown;
  host?: unknown;
  requestId?: unknown;
}

/** Counts the log lines of mirrored copies of a check's requests: tagged with its run id, Host ending in -shadow. */
export function countMirroredCopies(lines: Iterable<RequestLogLine>, runId: string): number {
  let count = 0;
  for (const line of lines) {
    if (line.msg === "request" && line.requestId === runId && typeof line.host === "string" && isShadowHost(line.host)) count++;
  }
  return count;
}

/** The number of mirrored copies a mirror check needs to see, for `requests` sent. */
export function mirroredNeeded(check: Check): number {
  return Math.ceil((check.requests * (check.mirroredTo?.atLeastPercent ?? 0)) / 100);
}
