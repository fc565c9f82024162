// Istio's own API (networking.istio.io/v1) as the preview reads it: VirtualServices,
// DestinationRules, Gateways, ServiceEntries and namespace-wide Sidecars, each field
// checked against Istio's CRD schema and the fields the preview models, turned into
// the model's routes, destination policies, gateways and outbound policies.
import type { K8sObject } from "../core/kustomize.ts";
import { labelsMatch } from "../core/kustomize.ts";
import { checkFields, type KindFields, type Shape } from "./fields.ts";
import { unknownKind } from "./kinds.ts";
import ISTIO_FIELDS from "./istio-fields.json" with { type: "json" };
import {
  DEFAULT_POLICY,
  DEMO_INGRESS_GATEWAY,
  type ConnectionPool,
  type Destination,
  type DestinationPolicy,
  type FaultPolicy,
  type GatewayDeployment,
  type HeaderOperations,
  type HeaderRules,
  type HttpRoute,
  type IngressGateway,
  type MeshService,
  type Mirror,
  type OutboundMode,
  type Redirect,
  type RequestMatch,
  type Subset,
  type TrafficPolicy,
  type VirtualHost,
  type WeightedDestination,
} from "./model.ts";
import type { IstioRelease } from "./releases.ts";
import {
  durationField,
  fail,
  intField,
  objectNamespace,
  percentField,
  presenceOrStringMatch,
  resolveHost,
  retryPolicy,
  stringField,
  stringMap,
  stringMatch,
} from "./values.ts";

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
        match: [
          {
            name: true,
            uri: STRING_MATCH,
            method: STRING_MATCH,
            authority: STRING_MATCH,
            scheme: STRING_MATCH,
            headers: { "*": STRING_MATCH },
            withoutHeaders: { "*": STRING_MATCH },
            queryParams: { "*": STRING_MATCH },
            sourceLabels: { "*": true },
          },
        ],
        route: [{ destination: DESTINATION, weight: true, headers: HEADERS }],
        redirect: {
          uri: true,
          prefixRewrite: true,
          authority: true,
          port: true,
          derivePort: true,
          scheme: true,
          redirectCode: true,
        },
        rewrite: { uri: true, authority: true },
        headers: HEADERS,
        timeout: true,
        retries: { attempts: true, perTryTimeout: true, retryOn: true, retryRemoteLocalities: true },
        // `percent` and `mirrorPercent` are deprecated and still honoured: read with a warning.
        fault: {
          delay: { fixedDelay: true, percentage: PERCENT, percent: true },
          abort: { httpStatus: true, percentage: PERCENT },
        },
        mirror: DESTINATION,
        mirrorPercentage: PERCENT,
        mirrorPercent: true,
        mirrors: [{ destination: DESTINATION, percentage: PERCENT }],
      },
    ],
  },
  DestinationRule: {
    host: true,
    trafficPolicy: TRAFFIC_POLICY,
    subsets: [{ name: true, labels: { "*": true }, trafficPolicy: TRAFFIC_POLICY }],
  },
  Gateway: {
    selector: { "*": true },
    servers: [{ port: { number: true, name: true, protocol: true }, hosts: [true] }],
  },
  ServiceEntry: {
    hosts: [true],
    ports: [{ number: true, name: true, protocol: true }],
    resolution: true,
    location: true,
  },
  Sidecar: { outboundTrafficPolicy: { mode: true } },
};

function istioFields(kind: RuleKind): KindFields {
  return {
    api: `networking.istio.io/v1 ${kind}`,
    owner: "Istio",
    docs: "docs/mesh-preview.md",
    schema: ISTIO_SCHEMA[kind],
    modelled: MODELLED_FIELDS[kind],
  };
}

// Istio's outlier detection defaults when outlierDetection is present but a field is not.
const OUTLIER_DEFAULTS = {
  consecutive5xxErrors: 5,
  intervalMs: 10_000,
  baseEjectionTimeMs: 30_000,
  maxEjectionPercent: 10,
};

/** `:authority` and `Host`: a set or add of either is a host rewrite (isAuthorityHeader). */
export function isAuthorityHeader(name: string): boolean {
  return /^(:authority|host)$/i.test(name);
}

/** Headers Envoy does not let a rule change: pseudo-headers and Host (isInternalHeader); Istio drops them from the operations. */
function isInternalHeader(name: string): boolean {
  return name.startsWith(":") || /^host$/i.test(name);
}

function headerOperations(value: any, where: string): HeaderOperations & { authority?: string } {
  const remove = value?.remove ?? [];
  if (!Array.isArray(remove)) fail(`${where}.remove`, "expected a list of header names");
  const set = stringMap(value?.set, `${where}.set`);
  const add = stringMap(value?.add, `${where}.add`);
  const external = (ops: Record<string, string>) =>
    Object.fromEntries(Object.entries(ops).filter(([name]) => !isInternalHeader(name)));
  const authorityOf = (ops: Record<string, string>) =>
    Object.entries(ops).findLast(([name]) => isAuthorityHeader(name))?.[1];
  // A set of the authority wins over an add of it (TranslateHeadersOperations).
  const authority = authorityOf(set) ?? authorityOf(add);
  return {
    set: external(set),
    add: external(add),
    remove: remove
      .map((h: unknown, i: number) => stringField(h, `${where}.remove[${i}]`).toLowerCase())
      .filter((h: string) => !isInternalHeader(h)),
    ...(authority === undefined ? {} : { authority }),
  };
}

function headerRules(value: any, where: string): HeaderRules | undefined {
  if (value === undefined) return undefined;
  const rules: HeaderRules = {};
  if (value.request !== undefined) {
    const { authority, ...request } = headerOperations(value.request, `${where}.request`);
    rules.request = request;
    if (authority !== undefined) rules.authority = authority;
  }
  if (value.response !== undefined) {
    const { authority: _ignored, ...response } = headerOperations(value.response, `${where}.response`);
    rules.response = response;
  }
  return rules;
}

interface Context {
  namespace: string;
  release: IstioRelease;
  /** Where deprecated fields Istio still honours are reported. */
  warnings: string[];
}

function destination(value: any, where: string, ctx: Context): Destination {
  const host = resolveHost(stringField(value?.host, `${where}.host`), ctx.namespace);
  return value.subset === undefined ? { host } : { host, subset: stringField(value.subset, `${where}.subset`) };
}

function requestMatch(m: any, at: string): RequestMatch {
  const result: RequestMatch = { headers: {} };
  if (m.uri !== undefined) result.uri = stringMatch(m.uri, `${at}.uri`);
  if (m.method !== undefined) result.method = stringMatch(m.method, `${at}.method`);
  for (const [name, hm] of Object.entries(m.headers ?? {}))
    result.headers[name.toLowerCase()] = presenceOrStringMatch(hm, `${at}.headers.${name}`);
  // TranslateRouteMatch: authority and scheme are header matches on the pseudo-headers.
  if (m.authority !== undefined) result.headers[":authority"] = presenceOrStringMatch(m.authority, `${at}.authority`);
  if (m.scheme !== undefined) result.headers[":scheme"] = presenceOrStringMatch(m.scheme, `${at}.scheme`);
  if (m.withoutHeaders !== undefined) {
    result.withoutHeaders = {};
    for (const [name, hm] of Object.entries(m.withoutHeaders))
      result.withoutHeaders[name.toLowerCase()] = presenceOrStringMatch(hm, `${at}.withoutHeaders.${name}`);
  }
  if (m.queryParams !== undefined) {
    result.queryParams = {};
    for (const [name, qm] of Object.entries(m.queryParams))
      result.queryParams[name] = presenceOrStringMatch(qm, `${at}.queryParams.${name}`);
  }
  if (m.sourceLabels !== undefined) result.sourceLabels = stringMap(m.sourceLabels, `${at}.sourceLabels`);
  return result;
}

const REDIRECT_CODES = [0, 301, 302, 303, 307, 308];

function redirect(value: any, where: string): Redirect {
  // Istio turns 0 (unset) into 301 and drops a route with any code but 301, 302, 303, 307 and 308.
  const code = value.redirectCode ?? 0;
  if (!REDIRECT_CODES.includes(code))
    fail(`${where}.redirectCode`, `expected one of ${REDIRECT_CODES.slice(1).join(", ")}, got ${JSON.stringify(code)}`);
  const result: Redirect = { status: code === 0 ? 301 : code };
  if (value.uri !== undefined && value.prefixRewrite !== undefined)
    fail(where, "uri and prefixRewrite: set one (a cluster rejects both)");
  if (value.uri !== undefined) result.uri = stringField(value.uri, `${where}.uri`);
  // ApplyRedirect: Envoy's prefix_rewrite replaces the prefix the route matched.
  if (value.prefixRewrite !== undefined)
    result.prefixRewrite = stringField(value.prefixRewrite, `${where}.prefixRewrite`);
  if (value.authority !== undefined) result.authority = stringField(value.authority, `${where}.authority`);
  if (value.port !== undefined && value.derivePort !== undefined)
    fail(where, "port and derivePort: set one (a cluster rejects both)");
  if (value.port !== undefined) result.port = intField(value.port, `${where}.port`, 1, 65535);
  if (value.derivePort !== undefined) {
    if (value.derivePort !== "FROM_REQUEST_PORT" && value.derivePort !== "FROM_PROTOCOL_DEFAULT")
      fail(
        `${where}.derivePort`,
        `expected FROM_PROTOCOL_DEFAULT or FROM_REQUEST_PORT, got ${JSON.stringify(value.derivePort)}`,
      );
    result.derivePort = value.derivePort;
  }
  if (value.scheme !== undefined) result.scheme = stringField(value.scheme, `${where}.scheme`);
  return result;
}

function httpRoute(value: any, source: string, where: string, ctx: Context): HttpRoute {
  const routes: any[] = Array.isArray(value.route) ? value.route : [];
  if (value.redirect !== undefined && routes.length > 0)
    fail(`${where}`, "a route has either redirect or route, not both");
  if (value.redirect === undefined && routes.length === 0)
    fail(`${where}.route`, "expected at least one destination (or a redirect)");
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
  if (route.length > 0 && route.every((r) => r.weight === 0))
    fail(`${where}.route`, "the weights add up to 0: Istio rejects a route no request can take");
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
    if (value.rewrite.authority !== undefined)
      result.rewrite.authority = stringField(value.rewrite.authority, `${where}.rewrite.authority`);
  }
  const headers = headerRules(value.headers, `${where}.headers`);
  if (headers) result.headers = headers;
  // setTimeout: a timeout of 0 is Envoy's "no timeout", as when none is set.
  const timeoutMs = value.timeout === undefined ? 0 : durationField(value.timeout, `${where}.timeout`);
  if (timeoutMs > 0) result.timeoutMs = timeoutMs;
  if (value.fault !== undefined) {
    const fault: FaultPolicy = {};
    const { delay, abort } = value.fault;
    if (delay !== undefined) {
      // TranslateFault reads the deprecated integer `percent` when `percentage` is absent.
      let percent = percentField(delay.percentage, `${where}.fault.delay.percentage`, 0);
      if (delay.percent !== undefined) {
        ctx.warnings.push(
          `${where}.fault.delay.percent: deprecated, use percentage${delay.percentage === undefined ? " (honoured as Istio does)" : " (ignored: percentage is set)"}`,
        );
        if (delay.percentage === undefined) percent = intField(delay.percent, `${where}.fault.delay.percent`, 0, 100);
      }
      fault.delay = { fixedDelayMs: durationField(delay.fixedDelay, `${where}.fault.delay.fixedDelay`), percent };
    }
    if (abort !== undefined) {
      fault.abort = {
        httpStatus: intField(abort.httpStatus, `${where}.fault.abort.httpStatus`, 200, 599),
        percent: percentField(abort.percentage, `${where}.fault.abort.percentage`, 0),
      };
    }
    result.fault = fault;
  }
  const mirrors: Mirror[] = [];
  if (value.mirror !== undefined) {
    // MirrorPercent: mirrorPercentage, else the deprecated integer mirrorPercent, else 100.
    let percent = percentField(value.mirrorPercentage, `${where}.mirrorPercentage`, 100);
    if (value.mirrorPercent !== undefined) {
      ctx.warnings.push(
        `${where}.mirrorPercent: deprecated, use mirrorPercentage${value.mirrorPercentage === undefined ? " (honoured as Istio does)" : " (ignored: mirrorPercentage is set)"}`,
      );
      if (value.mirrorPercentage === undefined)
        percent = intField(value.mirrorPercent, `${where}.mirrorPercent`, 0, 100);
    }
    mirrors.push({ destination: destination(value.mirror, `${where}.mirror`, ctx), percent });
  } else if (value.mirrorPercentage !== undefined || value.mirrorPercent !== undefined) {
    fail(
      `${where}.${value.mirrorPercentage !== undefined ? "mirrorPercentage" : "mirrorPercent"}`,
      "set without a mirror",
    );
  }
  (Array.isArray(value.mirrors) ? value.mirrors : []).forEach((m: any, i: number) => {
    const at = `${where}.mirrors[${i}]`;
    mirrors.push({
      destination: destination(m?.destination, `${at}.destination`, ctx),
      percent: percentField(m.percentage, `${at}.percentage`, 100),
    });
  });
  if (mirrors.length > 0) result.mirrors = mirrors;
  return result;
}

const SIMPLE_BALANCERS = ["ROUND_ROBIN", "LEAST_REQUEST", "RANDOM"];

/** Reads a DR trafficPolicy; fields it leaves out come from `base` (a subset inherits the rule's policy field by field). */
function trafficPolicy(value: any, where: string, base: TrafficPolicy, warnings: string[]): TrafficPolicy {
  if (value === undefined) return base;
  const policy: TrafficPolicy = { ...base };
  if (value.loadBalancer !== undefined) {
    const { simple, consistentHash } = value.loadBalancer;
    if (consistentHash !== undefined) {
      if (simple !== undefined) fail(`${where}.loadBalancer`, "set simple or consistentHash, not both");
      policy.loadBalancer = {
        consistentHash: {
          httpHeaderName: stringField(
            consistentHash.httpHeaderName,
            `${where}.loadBalancer.consistentHash.httpHeaderName`,
          ).toLowerCase(),
        },
      };
    } else if (simple === "LEAST_CONN") {
      // applyLoadBalancer reads the deprecated LEAST_CONN as LEAST_REQUEST.
      warnings.push(
        `${where}.loadBalancer.simple: LEAST_CONN is deprecated, use LEAST_REQUEST (honoured as Istio does: it is LEAST_REQUEST)`,
      );
      policy.loadBalancer = { simple: "LEAST_REQUEST" };
    } else {
      if (!SIMPLE_BALANCERS.includes(simple))
        fail(
          `${where}.loadBalancer.simple`,
          `expected one of ${SIMPLE_BALANCERS.join(", ")}, got ${JSON.stringify(simple)}`,
        );
      policy.loadBalancer = { simple };
    }
  }
  if (value.connectionPool !== undefined) {
    const { tcp, http } = value.connectionPool;
    const pool: ConnectionPool = {};
    const limit = (v: unknown, field: string) =>
      v === undefined ? undefined : intField(v, `${where}.connectionPool.${field}`, 1, 2 ** 32 - 1);
    const maxConnections = limit(tcp?.maxConnections, "tcp.maxConnections");
    const pending = limit(http?.http1MaxPendingRequests, "http.http1MaxPendingRequests");
    const perConnection =
      http?.maxRequestsPerConnection === 0
        ? undefined
        : limit(http?.maxRequestsPerConnection, "http.maxRequestsPerConnection");
    if (maxConnections !== undefined) pool.maxConnections = maxConnections;
    if (pending !== undefined) pool.http1MaxPendingRequests = pending;
    if (perConnection !== undefined) pool.maxRequestsPerConnection = perConnection;
    policy.connectionPool = pool;
  }
  if (value.outlierDetection !== undefined) {
    const o = value.outlierDetection;
    const at = `${where}.outlierDetection`;
    policy.outlierDetection = {
      consecutive5xxErrors:
        o.consecutive5xxErrors === undefined
          ? OUTLIER_DEFAULTS.consecutive5xxErrors
          : intField(o.consecutive5xxErrors, `${at}.consecutive5xxErrors`, 0, 2 ** 32 - 1),
      intervalMs: o.interval === undefined ? OUTLIER_DEFAULTS.intervalMs : durationField(o.interval, `${at}.interval`),
      baseEjectionTimeMs:
        o.baseEjectionTime === undefined
          ? OUTLIER_DEFAULTS.baseEjectionTimeMs
          : durationField(o.baseEjectionTime, `${at}.baseEjectionTime`),
      maxEjectionPercent:
        o.maxEjectionPercent === undefined
          ? OUTLIER_DEFAULTS.maxEjectionPercent
          : intField(o.maxEjectionPercent, `${at}.maxEjectionPercent`, 0, 100),
    };
  }
  return policy;
}

function serviceEntry(obj: K8sObject): MeshService[] {
  const where = `ServiceEntry ${obj.metadata.name}`;
  const hosts: unknown[] = obj.spec?.hosts ?? [];
  if (hosts.length === 0) fail(`${where}: spec.hosts`, "expected at least one host");
  const ports: any[] = obj.spec?.ports ?? [];
  const location = obj.spec?.location ?? "MESH_EXTERNAL";
  if (location !== "MESH_EXTERNAL")
    fail(`${where}: spec.location`, "only MESH_EXTERNAL (a host outside the mesh) is modelled");
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
      return {
        port: intField(s.port?.number, `${at}.port.number`, 1, 65535),
        hosts: hosts.map((h, j) =>
          stringField(h, `${at}.hosts[${j}]`)
            .replace(/^[^/]*\//, "")
            .toLowerCase(),
        ),
      };
    }),
  };
}

function gatewayRef(ref: unknown, namespace: string, where: string): string {
  const name = stringField(ref, where);
  if (name === "mesh") return name;
  return name.includes("/") ? name : `${namespace}/${name}`;
}

/** What Istio's API adds to the model. */
export interface IstioApiPart {
  /** ServiceEntry hosts. */
  services: MeshService[];
  virtualHosts: VirtualHost[];
  destinations: Map<string, DestinationPolicy>;
  gateways: IngressGateway[];
  gatewayDeployments: GatewayDeployment[];
  outbound: Map<string, OutboundMode>;
  /** Deprecated fields read as Istio still reads them, each naming its replacement. */
  warnings: string[];
}

/**
 * Reads the render's networking.istio.io objects. Throws RuleError naming the
 * object and field for anything the preview cannot model.
 */
export function istioApiConfig(objects: readonly K8sObject[], release: IstioRelease): IstioApiPart {
  const part: IstioApiPart = {
    services: [],
    virtualHosts: [],
    destinations: new Map(),
    gateways: [],
    gatewayDeployments: [],
    outbound: new Map(),
    warnings: [],
  };
  for (const obj of objects) {
    if (!obj.apiVersion.startsWith("networking.istio.io/")) continue;
    const kind = obj.kind as RuleKind;
    const where = `${kind} ${obj.metadata.name}`;
    const typo = unknownKind(kind, "networking.istio.io");
    if (typo) fail(where, typo);
    if (!(kind in MODELLED_FIELDS)) fail(where, `${kind} is not modelled by the mesh preview`);
    if (obj.apiVersion !== "networking.istio.io/v1")
      fail(where, `apiVersion ${obj.apiVersion}: use networking.istio.io/v1`);
    checkFields(obj, istioFields(kind));
    const ctx: Context = { namespace: objectNamespace(obj), release, warnings: part.warnings };
    switch (kind) {
      case "ServiceEntry":
        part.services.push(...serviceEntry(obj));
        break;
      case "Gateway": {
        const gw = gateway(obj);
        if (!labelsMatch(gw.selector, DEMO_INGRESS_GATEWAY.labels)) {
          fail(
            where,
            `spec.selector ${JSON.stringify(gw.selector)} selects no gateway the preview runs (the demo profile's ${DEMO_INGRESS_GATEWAY.name} has ${JSON.stringify(DEMO_INGRESS_GATEWAY.labels)})`,
          );
        }
        part.gateways.push(gw);
        part.gatewayDeployments.push(DEMO_INGRESS_GATEWAY);
        break;
      }
      case "Sidecar": {
        if (obj.spec?.workloadSelector !== undefined)
          fail(where, "only a namespace-wide Sidecar (no workloadSelector) is modelled");
        const mode = obj.spec?.outboundTrafficPolicy?.mode ?? "ALLOW_ANY";
        if (mode !== "ALLOW_ANY" && mode !== "REGISTRY_ONLY")
          fail(
            `${where}: spec.outboundTrafficPolicy.mode`,
            `expected ALLOW_ANY or REGISTRY_ONLY, got ${JSON.stringify(mode)}`,
          );
        part.outbound.set(ctx.namespace, mode);
        break;
      }
      case "DestinationRule": {
        const host = resolveHost(stringField(obj.spec?.host, `${where}: spec.host`), ctx.namespace);
        if (part.destinations.has(host))
          fail(
            where,
            `a second DestinationRule for ${host} (the first is ${part.destinations.get(host)!.source}); Istio uses only one, so the preview refuses`,
          );
        const policy = trafficPolicy(
          obj.spec.trafficPolicy,
          `${where}: spec.trafficPolicy`,
          DEFAULT_POLICY,
          part.warnings,
        );
        const subsets = new Map<string, Subset>();
        (obj.spec.subsets ?? []).forEach((s: any, i: number) => {
          const at = `${where}: spec.subsets[${i}]`;
          const name = stringField(s.name, `${at}.name`);
          subsets.set(name, {
            name,
            labels: stringMap(s.labels, `${at}.labels`),
            trafficPolicy: trafficPolicy(s.trafficPolicy, `${at}.trafficPolicy`, policy, part.warnings),
          });
        });
        part.destinations.set(host, { source: where, trafficPolicy: policy, subsets });
        break;
      }
      case "VirtualService": {
        const hosts: unknown[] = obj.spec?.hosts ?? [];
        if (hosts.length === 0) fail(`${where}: spec.hosts`, "expected at least one host");
        const gateways: unknown[] = obj.spec?.gateways ?? ["mesh"];
        part.virtualHosts.push({
          source: where,
          namespace: ctx.namespace,
          hosts: hosts.map((h, i) => resolveHost(stringField(h, `${where}: spec.hosts[${i}]`), ctx.namespace)),
          gateways: gateways.map((g, i) => gatewayRef(g, ctx.namespace, `${where}: spec.gateways[${i}]`)),
          routes: (obj.spec.http ?? []).map((r: any, i: number) =>
            httpRoute(
              r,
              `VirtualService ${obj.metadata.name} http[${i}]${r.name ? ` "${r.name}"` : ""}`,
              `${where}: spec.http[${i}]`,
              ctx,
            ),
          ),
        });
        break;
      }
    }
  }
  return part;
}
