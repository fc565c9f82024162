// Turns a rendered overlay into the configuration the mesh preview applies:
// Services and outside hosts, VirtualServices, DestinationRules, Gateways,
// ServiceEntries and the namespace's outbound policy (Sidecar). Every field
// present in a rule must be one the preview models: a field Istio does not
// have is reported as such (the API server would reject it), a real field the
// preview does not implement as "not modelled", so a rule is never silently
// previewed as something it is not.
import { isIP } from "node:net";
import { isIntegerIn, rangeText } from "#common/bounded.ts";
import { labelsMatch, type K8sObject } from "../core/kustomize.ts";
import ISTIO_FIELDS from "./istio-fields.json" with { type: "json" };
import { gatewayApiConfig } from "./gateway-api.ts";
import { NEWEST_RELEASE, type IstioRelease, type RetryPolicy } from "./releases.ts";

export type { RetryPolicy } from "./releases.ts";

export class RuleError extends Error {}

export type Labels = Record<string, string>;
export type StringMatch = { exact: string } | { prefix: string } | { regex: RegExp };
/**
 * A path match. `pathSeparatedPrefix` is Envoy's path_separated_prefix, which Istio uses
 * for a prefix under Gateway API semantics: the path (without query) is the prefix or
 * continues it with `/` (`/legacy` matches `/legacy` and `/legacy/x`, not `/legacyx`).
 */
export type UriMatch = StringMatch | { pathSeparatedPrefix: string };

export interface RequestMatch {
  uri?: UriMatch;
  method?: StringMatch;
  /** Lower-case header names. */
  headers: Record<string, StringMatch>;
  /** The calling workload's labels (sidecars only). */
  sourceLabels?: Labels;
}

export interface Destination {
  /** Fully qualified host: flaskapp.istio-lessons.svc.cluster.local, or an outside host. */
  host: string;
  subset?: string;
}

export interface HeaderOperations {
  set: Record<string, string>;
  add: Record<string, string>;
  remove: string[];
}

export interface HeaderRules {
  request?: HeaderOperations;
  response?: HeaderOperations;
}

export interface WeightedDestination {
  destination: Destination;
  weight: number;
  headers?: HeaderRules;
}

export interface FaultPolicy {
  delay?: { fixedDelayMs: number; percent: number };
  abort?: { httpStatus: number; percent: number };
}

export interface Redirect {
  uri?: string;
  authority?: string;
  port?: number;
  scheme?: string;
  /** Envoy's redirect prefix_rewrite: the matched prefix of the path is replaced (Gateway API ReplacePrefixMatch). */
  prefixRewrite?: string;
  status: number;
}

export interface HttpRoute {
  /** Where the route comes from, for errors and for explaining decisions: `VirtualService flaskapp http[0]`. */
  source: string;
  name?: string;
  match: RequestMatch[];
  route: WeightedDestination[];
  redirect?: Redirect;
  /** `uriRegex` is Envoy's regex_rewrite of the path (Istio's uriRegexRewrite); the query string is kept. */
  rewrite?: { uri?: string; authority?: string; uriRegex?: { match: RegExp; rewrite: string } };
  headers?: HeaderRules;
  timeoutMs?: number;
  retries: RetryPolicy;
  fault?: FaultPolicy;
  mirror?: { destination: Destination; percent: number };
}

export type LoadBalancer = { simple: "ROUND_ROBIN" | "LEAST_REQUEST" | "RANDOM" } | { consistentHash: { httpHeaderName: string } };

export interface ConnectionPool {
  maxConnections?: number;
  http1MaxPendingRequests?: number;
  maxRequestsPerConnection?: number;
}

export interface OutlierDetection {
  consecutive5xxErrors: number;
  intervalMs: number;
  baseEjectionTimeMs: number;
  maxEjectionPercent: number;
}

export interface TrafficPolicy {
  loadBalancer: LoadBalancer;
  connectionPool: ConnectionPool;
  outlierDetection?: OutlierDetection;
}

export interface Subset {
  name: string;
  labels: Labels;
  trafficPolicy: TrafficPolicy;
}

export interface DestinationPolicy {
  /** `DestinationRule flaskapp`, or undefined for the defaults. */
  source?: string;
  trafficPolicy: TrafficPolicy;
  subsets: Map<string, Subset>;
}

/** A host the mesh knows: a Kubernetes Service, an outside host from a ServiceEntry, or a gateway's Service. */
export interface MeshService {
  host: string;
  kind: "kubernetes" | "external";
  name: string;
  namespace: string;
  port: number;
  /** Pods it selects (Kubernetes Services); none for outside hosts. */
  selector?: Labels;
}

export interface VirtualHost {
  /** `VirtualService flaskapp` */
  source: string;
  namespace: string;
  /** Hosts as written, resolved: FQDN for Services, literal for outside and gateway hosts. */
  hosts: string[];
  /** `mesh` for sidecars, `namespace/name` for gateways. */
  gateways: string[];
  routes: HttpRoute[];
}

export interface GatewayServer {
  port: number;
  hosts: string[];
}

export interface IngressGateway {
  /** `namespace/name` */
  name: string;
  /** Labels of the gateway pods it configures (`istio: ingressgateway`). */
  selector: Labels;
  servers: GatewayServer[];
}

export type OutboundMode = "ALLOW_ANY" | "REGISTRY_ONLY";

/** Gateway pods the preview runs (as a proxy) and the Service in front of them. */
export interface GatewayDeployment {
  name: string;
  namespace: string;
  labels: Labels;
  /** The Service port, which Gateway servers and listeners name. */
  port: number;
}

/** The demo profile's ingress gateway: Service istio-ingressgateway in istio-system, pods labelled istio: ingressgateway. */
export const DEMO_INGRESS_GATEWAY: GatewayDeployment = { name: "istio-ingressgateway", namespace: "istio-system", labels: { app: "istio-ingressgateway", istio: "ingressgateway" }, port: 80 };

export interface MeshConfig {
  release: IstioRelease;
  services: Map<string, MeshService>;
  virtualHosts: VirtualHost[];
  destinations: Map<string, DestinationPolicy>;
  gateways: IngressGateway[];
  /** The gateway pods the rules need: the demo profile's ingress gateway for an Istio Gateway selecting it. */
  gatewayDeployments: GatewayDeployment[];
  /** Per namespace, from a Sidecar without workloadSelector; ALLOW_ANY when none (Istio's default). */
  outbound: Map<string, OutboundMode>;
}

export const CLUSTER_DOMAIN = "cluster.local";

/** Istio's default load balancer (LEAST_REQUEST since 1.14). */
export const DEFAULT_LOAD_BALANCER: LoadBalancer = { simple: "LEAST_REQUEST" };

// Istio's outlier detection defaults when outlierDetection is present but a field is not.
const OUTLIER_DEFAULTS = { consecutive5xxErrors: 5, intervalMs: 10_000, baseEjectionTimeMs: 30_000, maxEjectionPercent: 10 };

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

// ---- which fields exist, which the preview models ---------------------------

// A leaf is `true`; `{ "*": x }` is a map with any key; an array holds the shape of its items.
export type Shape = true | { [key: string]: Shape } | Shape[];

type RuleKind = "VirtualService" | "DestinationRule" | "Gateway" | "ServiceEntry" | "Sidecar";

/** Every field of the networking.istio.io/v1 kinds, from Istio's CRD schemas (generate-istio-fields.ts). */
export const ISTIO_SCHEMA = ISTIO_FIELDS.kinds as unknown as Record<RuleKind, Shape>;

const STRING_MATCH: Shape = { exact: true, prefix: true, regex: true };
const DESTINATION: Shape = { host: true, subset: true, port: { number: true } };
const PERCENT: Shape = { value: true };
const HEADER_OPERATIONS: Shape = { set: { "*": true }, add: { "*": true }, remove: [true] };
const HEADERS: Shape = { request: HEADER_OPERATIONS, response: HEADER_OPERATIONS };
const TRAFFIC_POLICY: Shape = {
  loadBalancer: { simple: true, consistentHash: { httpHeaderName: true } },
  connectionPool: {
    tcp: { maxConnections: true },
    http: { http1MaxPendingRequests: true, maxRequestsPerConnection: true },
  },
  outlierDetection: { consecutive5xxErrors: true, interval: true, baseEjectionTime: true, maxEjectionPercent: true },
};

/** The fields the preview implements; anything else present is an error. */
export const MODELLED_FIELDS: Record<RuleKind, Shape> = {
  VirtualService: {
    hosts: true,
    gateways: true,
    http: [
      {
        name: true,
        match: [{ name: true, uri: STRING_MATCH, method: STRING_MATCH, headers: { "*": STRING_MATCH }, sourceLabels: { "*": true } }],
        route: [{ destination: DESTINATION, weight: true, headers: HEADERS }],
        redirect: { uri: true, authority: true, port: true, scheme: true, redirectCode: true },
        rewrite: { uri: true, authority: true },
        headers: HEADERS,
        timeout: true,
        retries: { attempts: true, perTryTimeout: true, retryOn: true },
        fault: { delay: { fixedDelay: true, percentage: PERCENT }, abort: { httpStatus: true, percentage: PERCENT } },
        mirror: DESTINATION,
        mirrorPercentage: PERCENT,
      },
    ],
  },
  DestinationRule: {
    host: true,
    trafficPolicy: TRAFFIC_POLICY,
    subsets: [{ name: true, labels: { "*": true }, trafficPolicy: TRAFFIC_POLICY }],
  },
  Gateway: { selector: { "*": true }, servers: [{ port: { number: true, name: true, protocol: true }, hosts: [true] }] },
  ServiceEntry: { hosts: [true], ports: [{ number: true, name: true, protocol: true }], resolution: true, location: true },
  Sidecar: { outboundTrafficPolicy: { mode: true } },
};

/** Lists the paths of fields present in `value` that `shape` does not allow. */
export function fieldsOutside(value: unknown, shape: Shape, path: string): string[] {
  if (shape === true || value === null || value === undefined) return [];
  if (Array.isArray(shape)) {
    if (!Array.isArray(value)) return [];
    return value.flatMap((item, i) => fieldsOutside(item, shape[0]!, `${path}[${i}]`));
  }
  if (typeof value !== "object" || Array.isArray(value)) return [];
  return Object.entries(value as Record<string, unknown>).flatMap(([key, child]) => {
    const childShape = shape[key] ?? shape["*"];
    if (childShape === undefined) return [`${path}.${key}`];
    return fieldsOutside(child, childShape, `${path}.${key}`);
  });
}

/** Advice for a field Istio renamed (the old one is deprecated or ignored), from its path: `use mirrorPercentage`. */
export function deprecatedField(path: string, value?: unknown): string | undefined {
  const key = path.split(".").at(-1)!.replace(/\[\d+\]$/, "");
  if (key === "mirrorPercent" || key === "mirror_percent") return "use mirrorPercentage";
  if (key === "consecutiveErrors") return "use consecutive5xxErrors";
  if (key === "percent" && path.includes(".fault.")) return "use percentage";
  if (key === "simple" && value === "LEAST_CONN") return "use LEAST_REQUEST";
  return undefined;
}

/** The fields of one kind: all the API has (`schema`), those the preview models, and where both come from. */
export interface KindFields {
  /** `networking.istio.io/v1 VirtualService` */
  api: string;
  /** Whose field a real but unmodelled one is: `Istio`, `Gateway API`. */
  owner: string;
  /** The document listing what the preview models. */
  docs: string;
  schema: Shape;
  modelled: Shape;
}

function istioFields(kind: RuleKind): KindFields {
  return { api: `networking.istio.io/v1 ${kind}`, owner: "Istio", docs: "docs/mesh-preview.md", schema: ISTIO_SCHEMA[kind], modelled: MODELLED_FIELDS[kind] };
}

/** Refuses an object with a field its API does not have (a typo) or one the preview does not model. */
export function checkFields(obj: K8sObject, fields: KindFields): void {
  const where = `${obj.kind} ${obj.metadata.name}`;
  const unknown = fieldsOutside(obj.spec, fields.schema, "spec");
  if (unknown.length > 0) {
    fail(where, `${unknown.join(", ")}: no such field in ${fields.api} (check the spelling); a cluster rejects it too: strict decoding error: unknown field "${unknown[0]}"`);
  }
  const unmodelled = fieldsOutside(obj.spec, fields.modelled, "spec");
  const deprecated = unmodelled.flatMap((path) => {
    const advice = deprecatedField(path);
    return advice ? [`${path}: deprecated, ${advice}`] : [];
  });
  if (deprecated.length > 0) fail(where, deprecated.join("; "));
  if (unmodelled.length > 0) {
    fail(where, `${unmodelled.join(", ")}: a real ${fields.owner} field the mesh preview does not model (${fields.docs} lists what it does); try it on a cluster`);
  }
}

// ---- values ------------------------------------------------------------------

export function fail(where: string, message: string): never {
  throw new RuleError(`${where}: ${message}`);
}

const GO_UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, "μs": 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
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

function durationField(value: unknown, where: string): number {
  const ms = typeof value === "string" ? parseIstioDuration(value) : undefined;
  if (ms === undefined) fail(where, `expected a duration such as 1s, 500ms or 1m30s, got ${JSON.stringify(value)}`);
  return ms;
}

export function intField(value: unknown, where: string, min: number, max: number): number {
  if (!isIntegerIn(value, { min, max })) fail(where, `expected an integer ${rangeText({ min, max })}, got ${JSON.stringify(value)}`);
  return value;
}

export function stringField(value: unknown, where: string): string {
  if (typeof value !== "string" || value === "") fail(where, `expected a non-empty string, got ${JSON.stringify(value)}`);
  return value;
}

/** A `percentage: {value}`; absent, `absent` (100 for a mirror; 0 for faults, as Istio leaves Envoy's fraction unset). */
function percentField(value: unknown, where: string, absent: number): number {
  if (value === undefined) return absent;
  const v = (value as { value?: unknown }).value;
  if (typeof v !== "number" || v < 0 || v > 100) fail(`${where}.value`, `expected a number from 0 to 100, got ${JSON.stringify(v)}`);
  return v;
}

function stringMap(value: unknown, where: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries((value ?? {}) as Record<string, unknown>)) out[k] = stringField(v, `${where}.${k}`);
  return out;
}

function stringMatch(value: unknown, where: string): StringMatch {
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

function headerOperations(value: any, where: string): HeaderOperations {
  const remove = value?.remove ?? [];
  if (!Array.isArray(remove)) fail(`${where}.remove`, "expected a list of header names");
  return {
    set: stringMap(value?.set, `${where}.set`),
    add: stringMap(value?.add, `${where}.add`),
    remove: remove.map((h: unknown, i: number) => stringField(h, `${where}.remove[${i}]`).toLowerCase()),
  };
}

function headerRules(value: any, where: string): HeaderRules | undefined {
  if (value === undefined) return undefined;
  const rules: HeaderRules = {};
  if (value.request !== undefined) rules.request = headerOperations(value.request, `${where}.request`);
  if (value.response !== undefined) rules.response = headerOperations(value.response, `${where}.response`);
  return rules;
}

interface Context {
  namespace: string;
  release: IstioRelease;
}

function destination(value: any, where: string, ctx: Context): Destination {
  const host = resolveHost(stringField(value?.host, `${where}.host`), ctx.namespace);
  return value.subset === undefined ? { host } : { host, subset: stringField(value.subset, `${where}.subset`) };
}

export function retryPolicy(value: any, where: string, release: IstioRelease): RetryPolicy {
  const fallback = release.defaultRetry;
  if (value === undefined) return fallback;
  // An unset attempts is proto3's 0: Istio then disables retries for the route, and its validation refuses anything else beside it.
  const attempts = intField(value.attempts ?? 0, `${where}.attempts`, 0, 100);
  const beside = ["perTryTimeout", "retryOn"].filter((k) => value[k] !== undefined);
  if (attempts === 0 && beside.length > 0) fail(`${where}`, `${beside.join(" and ")} with attempts 0 (retries disabled): Istio rejects the rule`);
  const words: string[] = typeof value.retryOn === "string" ? value.retryOn.split(",").map((w: string) => w.trim()) : [...fallback.retryOn];
  const retryOn: string[] = [];
  const retriableStatusCodes: number[] = value.retryOn === undefined ? [...fallback.retriableStatusCodes] : [];
  for (const word of words) {
    if (/^\d{3}$/.test(word)) retriableStatusCodes.push(Number(word));
    else if (RETRY_ON.has(word)) retryOn.push(word);
    else fail(`${where}.retryOn`, `${word} is not a retry condition (${[...RETRY_ON].join(", ")}, or a status code)`);
  }
  if (retriableStatusCodes.length > 0 && !retryOn.includes("retriable-status-codes")) retryOn.push("retriable-status-codes");
  const policy: RetryPolicy = { attempts, retryOn, retriableStatusCodes };
  if (value.perTryTimeout !== undefined) policy.perTryTimeoutMs = durationField(value.perTryTimeout, `${where}.perTryTimeout`);
  return policy;
}

function requestMatch(m: any, at: string): RequestMatch {
  const result: RequestMatch = { headers: {} };
  if (m.uri !== undefined) result.uri = stringMatch(m.uri, `${at}.uri`);
  if (m.method !== undefined) result.method = stringMatch(m.method, `${at}.method`);
  for (const [name, hm] of Object.entries(m.headers ?? {})) result.headers[name.toLowerCase()] = stringMatch(hm, `${at}.headers.${name}`);
  if (m.sourceLabels !== undefined) result.sourceLabels = stringMap(m.sourceLabels, `${at}.sourceLabels`);
  return result;
}

const REDIRECT_CODES = [0, 301, 302, 303, 307, 308];

function redirect(value: any, where: string): Redirect {
  // Istio turns 0 (unset) into 301 and drops a route with any code but 301, 302, 303, 307 and 308.
  const code = value.redirectCode ?? 0;
  if (!REDIRECT_CODES.includes(code)) fail(`${where}.redirectCode`, `expected one of ${REDIRECT_CODES.slice(1).join(", ")}, got ${JSON.stringify(code)}`);
  const result: Redirect = { status: code === 0 ? 301 : code };
  if (value.uri !== undefined) result.uri = stringField(value.uri, `${where}.uri`);
  if (value.authority !== undefined) result.authority = stringField(value.authority, `${where}.authority`);
  if (value.port !== undefined) result.port = intField(value.port, `${where}.port`, 1, 65535);
  if (value.scheme !== undefined) result.scheme = stringField(value.scheme, `${where}.scheme`);
  return result;
}

function httpRoute(value: any, source: string, where: string, ctx: Context): HttpRoute {
  const routes: any[] = Array.isArray(value.route) ? value.route : [];
  if (value.redirect !== undefined && routes.length > 0) fail(`${where}`, "a route has either redirect or route, not both");
  if (value.redirect === undefined && routes.length === 0) fail(`${where}.route`, "expected at least one destination (or a redirect)");
  const route: WeightedDestination[] = routes.map((r, i) => {
    const at = `${where}.route[${i}]`;
    // Weights are relative: each destination gets weight / sum. A lone destination takes everything, whatever its weight.
    const given = r.weight === undefined ? 0 : intField(r.weight, `${at}.weight`, 0, 2 ** 31 - 1);
    const weight = routes.length === 1 ? 100 : given;
    const wd: WeightedDestination = { destination: destination(r.destination, `${at}.destination`, ctx), weight };
    const headers = headerRules(r.headers, `${at}.headers`);
    if (headers) wd.headers = headers;
    return wd;
  });
  if (route.length > 0 && route.every((r) => r.weight === 0)) fail(`${where}.route`, "the weights add up to 0: Istio rejects a route no request can take");
  const result: HttpRoute = {
    source,
    match: (value.match ?? []).map((m: any, i: number) => requestMatch(m, `${where}.match[${i}]`)),
    route,
    retries: retryPolicy(value.retries, `${where}.retries`, ctx.release),
  };
  if (value.name !== undefined) result.name = String(value.name);
  if (value.redirect !== undefined) result.redirect = redirect(value.redirect, `${where}.redirect`);
  if (value.rewrite !== undefined) {
    result.rewrite = {};
    if (value.rewrite.uri !== undefined) result.rewrite.uri = stringField(value.rewrite.uri, `${where}.rewrite.uri`);
    if (value.rewrite.authority !== undefined) result.rewrite.authority = stringField(value.rewrite.authority, `${where}.rewrite.authority`);
  }
  const headers = headerRules(value.headers, `${where}.headers`);
  if (headers) result.headers = headers;
  if (value.timeout !== undefined) result.timeoutMs = durationField(value.timeout, `${where}.timeout`);
  if (value.fault !== undefined) {
    const fault: FaultPolicy = {};
    const { delay, abort } = value.fault;
    if (delay !== undefined) {
      fault.delay = { fixedDelayMs: durationField(delay.fixedDelay, `${where}.fault.delay.fixedDelay`), percent: percentField(delay.percentage, `${where}.fault.delay.percentage`, 0) };
    }
    if (abort !== undefined) {
      fault.abort = { httpStatus: intField(abort.httpStatus, `${where}.fault.abort.httpStatus`, 200, 599), percent: percentField(abort.percentage, `${where}.fault.abort.percentage`, 0) };
    }
    result.fault = fault;
  }
  if (value.mirror !== undefined) {
    result.mirror = { destination: destination(value.mirror, `${where}.mirror`, ctx), percent: percentField(value.mirrorPercentage, `${where}.mirrorPercentage`, 100) };
  } else if (value.mirrorPercentage !== undefined) {
    fail(`${where}.mirrorPercentage`, "set without a mirror");
  }
  return result;
}

const SIMPLE_BALANCERS = ["ROUND_ROBIN", "LEAST_REQUEST", "RANDOM"];

/** Reads a DR trafficPolicy; fields it leaves out come from `base` (a subset inherits the rule's policy field by field). */
function trafficPolicy(value: any, where: string, base: TrafficPolicy): TrafficPolicy {
  if (value === undefined) return base;
  const policy: TrafficPolicy = { ...base };
  if (value.loadBalancer !== undefined) {
    const { simple, consistentHash } = value.loadBalancer;
    if (consistentHash !== undefined) {
      if (simple !== undefined) fail(`${where}.loadBalancer`, "set simple or consistentHash, not both");
      policy.loadBalancer = { consistentHash: { httpHeaderName: stringField(consistentHash.httpHeaderName, `${where}.loadBalancer.consistentHash.httpHeaderName`).toLowerCase() } };
    } else {
      if (!SIMPLE_BALANCERS.includes(simple)) {
        const hint = simple === "LEAST_CONN" ? " (LEAST_CONN is the old name of LEAST_REQUEST)" : "";
        fail(`${where}.loadBalancer.simple`, `expected one of ${SIMPLE_BALANCERS.join(", ")}, got ${JSON.stringify(simple)}${hint}`);
      }
      policy.loadBalancer = { simple };
    }
  }
  if (value.connectionPool !== undefined) {
    const { tcp, http } = value.connectionPool;
    const pool: ConnectionPool = {};
    const limit = (v: unknown, field: string) => (v === undefined ? undefined : intField(v, `${where}.connectionPool.${field}`, 1, 2 ** 32 - 1));
    const maxConnections = limit(tcp?.maxConnections, "tcp.maxConnections");
    const pending = limit(http?.http1MaxPendingRequests, "http.http1MaxPendingRequests");
    const perConnection = http?.maxRequestsPerConnection === 0 ? undefined : limit(http?.maxRequestsPerConnection, "http.maxRequestsPerConnection");
    if (maxConnections !== undefined) pool.maxConnections = maxConnections;
    if (pending !== undefined) pool.http1MaxPendingRequests = pending;
    if (perConnection !== undefined) pool.maxRequestsPerConnection = perConnection;
    policy.connectionPool = pool;
  }
  if (value.outlierDetection !== undefined) {
    const o = value.outlierDetection;
    const at = `${where}.outlierDetection`;
    policy.outlierDetection = {
      consecutive5xxErrors: o.consecutive5xxErrors === undefined ? OUTLIER_DEFAULTS.consecutive5xxErrors : intField(o.consecutive5xxErrors, `${at}.consecutive5xxErrors`, 0, 2 ** 32 - 1),
      intervalMs: o.interval === undefined ? OUTLIER_DEFAULTS.intervalMs : durationField(o.interval, `${at}.interval`),
      baseEjectionTimeMs: o.baseEjectionTime === undefined ? OUTLIER_DEFAULTS.baseEjectionTimeMs : durationField(o.baseEjectionTime, `${at}.baseEjectionTime`),
      maxEjectionPercent: o.maxEjectionPercent === undefined ? OUTLIER_DEFAULTS.maxEjectionPercent : intField(o.maxEjectionPercent, `${at}.maxEjectionPercent`, 0, 100),
    };
  }
  return policy;
}

export const DEFAULT_POLICY: TrafficPolicy = { loadBalancer: DEFAULT_LOAD_BALANCER, connectionPool: {} };

/** The policy of a host no DestinationRule names. */
export function defaultDestination(): DestinationPolicy {
  return { trafficPolicy: DEFAULT_POLICY, subsets: new Map() };
}

export function objectNamespace(obj: K8sObject): string {
  return obj.metadata.namespace ?? "default";
}

function kubernetesServices(objects: K8sObject[]): MeshService[] {
  return objects
    .filter((o) => o.kind === "Service" && o.apiVersion === "v1")
    .map((o) => {
      const namespace = objectNamespace(o);
      const service: MeshService = { host: resolveHost(o.metadata.name, namespace), kind: "kubernetes", name: o.metadata.name, namespace, port: Number(o.spec?.ports?.[0]?.port ?? 80) };
      if (o.spec?.selector) service.selector = { ...o.spec.selector };
      return service;
    });
}

function serviceEntry(obj: K8sObject): MeshService[] {
  const where = `ServiceEntry ${obj.metadata.name}`;
  const hosts: unknown[] = obj.spec?.hosts ?? [];
  if (hosts.length === 0) fail(`${where}: spec.hosts`, "expected at least one host");
  const ports: any[] = obj.spec?.ports ?? [];
  const location = obj.spec?.location ?? "MESH_EXTERNAL";
  if (location !== "MESH_EXTERNAL") fail(`${where}: spec.location`, "only MESH_EXTERNAL (a host outside the mesh) is modelled");
  const resolution = obj.spec?.resolution ?? "NONE";
  if (!["DNS", "NONE"].includes(resolution)) fail(`${where}: spec.resolution`, "only DNS and NONE are modelled");
  return hosts.map((h, i) => ({
    host: stringField(h, `${where}: spec.hosts[${i}]`).toLowerCase(),
    kind: "external" as const,
    name: String(h),
    namespace: objectNamespace(obj),
    port: ports.length > 0 ? intField(ports[0].number, `${where}: spec.ports[0].number`, 1, 65535) : 80,
  }));
}

function gateway(obj: K8sObject): IngressGateway {
  const where = `Gateway ${obj.metadata.name}`;
  const servers: any[] = obj.spec?.servers ?? [];
  return {
    name: `${objectNamespace(obj)}/${obj.metadata.name}`,
    selector: stringMap(obj.spec?.selector, `${where}: spec.selector`),
    servers: servers.map((s, i) => {
      const at = `${where}: spec.servers[${i}]`;
      const protocol = String(s.port?.protocol ?? "HTTP").toUpperCase();
      if (protocol !== "HTTP") fail(`${at}.port.protocol`, `only HTTP servers are modelled, got ${protocol}`);
      const hosts: unknown[] = s.hosts ?? [];
      if (hosts.length === 0) fail(`${at}.hosts`, "expected at least one host");
      // A server host may carry a namespace prefix (ns/host) restricting which VirtualServices bind.
      return { port: intField(s.port?.number, `${at}.port.number`, 1, 65535), hosts: hosts.map((h, j) => stringField(h, `${at}.hosts[${j}]`).replace(/^[^/]*\//, "").toLowerCase()) };
    }),
  };
}

function gatewayRef(ref: unknown, namespace: string, where: string): string {
  const name = stringField(ref, where);
  if (name === "mesh") return name;
  return name.includes("/") ? name : `${namespace}/${name}`;
}

/**
 * Builds the mesh configuration from a render. Throws RuleError naming the
 * object and field for anything it cannot model.
 */
export function meshConfig(objects: K8sObject[], release: IstioRelease = NEWEST_RELEASE): MeshConfig {
  const config: MeshConfig = { release, services: new Map(), virtualHosts: [], destinations: new Map(), gateways: [], gatewayDeployments: [], outbound: new Map() };
  for (const service of kubernetesServices(objects)) config.services.set(service.host, service);
  gatewayApiConfig(objects, config);
  for (const obj of objects) {
    if (!obj.apiVersion.startsWith("networking.istio.io/")) continue;
    const kind = obj.kind as RuleKind;
    const where = `${kind} ${obj.metadata.name}`;
    if (!(kind in MODELLED_FIELDS)) fail(where, `${kind} is not modelled by the mesh preview`);
    if (obj.apiVersion !== "networking.istio.io/v1") fail(where, `apiVersion ${obj.apiVersion}: use networking.istio.io/v1`);
    checkFields(obj, istioFields(kind));
    const ctx: Context = { namespace: objectNamespace(obj), release };
    switch (kind) {
      case "ServiceEntry":
        for (const service of serviceEntry(obj)) config.services.set(service.host, service);
        break;
      case "Gateway": {
        const gw = gateway(obj);
        if (!labelsMatch(gw.selector, DEMO_INGRESS_GATEWAY.labels)) {
          fail(where, `spec.selector ${JSON.stringify(gw.selector)} selects no gateway the preview runs (the demo profile's ${DEMO_INGRESS_GATEWAY.name} has ${JSON.stringify(DEMO_INGRESS_GATEWAY.labels)})`);
        }
        config.gateways.push(gw);
        addGatewayDeployment(config, DEMO_INGRESS_GATEWAY);
        break;
      }
      case "Sidecar": {
        if (obj.spec?.workloadSelector !== undefined) fail(where, "only a namespace-wide Sidecar (no workloadSelector) is modelled");
        const mode = obj.spec?.outboundTrafficPolicy?.mode ?? "ALLOW_ANY";
        if (mode !== "ALLOW_ANY" && mode !== "REGISTRY_ONLY") fail(`${where}: spec.outboundTrafficPolicy.mode`, `expected ALLOW_ANY or REGISTRY_ONLY, got ${JSON.stringify(mode)}`);
        config.outbound.set(ctx.namespace, mode);
        break;
      }
      case "DestinationRule": {
        const host = resolveHost(stringField(obj.spec?.host, `${where}: spec.host`), ctx.namespace);
        if (config.destinations.has(host)) fail(where, `a second DestinationRule for ${host} (the first is ${config.destinations.get(host)!.source}); Istio uses only one, so the preview refuses`);
        const policy = trafficPolicy(obj.spec.trafficPolicy, `${where}: spec.trafficPolicy`, DEFAULT_POLICY);
        const subsets = new Map<string, Subset>();
        (obj.spec.subsets ?? []).forEach((s: any, i: number) => {
          const at = `${where}: spec.subsets[${i}]`;
          const name = stringField(s.name, `${at}.name`);
          subsets.set(name, { name, labels: stringMap(s.labels, `${at}.labels`), trafficPolicy: trafficPolicy(s.trafficPolicy, `${at}.trafficPolicy`, policy) });
        });
        config.destinations.set(host, { source: where, trafficPolicy: policy, subsets });
        break;
      }
      case "VirtualService": {
        const hosts: unknown[] = obj.spec?.hosts ?? [];
        if (hosts.length === 0) fail(`${where}: spec.hosts`, "expected at least one host");
        const gateways: unknown[] = obj.spec?.gateways ?? ["mesh"];
        config.virtualHosts.push({
          source: where,
          namespace: ctx.namespace,
          hosts: hosts.map((h, i) => resolveHost(stringField(h, `${where}: spec.hosts[${i}]`), ctx.namespace)),
          gateways: gateways.map((g, i) => gatewayRef(g, ctx.namespace, `${where}: spec.gateways[${i}]`)),
          routes: (obj.spec.http ?? []).map((r: any, i: number) => httpRoute(r, `VirtualService ${obj.metadata.name} http[${i}]${r.name ? ` "${r.name}"` : ""}`, `${where}: spec.http[${i}]`, ctx)),
        });
        break;
      }
    }
  }
  checkOverlaps(config);
  return config;
}

/** Adds gateway pods to run, and the Service in front of them, once. */
export function addGatewayDeployment(config: MeshConfig, deployment: GatewayDeployment): void {
  if (config.gatewayDeployments.some((d) => d.name === deployment.name && d.namespace === deployment.namespace)) return;
  config.gatewayDeployments.push(deployment);
  const host = `${deployment.name}.${deployment.namespace}.svc.${CLUSTER_DOMAIN}`;
  config.services.set(host, { host, kind: "kubernetes", name: deployment.name, namespace: deployment.namespace, port: deployment.port, selector: { ...deployment.labels } });
}

/** Two VirtualServices for one host on one gateway: Istio merges them in an order it does not promise, so the preview refuses. */
function checkOverlaps(config: MeshConfig): void {
  const seen = new Map<string, string>();
  for (const vh of config.virtualHosts) {
    for (const gw of vh.gateways) {
      for (const host of vh.hosts) {
        const key = `${gw} ${host}`;
        const first = seen.get(key);
        if (first !== undefined && first !== vh.source) fail(vh.source, `a second VirtualService for ${host} (the first is ${first}); Istio merges these unpredictably, so the preview refuses`);
        seen.set(key, vh.source);
      }
    }
  }
}
