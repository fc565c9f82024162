// "Why" for the live view: the rendered objects that apply at a node of the
// graph, as the learner's kustomization applies them. Pure.
import { stringify } from "yaml";
import { labelsMatch, type K8sObject } from "../core/kustomize.ts";
import { objectNamespace, resolveHost } from "../mesh/values.ts";
import type { GraphNode, Workloads } from "./graph.ts";

type Rule = K8sObject;

const ISTIO = "networking.istio.io/";
const GATEWAY_API = "gateway.networking.k8s.io/";

function hostsOf(obj: Rule): string[] {
  const ns = objectNamespace(obj);
  const spec = obj.spec ?? {};
  const resolve = (h: unknown) => (typeof h === "string" ? resolveHost(h, ns) : "");
  if (obj.apiVersion.startsWith(ISTIO)) {
    switch (obj.kind) {
      case "VirtualService": {
        const routes = [...(spec.http ?? []), ...(spec.tcp ?? []), ...(spec.tls ?? [])];
        const destinations = routes.flatMap((r: any) => [
          ...(r.route ?? []).map((d: any) => d.destination?.host),
          r.mirror?.host,
        ]);
        return [...(spec.hosts ?? []), ...destinations].map(resolve);
      }
      case "DestinationRule":
        return [resolve(spec.host)];
      case "ServiceEntry":
        return (spec.hosts ?? []).map((h: unknown) => String(h).toLowerCase());
    }
    return [];
  }
  if (obj.apiVersion.startsWith(GATEWAY_API) && obj.kind === "HTTPRoute") {
    const refs = [
      ...(spec.parentRefs ?? []),
      ...(spec.rules ?? []).flatMap((r: any) => [
        ...(r.backendRefs ?? []),
        ...(r.filters ?? []).map((f: any) => f.requestMirror?.backendRef),
      ]),
    ];
    return refs
      .filter((ref: any) => ref && (ref.kind ?? "Service") === "Service")
      .map((ref: any) => resolveHost(String(ref.name), ref.namespace ?? ns));
  }
  if (obj.apiVersion === "v1" && obj.kind === "Service") return [resolveHost(obj.metadata.name, ns)];
  return [];
}

/** Rules for a gateway workload: Istio Gateways selecting it, Gateway API Gateways, and the routes bound to them. */
function gatewayRules(objects: Rule[], labels: Record<string, string>): Rule[] {
  const gateways = objects.filter(
    (o) =>
      (o.apiVersion.startsWith(ISTIO) && o.kind === "Gateway" && labelsMatch(o.spec?.selector ?? {}, labels)) ||
      (o.apiVersion.startsWith(GATEWAY_API) && o.kind === "Gateway"),
  );
  const names = new Set(gateways.map((g) => `${objectNamespace(g)}/${g.metadata.name}`));
  const bound = objects.filter((o) => {
    const ns = objectNamespace(o);
    if (o.apiVersion.startsWith(ISTIO) && o.kind === "VirtualService")
      return (o.spec?.gateways ?? []).some((g: string) => names.has(g.includes("/") ? g : `${ns}/${g}`));
    if (o.apiVersion.startsWith(GATEWAY_API) && o.kind === "HTTPRoute")
      return (o.spec?.parentRefs ?? []).some(
        (r: any) => (r.kind ?? "Gateway") === "Gateway" && names.has(`${r.namespace ?? ns}/${r.name}`),
      );
    return false;
  });
  return [...gateways, ...bound];
}

/**
 * The objects that apply at a node: for a Service, subset or pod, those naming
 * its host (the Service, VirtualServices, DestinationRules, HTTPRoutes,
 * ServiceEntries); for a gateway, its Gateways and the routes bound to them;
 * for a workload's sidecar, the namespace's Sidecar and the routes that match
 * on its labels.
 */
export function rulesAt(
  node: GraphNode,
  objects: Rule[],
  workloads: Workloads,
  gatewayLabels: ReadonlyMap<string, Record<string, string>>,
): Rule[] {
  const byHost = (hosts: Set<string>) => objects.filter((o) => hostsOf(o).some((h) => hosts.has(h)));
  switch (node.kind) {
    case "service":
    case "external":
    case "unregistered":
    case "subset":
      return byHost(new Set([node.host ?? ""]));
    case "pod": {
      const pod = workloads.pods.find((p) => `p:${p.name}` === node.id);
      if (!pod) return [];
      const services = objects.filter(
        (o) =>
          o.apiVersion === "v1" &&
          o.kind === "Service" &&
          o.spec?.selector &&
          objectNamespace(o) === pod.namespace &&
          labelsMatch(o.spec.selector, pod.labels),
      );
      const hosts = new Set(services.map((s) => resolveHost(s.metadata.name, pod.namespace)));
      return byHost(hosts).filter((o) => o.kind !== "VirtualService" && o.kind !== "HTTPRoute");
    }
    case "gateway":
      return gatewayRules(objects, gatewayLabels.get(node.label) ?? {});
    case "client":
    case "workload": {
      const sidecars = objects.filter((o) => o.apiVersion.startsWith(ISTIO) && o.kind === "Sidecar");
      const bySource = objects.filter(
        (o) =>
          o.kind === "VirtualService" &&
          (o.spec?.http ?? []).some((r: any) => (r.match ?? []).some((m: any) => m.sourceLabels)),
      );
      return [...sidecars, ...bySource];
    }
  }
}

/** What decides first reads first: routes, then traffic policy, then where the hosts come from. */
const KIND_ORDER = ["VirtualService", "HTTPRoute", "DestinationRule", "Gateway", "ServiceEntry", "Sidecar", "Service"];

/** Objects as YAML documents, routes first and the Service last (in the render's order within a kind). */
export function rulesYaml(rules: Rule[]): string {
  const rank = (r: Rule) => (KIND_ORDER.indexOf(r.kind) + KIND_ORDER.length + 1) % (KIND_ORDER.length + 1);
  return [...rules]
    .sort((a, b) => rank(a) - rank(b))
    .map((r) => stringify(r, { lineWidth: 0 }))
    .join("---\n");
}
