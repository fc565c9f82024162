// What a proxy of the mesh preview does with one request, decided without a
// socket: a Call (the configuration, the proxy's role, the request and the
// random draws) goes in, a Plan comes out, as Istio's pilot/pkg/simulation
// answers a Call with a Result. The plan is either a reply the proxy makes
// itself (no route, blackhole, redirect, fault abort, missing subset) or a
// forward (the route, the chosen destination, the upstream request after
// rewrites and header operations, fault delay, retries, timeout, mirrors,
// response header rules). proxy.ts only carries it out: connection pools,
// endpoints, retries against them, outlier detection and timers are its state.
import {
  CLUSTER_DOMAIN,
  defaultDestination,
  type Destination,
  type HeaderOperations,
  type HttpRoute,
  type MeshConfig,
  type MeshService,
  type Redirect,
  type RetryPolicy,
  type TrafficPolicy,
} from "./model.ts";
import { applies, pickDestination, shadowHost } from "./policy.ts";
import {
  applyHeaderOperations,
  findService,
  gatewayHost,
  hostOf,
  isDefaultRoute,
  redirectLocation,
  regexRewritePath,
  rewritePath,
  routesOf,
  selectRoute,
  sidecarHost,
  waypointHost,
  type HostDecision,
  type ProxyRole,
  type RequestInfo,
} from "./routing.ts";

export const FAULT_ABORT_BODY = "fault filter abort";

/** One request as a proxy received it, and everything a decision about it may depend on. */
export interface Call {
  config: MeshConfig;
  role: ProxyRole;
  /** Path with query, method, lower-case headers (hop-by-hop ones already dropped). */
  request: RequestInfo;
  /** The Host the request names (`flaskapp`, `flaskapp:80`, `example.com`). */
  authority: string;
  /** Where the client aimed, when the connection says so (a Service's address, an absolute-form target). */
  destination?: string;
  /** Draws in [0, 1), taken in a fixed order: fault delay, fault abort, destination, mirror. */
  random: () => number;
}

export interface LocalReply {
  status: number;
  body: string;
  headers: Record<string, string>;
}

/** A fire-and-forget copy of the request; its answer is dropped. */
export interface MirrorPlan {
  destination: Destination;
  /** The copy as sent: the upstream request with the mirror's Host. */
  request: RequestInfo;
}

interface PlanText {
  /** What the learner sees: `VirtualService flaskapp http[0]`, `passthrough (no rule for Host …)`, … */
  rule: string;
  /** `flaskapp subset v2 (weight 30 of 100)`, when a destination was chosen. */
  destination?: string;
  /** What else the rule did, in order: fault delay, rewrite, mirror, abort, … */
  notes: string[];
}

interface PlanActions {
  /** The fault delay to wait before anything else is done. */
  delayMs?: number;
  mirrors: MirrorPlan[];
}

export type ReplyPlan = PlanText & PlanActions & { kind: "reply"; reply: LocalReply };

export type ForwardPlan = PlanText &
  PlanActions & {
    kind: "forward";
    /** Undefined for a passthrough. */
    route?: HttpRoute;
    target: Destination;
    /** The Service or ServiceEntry host of the target; undefined for a host outside the registry. */
    service?: MeshService;
    /** The request to send upstream: rewritten path, headers after header operations, Host. */
    upstream: RequestInfo;
    retries: RetryPolicy;
    /**
     * Whether a retry avoids the endpoints already tried (Envoy's previous_hosts predicate): kept
     * on a Service's default route whatever the load balancer (BuildDefaultHTTPOutboundRoute),
     * dropped on a VirtualService's route to a destination under consistent hashing
     * (DefaultConsistentHashPolicy in route/retry/retry.go).
     */
    retryOtherHosts: boolean;
    timeoutMs?: number;
    /** Response header operations, in the order they run on the upstream's answer. */
    responseRules: Array<HeaderOperations | undefined>;
    /** Headers on the replies the proxy makes itself once the route was chosen (503, 504). */
    localReplyHeaders: Record<string, string>;
  };

export type Plan = ReplyPlan | ForwardPlan;

const NO_RETRIES: RetryPolicy = { attempts: 0, retryOn: [], retriableStatusCodes: [] };

/** Where a request is aimed: its authority, path and bound destination, from the request target and Host header. */
export function readTarget(
  target: string,
  hostHeader: string | undefined,
  bound: string | undefined,
  listenerAuthority: string,
): { path: string; authority: string; destination?: string } {
  if (/^https?:\/\//i.test(target)) {
    // Absolute form: the request came through the proxy as an HTTP proxy (a pod's FETCH_PROXY).
    // The target's authority wins over the Host header (RFC 9112, absolute-form).
    const url = new URL(target);
    return { path: `${url.pathname}${url.search}`, authority: url.host, destination: url.host };
  }
  const host = hostHeader ?? "";
  const authority = bound !== undefined && (host === "" || host === listenerAuthority) ? bound : host;
  return bound === undefined ? { path: target, authority } : { path: target, authority, destination: bound };
}

/** The host a proxy resolves the request to, as its role sees it. */
export function hostDecision(call: Call): HostDecision {
  const { config, role, authority, destination } = call;
  if (role.kind === "waypoint") return waypointHost(config, role, destination ?? authority);
  return role.kind === "gateway"
    ? gatewayHost(config, role, authority)
    : sidecarHost(config, role, authority, destination);
}

/**
 * What a proxy does with one request: the host it resolves, the route it takes, and
 * that route's redirect, direct response, fault, destination (a weighted draw), rewrites,
 * header operations, Host, mirrors, retries and timeout, as a plan to carry out. Draws
 * are taken only where a rule needs one, in a fixed order (delay, abort, destination, each mirror).
 */
export function decide(call: Call): Plan {
  const { config, role, request, authority } = call;
  const host = hostDecision(call);
  switch (host.kind) {
    case "blackhole":
      return reply(`outbound REGISTRY_ONLY: ${host.host} is not in the registry`, {
        status: 502,
        body: "",
        headers: {},
      });
    case "no-route":
      return reply(`no Gateway route for Host ${host.host}`, { status: 404, body: "", headers: {} });
    case "passthrough": {
      // Sent where the client aimed: a Service's pods (without its rules) or the outside world.
      const service = findService(config, host.host, role.namespace);
      const target: Destination = { host: service?.host ?? host.host };
      return {
        kind: "forward",
        rule: `passthrough (no rule for Host ${hostOf(authority)})`,
        destination: target.host,
        notes: [],
        mirrors: [],
        target,
        ...(service ? { service } : {}),
        upstream: { ...request, headers: { ...request.headers, host: authority } },
        retries: NO_RETRIES,
        retryOtherHosts: true,
        responseRules: [],
        localReplyHeaders: {},
      };
    }
  }
  // Pseudo-header matches (`:authority`) see the Host the request names.
  const selected = selectRoute(routesOf(config, host, role.labels), {
    ...request,
    headers: { ...request.headers, host: authority },
  });
  if (!selected)
    return reply(`${host.virtualHost?.source ?? "routes"}: no route matched`, { status: 404, body: "", headers: {} });
  const { route, matched } = selected;
  const headers = request.headers as Record<string, string>;
  if (route.redirect) {
    const scheme = headers["x-forwarded-proto"] ?? "http";
    const listenerPort = host.kind === "service" ? host.service.port : role.kind === "gateway" ? role.port : 80;
    const location = redirectLocation(
      redirectAt(route.redirect, listenerPort, scheme),
      { path: request.path, authority, scheme },
      matched,
    );
    const responseHeaders: Record<string, string> = { location };
    applyHeaderOperations(responseHeaders, route.headers?.response);
    return reply(route.source, { status: route.redirect.status, body: "", headers: responseHeaders }, [
      `redirect to ${location}`,
    ]);
  }
  if (route.directResponse) {
    const { status, reason } = route.directResponse;
    return reply(route.source, { status, body: "", headers: localReplyHeaders(route) }, [reason]);
  }
  const random = call.random;
  const notes: string[] = [];
  const fault = route.fault;
  const delayMs = fault?.delay && applies(fault.delay.percent, random()) ? fault.delay.fixedDelayMs : undefined;
  if (delayMs !== undefined) notes.push(`fault delay ${delayMs}ms`);
  const delay = delayMs === undefined ? {} : { delayMs };
  if (fault?.abort && applies(fault.abort.percent, random())) {
    return {
      kind: "reply",
      rule: route.source,
      notes: [...notes, `fault abort ${fault.abort.httpStatus}`],
      ...delay,
      mirrors: [],
      reply: { status: fault.abort.httpStatus, body: FAULT_ABORT_BODY, headers: localReplyHeaders(route) },
    };
  }
  const chosen = pickDestination(route.route, random());
  const total = route.route.reduce((sum, d) => sum + d.weight, 0);
  // The Host sent on: the route's rewrite, else an authority the route's header operations set, else the
  // chosen destination's, else the request's (applyHTTPRouteDestination, processDestination: the route's wins).
  const upstreamHost = route.rewrite?.authority ?? route.headers?.authority ?? chosen.headers?.authority ?? authority;
  const upstreamHeaders: Record<string, string> = { ...headers, host: upstreamHost };
  // One destination: its operations follow the route's on the same Envoy route (the destination's win);
  // weighted destinations: the cluster's operations run first and the route's last (the route's win).
  const levels = route.route.length === 1 ? [route.headers, chosen.headers] : [chosen.headers, route.headers];
  for (const level of levels) applyHeaderOperations(upstreamHeaders, level?.request);
  const rewrite = route.rewrite;
  const rewritten = rewrite?.uriRegex
    ? regexRewritePath(request.path, rewrite.uriRegex)
    : rewrite?.uri !== undefined
      ? rewritePath(request.path, rewrite.uri, matched)
      : undefined;
  const upstream: RequestInfo = { ...request, path: rewritten ?? request.path, headers: upstreamHeaders };
  if (rewritten !== undefined) notes.push(`rewrite ${request.path} to ${rewritten}`);
  const mirrors: MirrorPlan[] = [];
  for (const mirror of route.mirrors ?? []) {
    if (!applies(mirror.percent, random())) continue;
    const mirrorHost = config.release.shadowHostSuffix ? shadowHost(upstreamHost) : upstreamHost;
    mirrors.push({
      destination: mirror.destination,
      request: { ...upstream, headers: { ...upstreamHeaders, host: mirrorHost } },
    });
    notes.push(`mirrored to ${describeDestination(mirror.destination)} (Host ${mirrorHost})`);
  }
  const weight = route.route.length > 1 ? ` (weight ${chosen.weight} of ${total})` : "";
  const text = { rule: route.source, destination: `${describeDestination(chosen.destination)}${weight}` };
  const target = chosen.destination;
  if (chosen.unresolved !== undefined) {
    // istiod keeps an unresolved backend's share of the weight and answers it with 500 (buildHTTPDestination).
    notes.push(chosen.unresolved);
    return {
      kind: "reply",
      ...text,
      notes,
      ...delay,
      mirrors,
      reply: { status: 500, body: "", headers: localReplyHeaders(route) },
    };
  }
  if (!config.services.has(target.host) && target.host.endsWith(`.svc.${CLUSTER_DOMAIN}`)) {
    // A host no Service (nor ServiceEntry) names: Envoy has no such cluster and answers 503 itself, whatever DestinationRule there is.
    notes.push(
      `no Service ${target.host.split(".").slice(0, 2).join(".")}: the destination host names no Service of the mesh`,
    );
    return { kind: "reply", ...text, notes, ...delay, mirrors, reply: { status: 503, body: "", headers: {} } };
  }
  if (
    target.subset !== undefined &&
    !(config.destinations.get(target.host) ?? defaultDestination()).subsets.has(target.subset)
  ) {
    // A subset no DestinationRule defines: Envoy has no such cluster and answers 503 itself.
    notes.push(`no cluster for subset ${target.subset} of ${target.host} (no DestinationRule defines it)`);
    return { kind: "reply", ...text, notes, ...delay, mirrors, reply: { status: 503, body: "", headers: {} } };
  }
  const service = config.services.get(target.host);
  return {
    kind: "forward",
    ...text,
    notes,
    ...delay,
    mirrors,
    route,
    target,
    ...(service ? { service } : {}),
    upstream,
    retries: route.retries,
    retryOtherHosts: isDefaultRoute(route) || !("consistentHash" in targetPolicy(config, target).loadBalancer),
    ...(route.timeoutMs === undefined ? {} : { timeoutMs: route.timeoutMs }),
    responseRules: levels.map((level) => level?.response),
    localReplyHeaders: localReplyHeaders(route),
  };
}

/**
 * A redirect's port as ApplyRedirect sets it: `derivePort: FROM_REQUEST_PORT` is the port
 * the route serves; a port that is the scheme's default is left out (Envoy then keeps
 * the request's own port, if it named one).
 */
export function redirectAt(redirect: Redirect, listenerPort: number, requestScheme: string): Redirect {
  const { derivePort, ...rest } = redirect;
  const port = redirect.port ?? (derivePort === "FROM_REQUEST_PORT" ? listenerPort : undefined);
  const scheme = redirect.scheme ?? requestScheme;
  const { port: _given, ...withoutPort } = rest;
  if (port === undefined || port === (scheme === "https" ? 443 : 80)) return withoutPort;
  return { ...withoutPort, port };
}

function reply(rule: string, local: LocalReply, notes: string[] = []): ReplyPlan {
  return { kind: "reply", rule, notes, mirrors: [], reply: local };
}

/** The route-level response headers Envoy also puts on the replies it makes itself once a route was chosen (aborts, 503s, 504s). */
function localReplyHeaders(route: HttpRoute): Record<string, string> {
  const headers: Record<string, string> = {};
  applyHeaderOperations(headers, route.headers?.response);
  return headers;
}

/** `flaskapp subset v2` for a Service of the cluster (its short name), the host itself for an outside one. */
export function describeDestination(d: Destination): string {
  const name = d.host.endsWith(".svc.cluster.local") ? d.host.split(".")[0]! : d.host;
  return d.subset === undefined ? name : `${name} subset ${d.subset}`;
}

/** The traffic policy of a route's target: its subset's, else its DestinationRule's, else the defaults. */
export function targetPolicy(config: MeshConfig, target: Destination): TrafficPolicy {
  const rule = config.destinations.get(target.host) ?? defaultDestination();
  const subset = target.subset === undefined ? undefined : rule.subsets.get(target.subset);
  return subset?.trafficPolicy ?? rule.trafficPolicy;
}
