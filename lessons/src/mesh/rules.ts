// Turns rendered VirtualServices and DestinationRules into the routing model
// the mesh preview applies. Every field present in a rule must be one the model
// implements: anything else is an error naming the field's path, so a rule is
// never silently previewed as something it is not.
import { parseDuration } from "../../../services/common/src/duration.ts";
import type { K8sObject } from "../kustomize.ts";

export class RuleError extends Error {}

export type StringMatch = { exact: string } | { prefix: string } | { regex: RegExp };

export interface RequestMatch {
  uri?: StringMatch;
  method?: StringMatch;
  headers: Record<string, StringMatch>;
}

export interface Destination {
  /** The Service name the destination resolves to (short name). */
  service: string;
  subset?: string;
}

export interface WeightedDestination {
  destination: Destination;
  weight: number;
}

export interface RetryPolicy {
  /** Retries after the first try (Istio's `attempts`): 3 means up to 4 tries. */
  attempts: number;
  perTryTimeoutMs?: number;
  retryOn: string[];
  /** Status codes retried by `retriable-status-codes` or listed as numbers in retryOn. */
  retriableStatusCodes: number[];
}

export interface FaultPolicy {
  delay?: { fixedDelayMs: number; percent: number };
  abort?: { httpStatus: number; percent: number };
}

export interface HttpRoute {
  name: string;
  match: RequestMatch[];
  route: WeightedDestination[];
  timeoutMs?: number;
  retries: RetryPolicy;
  fault?: FaultPolicy;
  mirror?: { destination: Destination; percent: number };
}

export type LoadBalancer = "ROUND_ROBIN" | "LEAST_REQUEST" | "RANDOM";

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
  labels: Record<string, string>;
  trafficPolicy: TrafficPolicy;
}

export interface ServiceRules {
  service: string;
  /** Routes in order; the first whose match applies wins. None configured: one catch-all route. */
  routes: HttpRoute[];
  /** Traffic policy for the whole Service (no subset). */
  trafficPolicy: TrafficPolicy;
  subsets: Map<string, Subset>;
}

// Istio's retry policy for a route that sets none (pilot's retry.DefaultPolicy).
export const DEFAULT_RETRIES: RetryPolicy = {
  attempts: 2,
  retryOn: ["connect-failure", "refused-stream", "unavailable", "cancelled", "retriable-status-codes"],
  retriableStatusCodes: [503],
};

// Envoy's defaults when outlierDetection is present but a field is not.
const OUTLIER_DEFAULTS = { consecutive5xxErrors: 5, intervalMs: 10_000, baseEjectionTimeMs: 30_000, maxEjectionPercent: 10 };

export const RETRY_ON = new Set([
  "5xx",
  "gateway-error",
  "connect-failure",
  "reset",
  "retriable-4xx",
  "retriable-status-codes",
  "refused-stream",
  "unavailable",
  "cancelled",
  "deadline-exceeded",
  "resource-exhausted",
]);

// The fields the model implements. A leaf is `true`; `{ "*": x }` is a map with
// any key; an array holds the shape of its items.
type Shape = true | { [key: string]: Shape } | Shape[];

const STRING_MATCH: Shape = { exact: true, prefix: true, regex: true };
const DESTINATION: Shape = { host: true, subset: true, port: { number: true } };
const PERCENT: Shape = { value: true };
const TRAFFIC_POLICY: Shape = {
  loadBalancer: { simple: true },
  connectionPool: {
    tcp: { maxConnections: true },
    http: { http1MaxPendingRequests: true, maxRequestsPerConnection: true },
  },
  outlierDetection: { consecutive5xxErrors: true, interval: true, baseEjectionTime: true, maxEjectionPercent: true },
};

export const MODELLED_FIELDS: Record<"VirtualService" | "DestinationRule", Shape> = {
  VirtualService: {
    hosts: true,
    gateways: true,
    http: [
      {
        name: true,
        match: [{ name: true, uri: STRING_MATCH, method: STRING_MATCH, headers: { "*": STRING_MATCH } }],
        route: [{ destination: DESTINATION, weight: true }],
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
};

/** Lists the paths of fields present in `value` that `shape` does not allow. */
export function unmodelledFields(value: unknown, shape: Shape, path: string): string[] {
  if (shape === true || value === null || value === undefined) return [];
  if (Array.isArray(shape)) {
    if (!Array.isArray(value)) return [];
    return value.flatMap((item, i) => unmodelledFields(item, shape[0]!, `${path}[${i}]`));
  }
  if (typeof value !== "object" || Array.isArray(value)) return [];
  return Object.entries(value as Record<string, unknown>).flatMap(([key, child]) => {
    const childShape = shape[key] ?? shape["*"];
    if (childShape === undefined) return [`${path}.${key}`];
    return unmodelledFields(child, childShape, `${path}.${key}`);
  });
}

function fail(where: string, message: string): never {
  throw new RuleError(`${where}: ${message}`);
}

function durationField(value: unknown, where: string): number {
  const ms = typeof value === "string" ? parseDuration(value) : undefined;
  if (ms === undefined) fail(where, `expected a duration such as 1s or 500ms, got ${JSON.stringify(value)}`);
  return ms;
}

function intField(value: unknown, where: string, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    fail(where, `expected an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return value;
}

function percentField(value: unknown, where: string): number {
  if (value === undefined) return 100;
  const v = (value as { value?: unknown }).value;
  if (typeof v !== "number" || v < 0 || v > 100) fail(`${where}.value`, `expected a number from 0 to 100, got ${JSON.stringify(v)}`);
  return v;
}

function stringMatch(value: unknown, where: string): StringMatch {
  const entries = Object.entries((value ?? {}) as Record<string, unknown>);
  if (entries.length !== 1) fail(where, "expected exactly one of exact, prefix, regex");
  const [kind, text] = entries[0]!;
  if (typeof text !== "string") fail(`${where}.${kind}`, "expected a string");
  if (kind === "exact") return { exact: text };
  if (kind === "prefix") return { prefix: text };
  try {
    return { regex: new RegExp(`^(?:${text})$`) };
  } catch {
    fail(`${where}.regex`, `not a valid regular expression: ${text}`);
  }
}

/** Resolves a rule's host (`flaskapp`, `flaskapp.ns`, `flaskapp.ns.svc.cluster.local`) to a Service name. */
export function resolveHost(host: unknown, namespace: string, services: Set<string>, where: string): string {
  if (typeof host !== "string") fail(where, "expected a host name");
  const [name, ns, ...rest] = host.split(".");
  const suffixOk = ns === undefined || (ns === namespace && (rest.length === 0 || rest.join(".") === "svc.cluster.local"));
  if (!suffixOk || !name || !services.has(name)) {
    fail(where, `host ${host} is not a Service in this overlay (namespace ${namespace}; Services: ${[...services].join(", ")})`);
  }
  return name;
}

function destination(value: any, where: string, ctx: Context): Destination {
  const service = resolveHost(value?.host, ctx.namespace, ctx.services, `${where}.host`);
  if (value.port !== undefined && value.port.number !== ctx.servicePorts.get(service)) {
    fail(`${where}.port.number`, `Service ${service} has no port ${value.port.number}`);
  }
  return value.subset === undefined ? { service } : { service, subset: String(value.subset) };
}

function retryPolicy(value: any, where: string): RetryPolicy {
  if (value === undefined) return DEFAULT_RETRIES;
  // An unset attempts is proto3's 0: Istio then disables retries for the route.
  const attempts = intField(value.attempts ?? 0, `${where}.attempts`, 0, 100);
  const words: string[] = typeof value.retryOn === "string" ? value.retryOn.split(",").map((w: string) => w.trim()) : [...DEFAULT_RETRIES.retryOn];
  const retryOn: string[] = [];
  const retriableStatusCodes: number[] = value.retryOn === undefined ? [...DEFAULT_RETRIES.retriableStatusCodes] : [];
  for (const word of words) {
    if (/^\d{3}$/.test(word)) retriableStatusCodes.push(Number(word));
    else if (RETRY_ON.has(word)) retryOn.push(word);
    else fail(`${where}.retryOn`, `${word} is not a retry condition the preview models (${[...RETRY_ON].join(", ")}, or a status code)`);
  }
  if (retriableStatusCodes.length > 0 && !retryOn.includes("retriable-status-codes")) retryOn.push("retriable-status-codes");
  const policy: RetryPolicy = { attempts, retryOn, retriableStatusCodes };
  if (value.perTryTimeout !== undefined) policy.perTryTimeoutMs = durationField(value.perTryTimeout, `${where}.perTryTimeout`);
  return policy;
}

function httpRoute(value: any, where: string, ctx: Context, index: number): HttpRoute {
  const routes: any[] = Array.isArray(value.route) ? value.route : [];
  if (routes.length === 0) fail(`${where}.route`, "expected at least one destination");
  const route = routes.map((r, i) => ({
    destination: destination(r.destination, `${where}.route[${i}].destination`, ctx),
    weight: r.weight === undefined ? (routes.length === 1 ? 100 : 0) : intField(r.weight, `${where}.route[${i}].weight`, 0, 100),
  }));
  const total = route.reduce((sum, r) => sum + r.weight, 0);
  if (total !== 100) fail(`${where}.route`, `weights add up to ${total}, Istio requires 100`);
  const match: RequestMatch[] = (value.match ?? []).map((m: any, i: number) => {
    const at = `${where}.match[${i}]`;
    const result: RequestMatch = { headers: {} };
    if (m.uri !== undefined) result.uri = stringMatch(m.uri, `${at}.uri`);
    if (m.method !== undefined) result.method = stringMatch(m.method, `${at}.method`);
    for (const [name, hm] of Object.entries(m.headers ?? {})) result.headers[name.toLowerCase()] = stringMatch(hm, `${at}.headers.${name}`);
    return result;
  });
  const result: HttpRoute = { name: String(value.name ?? `http[${index}]`), match, route, retries: retryPolicy(value.retries, `${where}.retries`) };
  if (value.timeout !== undefined) result.timeoutMs = durationField(value.timeout, `${where}.timeout`);
  if (value.fault !== undefined) {
    const fault: FaultPolicy = {};
    const { delay, abort } = value.fault;
    if (delay !== undefined) {
      fault.delay = { fixedDelayMs: durationField(delay.fixedDelay, `${where}.fault.delay.fixedDelay`), percent: percentField(delay.percentage, `${where}.fault.delay.percentage`) };
    }
    if (abort !== undefined) {
      fault.abort = { httpStatus: intField(abort.httpStatus, `${where}.fault.abort.httpStatus`, 200, 599), percent: percentField(abort.percentage, `${where}.fault.abort.percentage`) };
    }
    result.fault = fault;
  }
  if (value.mirror !== undefined) {
    result.mirror = { destination: destination(value.mirror, `${where}.mirror`, ctx), percent: percentField(value.mirrorPercentage, `${where}.mirrorPercentage`) };
  } else if (value.mirrorPercentage !== undefined) {
    fail(`${where}.mirrorPercentage`, "set without a mirror");
  }
  return result;
}

const LOAD_BALANCERS = new Set<LoadBalancer>(["ROUND_ROBIN", "LEAST_REQUEST", "RANDOM"]);

/** Reads a DR trafficPolicy; fields it leaves out come from `base` (a subset inherits the rule's policy field by field). */
function trafficPolicy(value: any, where: string, base: TrafficPolicy): TrafficPolicy {
  if (value === undefined) return base;
  const policy: TrafficPolicy = { ...base };
  if (value.loadBalancer !== undefined) {
    const simple = value.loadBalancer.simple;
    if (!LOAD_BALANCERS.has(simple)) fail(`${where}.loadBalancer.simple`, `expected one of ${[...LOAD_BALANCERS].join(", ")}, got ${JSON.stringify(simple)}`);
    policy.loadBalancer = simple;
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

interface Context {
  namespace: string;
  services: Set<string>;
  servicePorts: Map<string, number>;
}

const DEFAULT_POLICY: TrafficPolicy = { loadBalancer: "ROUND_ROBIN", connectionPool: {} };

/**
 * Builds the routing model for `service` from the overlay's objects.
 * Throws RuleError naming the object and field for anything it cannot model.
 */
export function serviceRules(objects: K8sObject[], service: string): ServiceRules {
  const serviceObjects = objects.filter((o) => o.kind === "Service");
  const namespace = serviceObjects.find((o) => o.metadata.name === service)?.metadata.namespace ?? "default";
  const ctx: Context = {
    namespace,
    services: new Set(serviceObjects.map((o) => o.metadata.name)),
    servicePorts: new Map(serviceObjects.map((o) => [o.metadata.name, Number(o.spec?.ports?.[0]?.port)])),
  };
  const rules: ServiceRules = { service, routes: [], trafficPolicy: DEFAULT_POLICY, subsets: new Map() };
  let virtualService: string | undefined;

  for (const obj of objects) {
    if (obj.kind !== "VirtualService" && obj.kind !== "DestinationRule") continue;
    const where = `${obj.kind} ${obj.metadata.name}`;
    if (!obj.apiVersion.startsWith("networking.istio.io/")) fail(where, `unexpected apiVersion ${obj.apiVersion}`);
    const extra = unmodelledFields(obj.spec, MODELLED_FIELDS[obj.kind], "spec");
    if (extra.length > 0) {
      fail(where, `${extra.join(", ")}: not modelled by the mesh preview (it implements the fields listed in the README's "lessons" section); try it on a cluster with Istio`);
    }
    if (obj.kind === "DestinationRule") {
      if (resolveHost(obj.spec.host, namespace, ctx.services, `${where}: spec.host`) !== service) continue;
      rules.trafficPolicy = trafficPolicy(obj.spec.trafficPolicy, `${where}: spec.trafficPolicy`, DEFAULT_POLICY);
      (obj.spec.subsets ?? []).forEach((s: any, i: number) => {
        const at = `${where}: spec.subsets[${i}]`;
        if (typeof s.name !== "string") fail(`${at}.name`, "expected a name");
        rules.subsets.set(s.name, { name: s.name, labels: { ...(s.labels ?? {}) }, trafficPolicy: trafficPolicy(s.trafficPolicy, `${at}.trafficPolicy`, rules.trafficPolicy) });
      });
    } else {
      const gateways: unknown[] = obj.spec.gateways ?? ["mesh"];
      if (gateways.some((g) => g !== "mesh")) fail(`${where}: spec.gateways`, "only the mesh gateway (sidecar routing) is modelled");
      const hosts: unknown[] = obj.spec.hosts ?? [];
      if (!hosts.some((h, i) => resolveHost(h, namespace, ctx.services, `${where}: spec.hosts[${i}]`) === service)) continue;
      if (virtualService !== undefined) fail(where, `a second VirtualService for ${service} (the first is ${virtualService}); Istio merges these unpredictably, so the preview refuses`);
      virtualService = obj.metadata.name;
      rules.routes = (obj.spec.http ?? []).map((r: any, i: number) => httpRoute(r, `${where}: spec.http[${i}]`, ctx, i));
    }
  }
  for (const route of rules.routes) {
    for (const d of [...route.route.map((r) => r.destination), ...(route.mirror ? [route.mirror.destination] : [])]) {
      if (d.service !== service) fail(`VirtualService ${virtualService}`, `route ${route.name} sends to Service ${d.service}; the preview models one Service, ${service}`);
      if (d.subset !== undefined && !rules.subsets.has(d.subset)) {
        fail(`VirtualService ${virtualService}`, `route ${route.name} names subset ${d.subset}, which no DestinationRule for ${service} defines`);
      }
    }
  }
  if (rules.routes.length === 0) {
    rules.routes = [{ name: "default", match: [], route: [{ destination: { service }, weight: 100 }], retries: DEFAULT_RETRIES }];
  }
  return rules;
}
