// A lesson's expected outcome, as data: `checks.yaml` beside its kustomization.
// Each check is parsed and validated once here and becomes one `tally` command
// line (tallyArgs), the same one locally against the mesh preview and on a
// cluster from the sleep pod, so the outcome is judged the same way in both.
import type { RequestLogLine } from "../core/request-log.ts";
import { parse } from "yaml";
import { isIntegerIn, rangeText, type Range } from "#common/bounded.ts";
import { UsageError } from "#common/usage-error.ts";
import { parseCommand } from "#sleep/args.ts";
import { OverlayError, readBoundedText } from "../core/overlay-files.ts";

export interface MirrorExpectation {
  /** The Deployment that receives the mirrored copies (clients are never routed to it). */
  deployment: string;
  /** Share of the requests sent that must reach it as mirrored copies, in percent. */
  atLeastPercent: number;
}

export interface Check {
  name: string;
  /** The Service the sleep pod calls (`flaskapp`, `istio-ingressgateway.istio-system`); the URL is http://<service><path>. */
  service: string;
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
  /** tally --expect-distinct: how many distinct answers (`=1`, `>=3`). */
  expectDistinct?: string;
  mirroredTo?: MirrorExpectation;
}

export interface LessonChecks {
  /** What the learner observes, one line. */
  summary: string;
  checks: Check[];
}

export class ChecksError extends Error {}

export const CHECK_LIMITS = { requests: { min: 1, max: 10_000 }, concurrency: { min: 1, max: 100 } } as const;

/**
 * How large a checks.yaml and its text may be: what a learner reads on the terminal stays a
 * line, and a downloaded file cannot flood it (ours: 1.5 KiB, a 215-character summary, 5 checks).
 */
export const CHECKS_SIZE_LIMITS = {
  fileBytes: 64 * 1024,
  /** summary: one line of at most this many characters. */
  summary: 300,
  /** a check's name: one line. */
  name: 120,
  path: 2048,
  /** every other text: a header name or value, an expectation, method, by, timeout, a Deployment. */
  text: 1024,
  checks: 50,
  /** headers of a check; entries of each of expect, expectLatency. */
  entries: 32,
} as const;

export const DEFAULT_SERVICE = "flaskapp";
const CHECK_FIELDS = [
  "name",
  "service",
  "path",
  "method",
  "headers",
  "requests",
  "concurrency",
  "by",
  "timeout",
  "expect",
  "expectLatency",
  "expectDistinct",
  "mirroredTo",
];
/** A Service as a pod names it: `name`, `name.namespace`, up to `name.namespace.svc.cluster.local`. */
const SERVICE_HOST = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** A plain absolute path: one leading slash, no backslash, no whitespace, no fragment. */
const PLAIN_PATH = /^\/(?![/\\])[^\s\\#]*$/;

/**
 * What the preview sends to a playground without checks.yaml: a sample with no expectation,
 * so the split and the proxies' decisions show what the rules do (tally exits 0 whatever it sees).
 */
export const DEFAULT_SAMPLE: Check = {
  name: "sample: 100 requests to /env/version, nothing expected (no checks.yaml)",
  service: DEFAULT_SERVICE,
  path: "/env/version",
  headers: {},
  requests: 100,
  concurrency: 1,
  expect: [],
  expectLatency: [],
};

/** The header tally adds to a check with mirroredTo, so the mirrored copies can be told apart in the logs. */
export const RUN_ID_HEADER = "x-request-id";

function fieldError(file: string, field: string, message: string): never {
  throw new ChecksError(`${file}: ${field}: ${message}`);
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** `JSON.stringify(value)`, cut to a length a one-line error can hold. */
function shown(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}

/** Refuses text longer than `max` characters or, for `oneLine`, holding a line break. */
function bounded(text: string, file: string, field: string, max: number, oneLine = false): string {
  if (text.length > max) fieldError(file, field, `longer than ${max} characters (${text.length})`);
  if (oneLine && /[\r\n\u2028\u2029\x85]/.test(text)) fieldError(file, field, "expected one line");
  return text;
}

function stringList(value: unknown, file: string, field: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) fieldError(file, field, "expected a list of strings");
  if (value.length > CHECKS_SIZE_LIMITS.entries)
    fieldError(file, field, `more than ${CHECKS_SIZE_LIMITS.entries} entries`);
  return value.map((item, i) => {
    if (typeof item !== "string") fieldError(file, `${field}[${i}]`, `expected a string, got ${shown(item)}`);
    return bounded(item, file, `${field}[${i}]`, CHECKS_SIZE_LIMITS.text);
  });
}

function integer(value: unknown, file: string, field: string, limits: Range, fallback?: number): number {
  if (value === undefined && fallback !== undefined) return fallback;
  if (!isIntegerIn(value, limits))
    fieldError(file, field, `expected an integer ${rangeText(limits)}, got ${shown(value)}`);
  return value;
}

function optionalString(value: unknown, file: string, field: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value.trim() === "")
    fieldError(file, field, `expected a non-empty string, got ${shown(value)}`);
  return bounded(value, file, field, CHECKS_SIZE_LIMITS.text);
}

/**
 * Reads the check back through tally's own command-line parser, so a field
 * tally would refuse (a method, a timeout, a header, an expectation) is an
 * error here, naming the field, and never a failure later at run time.
 */
function validateWithTally(check: Check, file: string, at: string): void {
  const fields: Array<[string, string[]]> = [
    ["method", check.method ? ["-X", check.method] : []],
    ["by", check.by ? ["--by", check.by] : []],
    ["timeout", check.timeout ? ["--timeout", check.timeout] : []],
    ...Object.entries(check.headers).map(([name, value]): [string, string[]] => [
      `headers.${name}`,
      ["-H", `${name}: ${value}`],
    ]),
    ...check.expect.map((e, i): [string, string[]] => [`expect[${i}]`, ["--expect", e]]),
    ...check.expectLatency.map((e, i): [string, string[]] => [`expectLatency[${i}]`, ["--expect-latency", e]]),
    ["expectDistinct", check.expectDistinct ? ["--expect-distinct", check.expectDistinct] : []],
  ];
  const url = checkUrl(check);
  for (const [field, args] of fields) {
    try {
      parseCommand([...args, url]);
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
      fieldError(file, `${at}.${field}`, error.message.replace(/^(-\w|--[\w-]+)(\/--[\w-]+)? /, ""));
    }
  }
}

function check(value: unknown, file: string, at: string): Check {
  if (!isMapping(value)) fieldError(file, at, "expected a mapping");
  const v = value;
  const unknown = Object.keys(v).filter((k) => !CHECK_FIELDS.includes(k));
  if (unknown.length > 0) fieldError(file, `${at}.${unknown[0]}`, `unknown field (known: ${CHECK_FIELDS.join(", ")})`);
  if (typeof v.name !== "string" || v.name.trim() === "") fieldError(file, `${at}.name`, "expected a non-empty string");
  bounded(v.name, file, `${at}.name`, CHECKS_SIZE_LIMITS.name, true);
  if (typeof v.path !== "string" || !PLAIN_PATH.test(v.path)) {
    fieldError(file, `${at}.path`, `expected a plain absolute path such as /env/version, got ${shown(v.path)}`);
  }
  bounded(v.path, file, `${at}.path`, CHECKS_SIZE_LIMITS.path);
  const service = optionalString(v.service, file, `${at}.service`) ?? DEFAULT_SERVICE;
  if (!SERVICE_HOST.test(service) || service.length > 253)
    fieldError(
      file,
      `${at}.service`,
      `expected a Service host name such as flaskapp or istio-ingressgateway.istio-system, got ${shown(service)}`,
    );
  const result: Check = {
    name: v.name,
    service,
    path: v.path,
    headers: {},
    requests: integer(v.requests, file, `${at}.requests`, CHECK_LIMITS.requests),
    concurrency: integer(v.concurrency, file, `${at}.concurrency`, CHECK_LIMITS.concurrency, 1),
    expect: stringList(v.expect, file, `${at}.expect`),
    expectLatency: stringList(v.expectLatency, file, `${at}.expectLatency`),
  };
  const distinct =
    v.expectDistinct === undefined ? undefined : optionalString(String(v.expectDistinct), file, `${at}.expectDistinct`);
  if (distinct !== undefined) result.expectDistinct = distinct;
  if (
    result.expect.length + result.expectLatency.length === 0 &&
    distinct === undefined &&
    v.mirroredTo === undefined
  ) {
    fieldError(file, `${at}.expect`, "a check needs at least one of expect, expectLatency, expectDistinct, mirroredTo");
  }
  const method = optionalString(v.method, file, `${at}.method`);
  if (method !== undefined) result.method = method;
  if (v.headers !== undefined) {
    if (!isMapping(v.headers)) fieldError(file, `${at}.headers`, "expected a mapping of header names to values");
    if (Object.keys(v.headers).length > CHECKS_SIZE_LIMITS.entries)
      fieldError(file, `${at}.headers`, `more than ${CHECKS_SIZE_LIMITS.entries} headers`);
    for (const [name, hv] of Object.entries(v.headers)) {
      bounded(name, file, `${at}.headers`, CHECKS_SIZE_LIMITS.text);
      if (typeof hv !== "string")
        fieldError(file, `${at}.headers.${name}`, `expected a string value, got ${shown(hv)}`);
      result.headers[name] = bounded(hv, file, `${at}.headers.${name}`, CHECKS_SIZE_LIMITS.text);
    }
  }
  const by = optionalString(v.by, file, `${at}.by`);
  if (by !== undefined) result.by = by;
  const timeout = optionalString(v.timeout, file, `${at}.timeout`);
  if (timeout !== undefined) result.timeout = timeout;
  if (v.mirroredTo !== undefined) {
    const m = v.mirroredTo;
    if (!isMapping(m) || typeof m.deployment !== "string")
      fieldError(
        file,
        `${at}.mirroredTo.deployment`,
        "expected the name of the Deployment receiving the mirrored requests",
      );
    bounded(m.deployment, file, `${at}.mirroredTo.deployment`, CHECKS_SIZE_LIMITS.text, true);
    const extra = Object.keys(m).find((k) => k !== "deployment" && k !== "atLeastPercent");
    if (extra) fieldError(file, `${at}.mirroredTo.${extra}`, "unknown field (known: deployment, atLeastPercent)");
    result.mirroredTo = {
      deployment: m.deployment,
      atLeastPercent: integer(m.atLeastPercent, file, `${at}.mirroredTo.atLeastPercent`, { min: 1, max: 100 }),
    };
  }
  validateWithTally(result, file, at);
  return result;
}

/** Validates the parsed content of a checks file; `file` names it in errors. */
export function parseChecks(value: unknown, file: string): LessonChecks {
  if (!isMapping(value)) fieldError(file, "(top level)", "expected a mapping with summary and checks");
  const extra = Object.keys(value).find((k) => k !== "summary" && k !== "checks");
  if (extra) fieldError(file, extra, "unknown field (known: summary, checks)");
  if (typeof value.summary !== "string" || value.summary.trim() === "")
    fieldError(file, "summary", "expected one line saying what the learner observes");
  bounded(value.summary, file, "summary", CHECKS_SIZE_LIMITS.summary, true);
  if (!Array.isArray(value.checks) || value.checks.length === 0)
    fieldError(file, "checks", "expected a non-empty list of checks");
  if (value.checks.length > CHECKS_SIZE_LIMITS.checks)
    fieldError(file, "checks", `more than ${CHECKS_SIZE_LIMITS.checks} checks`);
  const checks = value.checks.map((c, i) => check(c, file, `checks[${i}]`));
  const names = new Set<string>();
  for (const [i, c] of checks.entries()) {
    if (names.has(c.name)) fieldError(file, `checks[${i}].name`, `duplicate name "${c.name}"`);
    names.add(c.name);
  }
  return { summary: value.summary, checks };
}

export async function loadChecks(file: string): Promise<LessonChecks> {
  let text: string;
  try {
    text = await readBoundedText(file, CHECKS_SIZE_LIMITS.fileBytes);
  } catch (error) {
    if (error instanceof OverlayError) throw new ChecksError(error.message);
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

/** The ConfigMap of a lesson's render whose data fills `${NAME}` in its checks (the egress lesson's OUTSIDE_HOST). */
export const LESSON_VARS = "lesson-vars";

const VAR = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/**
 * The checks with `${NAME}` in their path, header values and expectations filled
 * from the render's ConfigMap lesson-vars, so a value the overlay sets once (and
 * the manifests take through kustomize replacements) reaches the checks too.
 * A name the ConfigMap does not define is an error naming it.
 */
export function withLessonVars(
  checks: Check[],
  objects: ReadonlyArray<{ kind: string; metadata: { name: string }; data?: unknown }>,
): Check[] {
  const data = (objects.find((o) => o.kind === "ConfigMap" && o.metadata.name === LESSON_VARS)?.data ?? {}) as Record<
    string,
    string
  >;
  const fill = (text: string, where: string): string =>
    text.replace(VAR, (_, name: string) => {
      if (!Object.hasOwn(data, name))
        throw new ChecksError(
          `${where}: \${${name}} is not set: the lesson's render has no ConfigMap ${LESSON_VARS} with ${name}`,
        );
      return data[name]!;
    });
  return checks.map((check) => {
    const at = `check "${check.name}"`;
    const filled: Check = {
      ...check,
      path: fill(check.path, `${at}: path`),
      headers: Object.fromEntries(Object.entries(check.headers).map(([k, v]) => [k, fill(v, `${at}: headers.${k}`)])),
      expect: check.expect.map((e) => fill(e, `${at}: expect`)),
    };
    if (filled.path !== check.path && !PLAIN_PATH.test(filled.path))
      throw new ChecksError(`${at}: path ${JSON.stringify(filled.path)} is not a plain absolute path once filled`);
    // A filled header value or expectation is read again by tally's parsers, as the file's own were.
    const changed =
      Object.entries(filled.headers).some(([k, v]) => v !== check.headers[k]) ||
      filled.expect.some((e, i) => e !== check.expect[i]);
    if (changed) {
      try {
        validateWithTally(filled, `ConfigMap ${LESSON_VARS} filled into ${at}`, "");
      } catch (error) {
        throw new ChecksError((error as Error).message.replace(/: \.(\S)/, ": $1"));
      }
    }
    return filled;
  });
}

/**
 * The variables the checks read through flaskapp's /env/NAME, wherever the path names one
 * (`/env/version`, or inside a fetched URL: `/fetch?url=http://flaskapp/env/POD_NAME`).
 */
export function envNamesRead(checks: readonly Pick<Check, "path">[]): string[] {
  const names = new Set<string>();
  for (const { path } of checks) {
    let decoded = path;
    try {
      decoded = decodeURIComponent(path);
    } catch {
      // a malformed escape: the path as written
    }
    for (const text of [path, decoded])
      for (const m of text.matchAll(/\/env\/([A-Za-z_][A-Za-z0-9_]*)/g)) names.add(m[1]!);
  }
  return [...names];
}

/** The URL the sleep pod calls for a check: http://<service><path>. */
export function checkUrl(check: Pick<Check, "service" | "path">): string {
  return `http://${check.service}${check.path}`;
}

/**
 * The tally command line for a check, as typed in the sleep pod; the URL is
 * always the last argument. `runId` tags a mirror check's requests
 * (x-request-id) so their mirrored copies can be found in the logs.
 */
export function tallyArgs(check: Check, runId?: string): string[] {
  const args = ["-n", String(check.requests), "-c", String(check.concurrency)];
  if (check.method) args.push("-X", check.method);
  if (check.by) args.push("--by", check.by);
  if (check.timeout) args.push("--timeout", check.timeout);
  for (const [name, value] of Object.entries(check.headers)) args.push("-H", `${name}: ${value}`);
  if (check.mirroredTo && runId) args.push("-H", `${RUN_ID_HEADER}: ${runId}`);
  for (const e of check.expect) args.push("--expect", e);
  for (const e of check.expectLatency) args.push("--expect-latency", e);
  if (check.expectDistinct) args.push("--expect-distinct", check.expectDistinct);
  args.push(checkUrl(check));
  return args;
}

export interface MirroredCopies {
  /** Request lines carrying the run's x-request-id. */
  copies: number;
  /** Of those, how many arrived with a Host ending in -shadow (Istio before 1.28 appends it). */
  shadowHost: number;
}

/**
 * Counts the copies of a check's requests that reached the mirror Deployment:
 * request lines with the run's id. Clients are never routed there, so every
 * such line is a mirrored copy, whether or not its Host has the -shadow suffix.
 */
export function countMirroredCopies(lines: Iterable<RequestLogLine>, runId: string): MirroredCopies {
  const counted = { copies: 0, shadowHost: 0 };
  for (const line of lines) {
    if (line.msg !== "request" || line.requestId !== runId) continue;
    counted.copies++;
    if (typeof line.host === "string" && line.host.replace(/:\d+$/, "").endsWith("-shadow")) counted.shadowHost++;
  }
  return counted;
}

/** The number of mirrored copies a mirror check needs to see, for `requests` sent. */
export function mirroredNeeded(check: Pick<Check, "requests" | "mirroredTo">): number {
  return Math.ceil((check.requests * (check.mirroredTo?.atLeastPercent ?? 0)) / 100);
}
