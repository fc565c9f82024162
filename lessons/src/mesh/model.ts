// The mesh preview's model of Istio's configuration: what the readers of Istio's API
// (istio-api.ts) and of the Gateway API (gateway-api.ts) turn a render into, and what
// the routing decisions (routing.ts, policy.ts) and the proxies read. Types and the
// defaults that belong to them; no reading, no I/O.
import type { IstioRelease, RetryPolicy } from "./releases.ts";

export type { RetryPolicy } from "./releases.ts";

export class RuleError extends Error {}

export type Labels = Record<string, string>;
/** `present`: Envoy's present_match, which Istio makes of an empty match or the regex `*` (canBeConvertedToPresentMatch). */
export type StringMatch = { exact: string } | { prefix: string } | { regex: RegExp } | { present: true };
/**
 * A path match. `pathSeparatedPrefix` is Envoy's path_separated_prefix, which Istio uses
 * for a prefix under Gateway API semantics: the path (without query) is the prefix or
 * continues it with `/` (`/legacy` matches `/legacy` and `/legacy/x`, not `/legacyx`).
 */
export type UriMatch = StringMatch | { pathSeparatedPrefix: string };

export interface RequestMatch {
  uri?: UriMatch;
  method?: StringMatch;
  /** Lower-case header names; pseudo-headers (`:method`, `:authority`, `:path`, `:scheme`) as Envoy's matcher sees them. */
  headers: Record<string, StringMatch>;
  /** Headers that must not match (Envoy's invert_match; a missing header counts as empty unless the match is `present`). */
  withoutHeaders?: Record<string, StringMatch>;
  /** Query parameters (the first value of each name, as sent). */
  queryParams?: Record<string, StringMatch>;
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
  /**
   * A request `set` or `add` of `:authority` or `Host`: Istio takes it out of the header
   * operations and makes it a host rewrite (translateAppendHeaders, isAuthorityHeader).
   */
  authority?: string;
  request?: HeaderOperations;
  response?: HeaderOperations;
}

export interface WeightedDestination {
  /** An HTTPRoute backend istiod could not resolve (ResolvedRefs false): its share of requests gets 500. */
  unresolved?: string;
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
  /** `FROM_REQUEST_PORT`: the port the route serves; `FROM_PROTOCOL_DEFAULT`: none (ApplyRedirect). */
  derivePort?: "FROM_REQUEST_PORT" | "FROM_PROTOCOL_DEFAULT";
  /** Envoy's redirect prefix_rewrite: the matched prefix of the path is replaced (Gateway API ReplacePrefixMatch). */
  prefixRewrite?: string;
  status: number;
}

export interface Mirror {
  destination: Destination;
  percent: number;
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
  /** Each copy drawn on its own, in order (`mirror` first, then `mirrors`). */
  mirrors?: Mirror[];
  /** A reply the proxy makes itself instead of routing: Istio's directResponse (an HTTPRoute rule without backends: 500). */
  directResponse?: { status: number; reason: string };
}

export type LoadBalancer =
  | { simple: "ROUND_ROBIN" | "LEAST_REQUEST" | "RANDOM" }
  | { consistentHash: { httpHeaderName: string } };

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
  /** The port's name, which a Gateway API parentRef's sectionName names. */
  portName?: string;
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
export const DEMO_INGRESS_GATEWAY: GatewayDeployment = {
  name: "istio-ingressgateway",
  namespace: "istio-system",
  labels: { app: "istio-ingressgateway", istio: "ingressgateway" },
  port: 80,
};

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
  /**
   * What istiod would report without refusing the render: route and listener status
   * (not Accepted, not ResolvedRefs) and deprecated fields it still honours.
   */
  warnings: string[];
}

export const CLUSTER_DOMAIN = "cluster.local";

/** Istio's default load balancer (LEAST_REQUEST since 1.14). */
export const DEFAULT_LOAD_BALANCER: LoadBalancer = { simple: "LEAST_REQUEST" };

export const DEFAULT_POLICY: TrafficPolicy = { loadBalancer: DEFAULT_LOAD_BALANCER, connectionPool: {} };

/** The policy of a host no DestinationRule names. */
export function defaultDestination(): DestinationPolicy {
  return { trafficPolicy: DEFAULT_POLICY, subsets: new Map() };
}
