// Which rules apply to a request, as pure functions of the mesh configuration:
// the host it is for (as a sidecar or a gateway sees it), the route it takes,
// and what that route does to it before it leaves (redirect, rewrite, headers).
import type {
  HeaderOperations,
  HttpRoute,
  Labels,
  MeshConfig,
  MeshService,
  RequestMatch,
  StringMatch,
  UriMatch,
  VirtualHost,
} from "./model.ts";
import { labelsMatch } from "../core/kustomize.ts";

export interface RequestInfo {
  /** The request target: path plus query string. */
  path: string;
  method: string;
  /** Lower-case names. */
  headers: Record<string, string | undefined>;
}

/** Who applies the rules: the sidecar of a workload, or a gateway. */
export type ProxyRole =
  | { kind: "sidecar"; namespace: string; labels: Labels }
  | { kind: "gateway"; namespace: string; labels: Labels; port: number }
  /** An ambient waypoint: the Service is the one the connection was tunnelled for, whatever the Host header says. */
  | { kind: "waypoint"; namespace: string; labels: Labels };

/** Where a request goes before any route is chosen. */
export type HostDecision =
  /** A host the mesh knows: its VirtualService's routes, or the default route when it has none. */
  | { kind: "service"; service: MeshService; virtualHost?: VirtualHost }
  /** A gateway host bound by a VirtualService. */
  | { kind: "gateway-route"; virtualHost: VirtualHost }
  /** An unknown host with outbound ALLOW_ANY: sent on as is, no rules applied. */
  | { kind: "passthrough"; host: string }
  /** An unknown host with outbound REGISTRY_ONLY: the sidecar answers 502. */
  | { kind: "blackhole"; host: string }
  /** No route at a gateway for this Host: 404. */
  | { kind: "no-route"; host: string };

export function matchString(match: StringMatch, value: string | undefined): boolean {
  if (value === undefined) return false;
  if ("present" in match) return true;
  if ("exact" in match) return value === match.exact;
  if ("prefix" in match) return value.startsWith(match.prefix);
  return match.regex.test(value);
}

/**
 * Envoy's invert_match as Istio sets it for withoutHeaders: a missing header counts
 * as empty (treat_missing_header_as_empty), except for a present match, which a
 * missing header simply fails.
 */
export function matchWithout(match: StringMatch, value: string | undefined): boolean {
  return !matchString(match, "present" in match ? value : (value ?? ""));
}

/** The first value of a query parameter as sent (not decoded), as Envoy's query_parameters matcher reads it; "" for a bare name. */
export function queryParam(path: string, name: string): string | undefined {
  const query = path.indexOf("?");
  if (query === -1) return undefined;
  for (const pair of path
    .slice(query + 1)
    .split("#")[0]!
    .split("&")) {
    const eq = pair.indexOf("=");
    if ((eq === -1 ? pair : pair.slice(0, eq)) === name) return eq === -1 ? "" : pair.slice(eq + 1);
  }
  return undefined;
}

/** The host part of an authority (`flaskapp:80` → `flaskapp`), lower case. */
export function hostOf(authority: string): string {
  const bracket = authority.startsWith("[") ? authority.indexOf("]") : -1;
  if (bracket > 0) return authority.slice(0, bracket + 1).toLowerCase();
  return authority.replace(/:\d*$/, "").toLowerCase();
}

/**
 * The names a sidecar in `namespace` resolves to a Service: its FQDN, `name.ns.svc`,
 * `name.ns`, and the bare name from the Service's own namespace (as DNS search paths do).
 */
export function serviceNames(service: MeshService, namespace: string): string[] {
  if (service.kind === "external") return [service.host];
  const { name, namespace: ns } = service;
  return [service.host, `${name}.${ns}.svc`, `${name}.${ns}`, ...(ns === namespace ? [name] : [])];
}

/** The Service a sidecar in `namespace` reaches under `host`, if any. */
export function findService(config: MeshConfig, host: string, namespace: string): MeshService | undefined {
  const wanted = hostOf(host);
  for (const service of config.services.values()) {
    if (serviceNames(service, namespace).includes(wanted)) return service;
  }
  return undefined;
}

/** Istio's host matching for gateways: exact, `*`, or `*.suffix`. */
export function hostMatches(pattern: string, host: string): boolean {
  if (pattern === "*") return true;
  if (pattern.startsWith("*.")) return host.endsWith(pattern.slice(1));
  return pattern === host;
}

/**
 * What a sidecar does with a request for `authority`. `destination` is where the
 * client aimed (the Service it resolved), used when the Host names nothing the
 * mesh knows.
 */
export function sidecarHost(
  config: MeshConfig,
  role: Extract<ProxyRole, { kind: "sidecar" }>,
  authority: string,
  destination?: string,
): HostDecision {
  const service = findService(config, authority, role.namespace);
  if (service) {
    const virtualHost = config.virtualHosts.find(
      (vh) => vh.gateways.includes("mesh") && vh.hosts.includes(service.host),
    );
    return virtualHost ? { kind: "service", service, virtualHost } : { kind: "service", service };
  }
  if ((config.outbound.get(role.namespace) ?? "ALLOW_ANY") === "REGISTRY_ONLY")
    return { kind: "blackhole", host: hostOf(authority) };
  return { kind: "passthrough", host: hostOf(destination ?? authority) };
}

/**
 * What a waypoint does with a request tunnelled to it for Service `destination` (ztunnel's
 * HBONE target, not the Host header): that Service's routes, or its default route.
 */
export function waypointHost(
  config: MeshConfig,
  role: Extract<ProxyRole, { kind: "waypoint" }>,
  destination: string,
): HostDecision {
  const service = findService(config, destination, role.namespace);
  if (!service) return { kind: "passthrough", host: destination };
  const virtualHost = config.virtualHosts.find((vh) => vh.gateways.includes("mesh") && vh.hosts.includes(service.host));
  return virtualHost ? { kind: "service", service, virtualHost } : { kind: "service", service };
}

/** The hosts two host names (each possibly `*` or `*.suffix`) have in common, as the more specific of the two; undefined when none. */
export function intersectHost(a: string, b: string): string | undefined {
  if (hostMatches(a, b)) return b;
  if (hostMatches(b, a)) return a;
  return undefined;
}

/** Envoy's choice among virtual host domains for a host: exact, then the longest `*.suffix`, then `*`. */
function bestDomain(domains: Iterable<string>, host: string): string | undefined {
  let best: string | undefined;
  const rank = (d: string) => (d === host ? Number.MAX_SAFE_INTEGER : d === "*" ? 0 : d.length);
  for (const d of domains) if (hostMatches(d, host) && (best === undefined || rank(d) > rank(best))) best = d;
  return best;
}

/**
 * What a gateway does with a request for `authority`. As gateway.go builds the
 * gateway's routes: every VirtualService bound to a Gateway selecting this
 * gateway's pods puts its routes into the Envoy virtual host of each host its
 * hosts share with a server on this port (the more specific of the two), in
 * order; the request takes the virtual host Envoy picks for its Host, or 404.
 */
export function gatewayHost(
  config: MeshConfig,
  role: Extract<ProxyRole, { kind: "gateway" }>,
  authority: string,
): HostDecision {
  const host = hostOf(authority);
  const domains = new Map<string, VirtualHost[]>();
  for (const gw of config.gateways.filter((g) => labelsMatch(g.selector, role.labels))) {
    for (const server of gw.servers.filter((s) => s.port === role.port)) {
      for (const vh of config.virtualHosts.filter((v) => v.gateways.includes(gw.name))) {
        for (const domain of server.hosts.flatMap((sh) => vh.hosts.flatMap((h) => intersectHost(sh, h) ?? []))) {
          const bound = domains.get(domain) ?? [];
          if (!bound.includes(vh)) domains.set(domain, [...bound, vh]);
        }
      }
    }
  }
  const domain = bestDomain(domains.keys(), host);
  if (domain === undefined) return { kind: "no-route", host };
  const bound = domains.get(domain)!;
  if (bound.length === 1) return { kind: "gateway-route", virtualHost: bound[0]! };
  return {
    kind: "gateway-route",
    virtualHost: {
      source: bound.map((v) => v.source).join(", "),
      namespace: bound[0]!.namespace,
      hosts: [domain],
      gateways: bound[0]!.gateways,
      routes: bound.flatMap((v) => v.routes),
    },
  };
}

/**
 * Envoy compares exact, regex and path-separated prefix matches with the path alone,
 * prefix matches with path and query. A path-separated prefix is the whole path or
 * is followed by `/` in it (Envoy's PathSeparatedPrefixRouteEntryImpl).
 */
export function matchUri(match: UriMatch, path: string): boolean {
  const pathOnly = path.split("?")[0]!;
  if ("pathSeparatedPrefix" in match) {
    const prefix = match.pathSeparatedPrefix;
    return pathOnly === prefix || pathOnly.startsWith(`${prefix}/`);
  }
  return matchString(match, "prefix" in match ? path : pathOnly);
}

/**
 * Whether a request meets one match entry. Header names starting with `:` are the
 * request's pseudo-headers, which Istio passes to Envoy's matcher as they are
 * (translateHeaderMatch): `:method`, `:path`, `:authority` (the Host) and `:scheme`.
 */
export function matchRequest(match: RequestMatch, request: RequestInfo): boolean {
  if (match.uri && !matchUri(match.uri, request.path)) return false;
  if (match.method && !matchString(match.method, request.method)) return false;
  const header = (name: string) => (name.startsWith(":") ? pseudoHeader(request, name) : request.headers[name]);
  if (!Object.entries(match.headers).every(([name, m]) => matchString(m, header(name)))) return false;
  if (!Object.entries(match.withoutHeaders ?? {}).every(([name, m]) => matchWithout(m, header(name)))) return false;
  return Object.entries(match.queryParams ?? {}).every(([name, m]) => matchString(m, queryParam(request.path, name)));
}

function pseudoHeader(request: RequestInfo, name: string): string | undefined {
  switch (name) {
    case ":method":
      return request.method;
    case ":path":
      return request.path;
    case ":authority":
      return request.headers.host;
    case ":scheme":
      return request.headers["x-forwarded-proto"] ?? "http";
    default:
      return undefined;
  }
}

export interface SelectedRoute {
  route: HttpRoute;
  /** The match condition that applied; undefined for a route without conditions. */
  matched?: RequestMatch;
}

/** The first route with no match conditions or with one matching condition set (Istio ORs the list). */
export function selectRoute(routes: HttpRoute[], request: RequestInfo): SelectedRoute | undefined {
  for (const route of routes) {
    if (route.match.length === 0) return { route };
    const matched = route.match.find((m) => matchRequest(m, request));
    if (matched) return { route, matched };
  }
  return undefined;
}

/**
 * The routes a proxy with `labels` gets for a host. sourceLabels is no runtime
 * match but a selector of proxies: a match block whose sourceLabels the proxy
 * lacks is left out of its configuration, a route left with no match block is
 * dropped, and a VirtualService left with no route at all is skipped, so the
 * Service's default route applies: one route to the Service with the release's
 * retry policy.
 */
export function routesOf(
  config: MeshConfig,
  decision: Extract<HostDecision, { kind: "service" | "gateway-route" }>,
  labels: Labels,
): HttpRoute[] {
  if (decision.virtualHost) {
    const routes = decision.virtualHost.routes.flatMap((route) => {
      if (route.match.length === 0) return [route];
      const kept = route.match.filter((m) => !m.sourceLabels || labelsMatch(m.sourceLabels, labels));
      return kept.length === 0 ? [] : [kept.length === route.match.length ? route : { ...route, match: kept }];
    });
    if (routes.length > 0 || decision.kind === "gateway-route") return routes;
  }
  const service = (decision as { service: MeshService }).service;
  const name = service.kind === "kubernetes" ? service.name : service.host;
  const route: HttpRoute = {
    source: `no VirtualService for ${name}: default route`,
    match: [],
    route: [{ destination: { host: service.host }, weight: 100 }],
    retries: config.release.defaultRetry,
  };
  DEFAULT_ROUTES.add(route);
  return [route];
}

/** The routes routesOf made for a host without a VirtualService (Istio's BuildDefaultHTTPOutboundRoute). */
const DEFAULT_ROUTES = new WeakSet<HttpRoute>();

/**
 * Whether a route is a Service's default route. Its retry policy keeps the previous_hosts
 * predicate whatever load balancer the DestinationRule sets: BuildDefaultHTTPOutboundRoute
 * converts the mesh's default policy with hashPolicy false, while a VirtualService's route to a
 * destination under consistent hashing drops the predicate (DefaultConsistentHashPolicy).
 */
export function isDefaultRoute(route: HttpRoute | undefined): boolean {
  return route !== undefined && DEFAULT_ROUTES.has(route);
}

/**
 * A rewritten path: with a prefix match, the matched prefix is replaced;
 * otherwise the whole path (the query string is kept).
 */
export function rewritePath(path: string, rewrite: string, matched?: RequestMatch): string {
  const uri = matched?.uri;
  if (uri && "prefix" in uri) return rewrite + path.slice(uri.prefix.length);
  if (uri && "pathSeparatedPrefix" in uri) return rewrite + path.slice(uri.pathSeparatedPrefix.length);
  const query = path.indexOf("?");
  return query === -1 ? rewrite : rewrite + path.slice(query);
}

/**
 * Envoy's regex_rewrite: every match of the pattern in the path (the query string
 * is kept apart and put back) is replaced by the substitution, where `\N` stands
 * for capture group N.
 */
export function regexRewritePath(path: string, rewrite: { match: RegExp; rewrite: string }): string {
  const query = path.indexOf("?");
  const pathOnly = query === -1 ? path : path.slice(0, query);
  const substitution = rewrite.rewrite.replaceAll("$", "$$$$").replace(/\\(\d)/g, "$$$1");
  return (
    pathOnly.replace(new RegExp(rewrite.match.source, "g"), substitution) + (query === -1 ? "" : path.slice(query))
  );
}

/**
 * The Location of a redirect: the request's scheme, authority and path, each replaced
 * where the rule says; `prefixRewrite` replaces the prefix `matched` matched.
 */
export function redirectLocation(
  redirect: { uri?: string; authority?: string; port?: number; scheme?: string; prefixRewrite?: string },
  request: { path: string; authority: string; scheme: string },
  matched?: RequestMatch,
): string {
  const scheme = redirect.scheme ?? request.scheme;
  const host = redirect.authority ?? hostOf(request.authority);
  const defaultPort = scheme === "https" ? 443 : 80;
  const port =
    redirect.port !== undefined
      ? redirect.port === defaultPort
        ? ""
        : `:${redirect.port}`
      : redirect.authority === undefined && /:\d+$/.test(request.authority)
        ? `:${request.authority.split(":").pop()}`
        : "";
  const query = request.path.indexOf("?");
  const path =
    redirect.prefixRewrite !== undefined
      ? rewritePath(request.path, redirect.prefixRewrite, matched)
      : redirect.uri === undefined
        ? request.path
        : redirect.uri.includes("?") || query === -1
          ? redirect.uri
          : redirect.uri + request.path.slice(query);
  return `${scheme}://${host}${port}${path}`;
}

/** Applies header operations in Envoy's order: remove, then set (replace), then add (append). */
export function applyHeaderOperations(headers: Record<string, string>, ops: HeaderOperations | undefined): void {
  if (!ops) return;
  for (const name of ops.remove) delete headers[name];
  for (const [name, value] of Object.entries(ops.set)) headers[name.toLowerCase()] = value;
  for (const [name, value] of Object.entries(ops.add)) {
    const key = name.toLowerCase();
    headers[key] = headers[key] === undefined ? value : `${headers[key]}, ${value}`;
  }
}
