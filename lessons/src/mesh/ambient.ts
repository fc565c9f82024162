// Ambient mode in the mesh preview, as pure functions of a render and its mesh
// configuration: which namespaces are enrolled (no sidecars; ztunnel carries
// their connections at L4), which waypoints there are and which Services use
// them (the waypoint is the only Envoy that applies a Service's L7 rules, for
// ambient callers), and every rule ambient ignores, said out loud as a warning.
// Sources (docs/mesh-preview.md, "Ambient mode", cites each row):
// istio/istio pilot/pkg/serviceregistry/ambient/waypoints.go (GetUseWaypoint,
// fetchWaypointForTarget, fetchWaypointForService, gatewayToWaypointTransform),
// pilot/pkg/serviceregistry/ambient/services.go (ingressUseWaypointFromLabels),
// pilot/pkg/networking/core/listener_waypoint.go (waypointInboundRoute,
// buildWaypointInboundHTTPRouteConfig); istio/ztunnel src/state.rs (load_balance),
// src/proxy/outbound.rs (build_request).
import type { K8sObject } from "../core/kustomize.ts";
import type { HttpRoute, MeshConfig, MeshService, VirtualHost } from "./model.ts";
import { fail, objectNamespace } from "./values.ts";

export const DATAPLANE_MODE_LABEL = "istio.io/dataplane-mode";
export const INJECTION_LABEL = "istio-injection";
export const USE_WAYPOINT_LABEL = "istio.io/use-waypoint";
export const USE_WAYPOINT_NAMESPACE_LABEL = "istio.io/use-waypoint-namespace";
export const WAYPOINT_FOR_LABEL = "istio.io/waypoint-for";
export const INGRESS_USE_WAYPOINT_LABEL = "istio.io/ingress-use-waypoint";
/** The GatewayClass istiod deploys waypoints for. */
export const WAYPOINT_CLASS = "istio-waypoint";
/** The listener every waypoint has: HBONE on 15008 (what `istioctl waypoint generate` writes). */
export const WAYPOINT_PORT = 15008;

const TRAFFIC_TYPES = ["service", "workload", "all", "none"] as const;
export type TrafficType = (typeof TRAFFIC_TYPES)[number];

export interface Waypoint {
  name: string;
  namespace: string;
  /** What the waypoint serves (istio.io/waypoint-for; `service` when unset). */
  trafficType: TrafficType;
}

export interface ServiceWaypoint {
  waypoint: Waypoint;
  /** istio.io/ingress-use-waypoint: "true" on the Service or its namespace: ingress gateways send through the waypoint too. */
  ingress: boolean;
}

export interface AmbientPlan {
  /** Namespaces labelled istio.io/dataplane-mode: ambient. */
  namespaces: Set<string>;
  /** Waypoints by `namespace/name`. */
  waypoints: Map<string, Waypoint>;
  /** Service host → the waypoint that applies its rules. A Service missing here is carried by ztunnel alone. */
  enrolled: Map<string, ServiceWaypoint>;
  /** Rules ambient ignores or treats differently, each with the reason. */
  warnings: string[];
}

type Labels = Record<string, string>;

function labelsOf(obj: K8sObject | undefined): Labels {
  return (obj?.metadata as { labels?: Labels } | undefined)?.labels ?? {};
}

/** The Gateways of class istio-waypoint in a render; every other Gateway belongs to gateway-api.ts. */
export function isWaypointGateway(obj: K8sObject): boolean {
  return (
    obj.kind === "Gateway" &&
    obj.apiVersion.startsWith("gateway.networking.k8s.io/") &&
    obj.spec?.gatewayClassName === WAYPOINT_CLASS
  );
}

/** Whether a render runs in ambient mode: some namespace of it is labelled istio.io/dataplane-mode: ambient. */
export function isAmbient(objects: readonly K8sObject[]): boolean {
  return objects.some((o) => o.kind === "Namespace" && labelsOf(o)[DATAPLANE_MODE_LABEL] === "ambient");
}

/** A waypoint Gateway as istiod reads it: one HBONE listener; the traffic it serves from istio.io/waypoint-for. */
export function waypointOf(obj: K8sObject): Waypoint {
  const where = `Gateway ${obj.metadata.name}`;
  const listeners = Array.isArray(obj.spec?.listeners)
    ? (obj.spec.listeners as Array<{ port?: unknown; protocol?: unknown }>)
    : [];
  if (!listeners.some((l) => l?.protocol === "HBONE" && l?.port === WAYPOINT_PORT)) {
    fail(
      `${where}: spec.listeners`,
      `a waypoint needs a listener with protocol HBONE on port ${WAYPOINT_PORT} (as \`istioctl waypoint generate\` writes it)`,
    );
  }
  const label = labelsOf(obj)[WAYPOINT_FOR_LABEL];
  if (label !== undefined && !(TRAFFIC_TYPES as readonly string[]).includes(label))
    fail(
      `${where}: metadata.labels.${WAYPOINT_FOR_LABEL}`,
      `${JSON.stringify(label)}: expected one of ${TRAFFIC_TYPES.join(", ")}`,
    );
  return {
    name: obj.metadata.name,
    namespace: objectNamespace(obj),
    trafficType: (label as TrafficType | undefined) ?? "service",
  };
}

/**
 * The waypoint a Service's labels (then its namespace's) name: `none` opts out, a
 * namespace comes from istio.io/use-waypoint-namespace or is the object's own.
 */
export function useWaypoint(labels: Labels, fallbackNamespace: string): { named?: string; none: boolean } {
  const value = labels[USE_WAYPOINT_LABEL];
  if (value === undefined) return { none: false };
  if (value === "none") return { none: true };
  return { named: `${labels[USE_WAYPOINT_NAMESPACE_LABEL] ?? fallbackNamespace}/${value}`, none: false };
}

/** ingress-use-waypoint, the Service's label first, then its namespace's; only a true boolean turns it on. */
export function ingressUsesWaypoint(serviceLabels: Labels, namespaceLabels: Labels): boolean {
  const value = serviceLabels[INGRESS_USE_WAYPOINT_LABEL] ?? namespaceLabels[INGRESS_USE_WAYPOINT_LABEL];
  return value !== undefined && ["1", "t", "true"].includes(value.toLowerCase());
}

/**
 * Reads the ambient side of a render: enrolled namespaces, waypoints, which Service
 * each waypoint serves, and a warning for each rule that ambient ignores. Throws
 * RuleError for what cannot run at all.
 */
export function ambientPlan(objects: readonly K8sObject[], config: MeshConfig): AmbientPlan {
  const namespaceObjects = new Map(objects.filter((o) => o.kind === "Namespace").map((o) => [o.metadata.name, o]));
  const namespaces = new Set<string>();
  for (const [name, ns] of namespaceObjects) {
    const labels = labelsOf(ns);
    if (labels[DATAPLANE_MODE_LABEL] !== "ambient") continue;
    if (labels[INJECTION_LABEL] === "enabled") {
      fail(
        `Namespace ${name}: metadata.labels`,
        `both ${DATAPLANE_MODE_LABEL}: ambient and ${INJECTION_LABEL}: enabled; pods that get a sidecar are left out of ambient, so the preview refuses the mix: drop ${INJECTION_LABEL}`,
      );
    }
    namespaces.add(name);
  }
  const waypoints = new Map(
    objects
      .filter(isWaypointGateway)
      .map((o) => waypointOf(o))
      .map((w) => [`${w.namespace}/${w.name}`, w]),
  );
  const warnings: string[] = [];
  const enrolled = new Map<string, ServiceWaypoint>();

  for (const obj of objects.filter((o) => o.kind === "Service" && o.apiVersion === "v1")) {
    const namespace = objectNamespace(obj);
    const service = `Service ${obj.metadata.name}`;
    const own = useWaypoint(labelsOf(obj), namespace);
    if (own.none) continue;
    const nsLabels = labelsOf(namespaceObjects.get(namespace));
    const named = own.named ?? useWaypoint(nsLabels, namespace).named;
    if (!named) continue;
    const waypoint = waypoints.get(named);
    if (!waypoint) {
      warnings.push(
        `${service}: ${USE_WAYPOINT_LABEL} names waypoint ${named}, which is not in the render; istiod reports it not ready and its traffic stays on ztunnel (L4): no L7 rule applies`,
      );
      continue;
    }
    if (waypoint.trafficType !== "service" && waypoint.trafficType !== "all") {
      warnings.push(
        `${service}: waypoint ${named} serves ${waypoint.trafficType} traffic (${WAYPOINT_FOR_LABEL}), not Service traffic; istiod does not bind the Service to it and its traffic stays on ztunnel (L4)`,
      );
      continue;
    }
    const host = [...config.services.values()].find(
      (s) => s.kind === "kubernetes" && s.name === obj.metadata.name && s.namespace === namespace,
    )?.host;
    if (host) enrolled.set(host, { waypoint, ingress: ingressUsesWaypoint(labelsOf(obj), nsLabels) });
  }

  const plan = { namespaces, waypoints, enrolled, warnings };
  if (namespaces.size > 0) warnings.push(...ignoredRules(objects, config, namespaces, enrolled));
  for (const waypoint of waypoints.values()) {
    for (const host of unhashedHosts(config, plan, waypoint)) {
      warnings.push(
        `${config.destinations.get(host)!.source}: its consistentHash has no effect at waypoint ${waypoint.name} in Istio ${config.release.version}: with no route for Service ${config.services.get(host)!.name} the waypoint's route has no hash policy and it picks a pod at random (fixed in 1.31, istio/istio#61045); add an HTTPRoute`,
      );
    }
  }
  return plan;
}

function ambientService(config: MeshConfig, host: string, namespaces: Set<string>): MeshService | undefined {
  const service = config.services.get(host);
  return service?.kind === "kubernetes" && namespaces.has(service.namespace) ? service : undefined;
}

/** The rules ambient ignores or treats differently from sidecars, each with the reason. */
function ignoredRules(
  objects: readonly K8sObject[],
  config: MeshConfig,
  namespaces: Set<string>,
  enrolled: Map<string, ServiceWaypoint>,
): string[] {
  const warnings: string[] = [];
  for (const vh of config.virtualHosts.filter((v) => v.gateways.includes("mesh"))) {
    for (const host of vh.hosts) {
      const service = ambientService(config, host, namespaces);
      if (!service) continue;
      const at = enrolled.get(host);
      if (!at) {
        warnings.push(
          `${vh.source}: no effect on ambient clients: Service ${service.name} is not enrolled with a waypoint (label it ${USE_WAYPOINT_LABEL}: <waypoint>), so ztunnel carries its connections at L4 and no L7 rule applies; Istio says so only in the route's status`,
        );
        continue;
      }
      if (vh.source.startsWith("VirtualService")) {
        warnings.push(
          `${vh.source}: applied by waypoint ${at.waypoint.name} as an alpha feature (istio.io: VirtualService with waypoints is alpha); Istio recommends an HTTPRoute with Service ${service.name} as parent`,
        );
      }
      for (const route of vh.routes) {
        route.match.forEach((m, i) => {
          if (m.sourceLabels)
            warnings.push(
              `${route.source} match[${i}]: dropped by waypoint ${at.waypoint.name}: a waypoint serves every caller and Istio drops any match with sourceLabels, silently (istio/istio#51565)`,
            );
        });
      }
    }
  }
  // A DestinationRule applies wherever an Envoy sends to its host: a waypoint (for its Service or a backend of its routes) or a gateway.
  const viaEnvoy = new Set(enrolled.keys());
  for (const vh of config.virtualHosts.filter(
    (v) => !v.gateways.includes("mesh") || v.hosts.some((h) => enrolled.has(h)),
  )) {
    for (const route of vh.routes) {
      for (const d of route.route) viaEnvoy.add(d.destination.host);
      for (const mirror of route.mirrors ?? []) viaEnvoy.add(mirror.destination.host);
    }
  }
  for (const [host, policy] of config.destinations) {
    const service = ambientService(config, host, namespaces);
    if (service && !viaEnvoy.has(host) && policy.source) {
      warnings.push(
        `${policy.source}: no effect on ambient clients: its traffic policy is applied by an Envoy (a waypoint or a gateway), and no waypoint or gateway sends to Service ${service.name}; ztunnel picks an endpoint per connection`,
      );
    }
  }
  for (const obj of objects.filter((o) => o.kind === "Sidecar" && namespaces.has(objectNamespace(o)))) {
    warnings.push(
      `Sidecar ${obj.metadata.name}: does not apply in ambient mode (no sidecar reads it): its outbound REGISTRY_ONLY is not enforced, and ztunnel passes unknown destinations through`,
    );
  }
  for (const vh of config.virtualHosts.filter((v) => !v.gateways.includes("mesh"))) {
    for (const route of vh.routes) {
      for (const d of route.route) {
        const at = enrolled.get(d.destination.host);
        if (at && !at.ingress) {
          warnings.push(
            `${route.source}: the gateway sends to ${config.services.get(d.destination.host)!.name}'s pods directly, bypassing waypoint ${at.waypoint.name} and its rules (ingress uses a waypoint only with ${INGRESS_USE_WAYPOINT_LABEL}: "true")`,
          );
        }
      }
    }
  }
  return [...new Set(warnings)];
}

/** A waypoint's routes for a host: matches with sourceLabels dropped, and a route left without matches dropped with them. */
export function waypointRoutes(routes: readonly HttpRoute[]): HttpRoute[] {
  return routes.flatMap((route) => {
    if (route.match.length === 0) return [route];
    const kept = route.match.filter((m) => !m.sourceLabels);
    if (kept.length === 0) return [];
    return [kept.length === route.match.length ? route : { ...route, match: kept }];
  });
}

const NO_RETRY = { attempts: 0, retryOn: [], retriableStatusCodes: [] };

/**
 * The configuration a waypoint applies: the mesh rules of the Services enrolled with it
 * (routes as waypointRoutes leaves them) and the DestinationRules. For a Service with no
 * route, releases before the fixes give the waypoint's route no retries (before 1.30.3) and
 * no hash policy (before 1.31: a consistentHash then picks a pod at random).
 */
export function waypointConfig(config: MeshConfig, plan: AmbientPlan, waypoint: Waypoint): MeshConfig {
  const hosts = new Set(servedBy(plan, waypoint));
  const virtualHosts: VirtualHost[] = config.virtualHosts
    .filter((vh) => vh.gateways.includes("mesh") && vh.hosts.some((h) => hosts.has(h)))
    .map((vh) => ({ ...vh, hosts: vh.hosts.filter((h) => hosts.has(h)), routes: waypointRoutes(vh.routes) }));
  const release = config.release.waypointDefaultRetry ? config.release : { ...config.release, defaultRetry: NO_RETRY };
  const destinations = new Map(config.destinations);
  for (const host of unhashedHosts(config, plan, waypoint)) {
    const policy = destinations.get(host)!;
    destinations.set(host, {
      ...policy,
      trafficPolicy: { ...policy.trafficPolicy, loadBalancer: { simple: "RANDOM" } },
    });
  }
  return { ...config, release, virtualHosts, destinations, outbound: new Map() };
}

/** Services of a waypoint whose consistentHash it ignores: no route of their own, on a release before 1.31. */
function unhashedHosts(config: MeshConfig, plan: AmbientPlan, waypoint: Waypoint): string[] {
  if (config.release.waypointHashWithoutRoute) return [];
  return servedBy(plan, waypoint).filter((host) => {
    const lb = config.destinations.get(host)?.trafficPolicy.loadBalancer;
    return (
      lb !== undefined &&
      "consistentHash" in lb &&
      !config.virtualHosts.some((vh) => vh.gateways.includes("mesh") && vh.hosts.includes(host))
    );
  });
}

/** The hosts a waypoint serves. */
export function servedBy(plan: AmbientPlan, waypoint: Waypoint): string[] {
  return [...plan.enrolled].filter(([, at]) => at.waypoint === waypoint).map(([host]) => host);
}

/** ztunnel's choice for one connection: a ready endpoint at random (weighted by capacity, 1 for every pod here), or none. */
export function ztunnelPick<E extends { ready: boolean }>(
  endpoints: readonly E[],
  random: () => number,
): E | undefined {
  const ready = endpoints.filter((e) => e.ready);
  return ready[Math.floor(random() * ready.length)];
}
