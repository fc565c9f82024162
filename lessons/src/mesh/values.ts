// Readers of the values a rule holds, shared by both APIs' readers: numbers, strings,
// durations, string matches, hosts, namespaces and retry policies. Each returns the
// value or throws a RuleError naming the object and field.
import { isIP } from "node:net";
import { isIntegerIn, rangeText } from "#common/bounded.ts";
import type { K8sObject } from "../core/kustomize.ts";
import { CLUSTER_DOMAIN, RuleError, type StringMatch } from "./model.ts";
import type { IstioRelease, RetryPolicy } from "./releases.ts";

export function fail(where: string, message: string): never {
  throw new RuleError(`${where}: ${message}`);
}

const GO_UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};
const GO_DURATION_PART = /(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;

/**
 * A duration as Istio reads one in a rule: Go's time.ParseDuration grammar, which the
 * protobuf JSON decoder Istio uses applies to google.protobuf.Duration (golang/protobuf
 * jsonpb/decode.go), so `1s`, `500ms`, `1.5s`, `1m30s` and `0`, as Istio's own docs write
 * outlier intervals (`5m`); in milliseconds (rounded), undefined for anything else. A sign
 * is refused: no rule field takes a negative duration.
 */
export function parseIstioDuration(text: string): number | undefined {
  if (text === "0") return 0;
  let ms = 0;
  let at = 0;
  while (at < text.length) {
    GO_DURATION_PART.lastIndex = at;
    const part = GO_DURATION_PART.exec(text);
    if (!part) return undefined;
    ms += Number(part[1]) * GO_UNIT_MS[part[2]!]!;
    at = GO_DURATION_PART.lastIndex;
  }
  return at > 0 && Number.isFinite(ms) ? Math.round(ms) : undefined;
}

export function durationField(value: unknown, where: string): number {
  const ms = typeof value === "string" ? parseIstioDuration(value) : undefined;
  if (ms === undefined) fail(where, `expected a duration such as 1s, 500ms or 1m30s, got ${JSON.stringify(value)}`);
  return ms;
}

export function intField(value: unknown, where: string, min: number, max: number): number {
  if (!isIntegerIn(value, { min, max }))
    fail(where, `expected an integer ${rangeText({ min, max })}, got ${JSON.stringify(value)}`);
  return value;
}

export function stringField(value: unknown, where: string): string {
  if (typeof value !== "string" || value === "")
    fail(where, `expected a non-empty string, got ${JSON.stringify(value)}`);
  return value;
}

/** A `percentage: {value}`; absent, `absent` (100 for a mirror; 0 for faults, as Istio leaves Envoy's fraction unset). */
export function percentField(value: unknown, where: string, absent: number): number {
  if (value === undefined) return absent;
  const v = (value as { value?: unknown }).value;
  if (typeof v !== "number" || v < 0 || v > 100)
    fail(`${where}.value`, `expected a number from 0 to 100, got ${JSON.stringify(v)}`);
  return v;
}

export function stringMap(value: unknown, where: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries((value ?? {}) as Record<string, unknown>))
    out[k] = stringField(v, `${where}.${k}`);
  return out;
}

/**
 * A header or query parameter match: as stringMatch, and also Envoy's present_match,
 * which Istio makes of an empty match and of the regex `*` (canBeConvertedToPresentMatch).
 */
export function presenceOrStringMatch(value: unknown, where: string): StringMatch {
  const entries = Object.entries((value ?? {}) as Record<string, unknown>);
  if (entries.length === 0) return { present: true };
  if (entries.length === 1 && entries[0]![0] === "regex" && entries[0]![1] === "*") return { present: true };
  return stringMatch(value, where);
}

export function stringMatch(value: unknown, where: string): StringMatch {
  const entries = Object.entries((value ?? {}) as Record<string, unknown>);
  if (entries.length !== 1) fail(where, "expected exactly one of exact, prefix, regex");
  const [kind, text] = entries[0]!;
  if (typeof text !== "string") fail(`${where}.${kind}`, "expected a string");
  if (kind === "exact") return { exact: text };
  if (kind === "prefix") return { prefix: text };
  return { regex: fullRegex(text, `${where}.regex`) };
}

/** A regex match as Envoy's safe_regex does it: the whole value must match. */
export function fullRegex(text: string, where: string): RegExp {
  try {
    return new RegExp(`^(?:${text})$`);
  } catch {
    fail(where, `not a valid regular expression: ${text}`);
  }
}

/**
 * Istio's host resolution (ResolveShortnameToFQDN): a name without a dot is a Service in the
 * rule's namespace; `*`, an IP address and anything with a dot are taken as written, so
 * `name.namespace` is no short form of a Service.
 */
export function resolveHost(host: string, namespace: string): string {
  if (host === "*" || host.includes(".") || isIP(host) !== 0) return host.toLowerCase();
  return `${host.toLowerCase()}.${namespace}.svc.${CLUSTER_DOMAIN}`;
}

export function objectNamespace(obj: K8sObject): string {
  return obj.metadata.namespace ?? "default";
}

export const RETRY_ON = new Set([
  "5xx",
  "gateway-error",
  "connect-failure",
  "reset",
  "retriable-4xx",
  "retriable-status-codes",
  "reset-before-request",
  "refused-stream",
  "unavailable",
  "cancelled",
  "deadline-exceeded",
  "resource-exhausted",
]);

export function retryPolicy(value: any, where: string, release: IstioRelease): RetryPolicy {
  const fallback = release.defaultRetry;
  if (value === undefined) return fallback;
  // An unset attempts is proto3's 0: Istio then disables retries for the route, and its validation refuses anything else beside it.
  const attempts = intField(value.attempts ?? 0, `${where}.attempts`, 0, 100);
  const beside = ["perTryTimeout", "retryOn"].filter((k) => value[k] !== undefined);
  // One locality here, so there is no other locality to retry in (docs/mesh-preview.md, retry-attempts).
  if (value.retryRemoteLocalities !== undefined && typeof value.retryRemoteLocalities !== "boolean")
    fail(
      `${where}.retryRemoteLocalities`,
      `expected true or false, got ${JSON.stringify(value.retryRemoteLocalities)}`,
    );
  if (attempts === 0 && beside.length > 0)
    fail(`${where}`, `${beside.join(" and ")} with attempts 0 (retries disabled): Istio rejects the rule`);
  const words: string[] =
    typeof value.retryOn === "string"
      ? value.retryOn
          .split(",")
          .map((w: string) => w.trim())
          .filter((w: string) => w !== "")
      : [...fallback.retryOn];
  const retryOn: string[] = [];
  const retriableStatusCodes: number[] = value.retryOn === undefined ? [...fallback.retriableStatusCodes] : [];
  for (const word of words) {
    if (/^\d{3}$/.test(word)) retriableStatusCodes.push(Number(word));
    else if (RETRY_ON.has(word)) retryOn.push(word);
    else fail(`${where}.retryOn`, `${word} is not a retry condition (${[...RETRY_ON].join(", ")}, or a status code)`);
  }
  if (retriableStatusCodes.length > 0 && !retryOn.includes("retriable-status-codes"))
    retryOn.push("retriable-status-codes");
  const policy: RetryPolicy = { attempts, retryOn, retriableStatusCodes };
  if (value.perTryTimeout !== undefined)
    policy.perTryTimeoutMs = durationField(value.perTryTimeout, `${where}.perTryTimeout`);
  return policy;
}
