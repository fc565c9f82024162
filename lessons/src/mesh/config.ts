// The mesh configuration of a render, merged from its parts as istiod merges its
// sources: the Kubernetes Services, what the Gateway API's objects say
// (gateway-api.ts) and what Istio's own objects say (istio-api.ts). Each reader
// returns its part; nothing here reads a rule's fields.
import type { K8sObject } from "../core/kustomize.ts";
import { gatewayApiConfig } from "./gateway-api.ts";
import { nameProblem } from "./kinds.ts";
import { istioApiConfig } from "./istio-api.ts";
import { CLUSTER_DOMAIN, type GatewayDeployment, type MeshConfig, type MeshService } from "./model.ts";
import { NEWEST_RELEASE, type IstioRelease } from "./releases.ts";
import { fail, objectNamespace, resolveHost } from "./values.ts";

function kubernetesServices(objects: K8sObject[]): MeshService[] {
  return objects
    .filter((o) => o.kind === "Service" && o.apiVersion === "v1")
    .map((o) => {
      const namespace = objectNamespace(o);
      const service: MeshService = {
        host: resolveHost(o.metadata.name, namespace),
        kind: "kubernetes",
        name: o.metadata.name,
        namespace,
        port: Number(o.spec?.ports?.[0]?.port ?? 80),
      };
      if (o.spec?.selector) service.selector = { ...o.spec.selector };
      if (typeof o.spec?.ports?.[0]?.name === "string") service.portName = o.spec.ports[0].name;
      return service;
    });
}

/**
 * Builds the mesh configuration from a render. Throws RuleError naming the
 * object and field for anything it cannot model.
 */
export function meshConfig(objects: K8sObject[], release: IstioRelease = NEWEST_RELEASE): MeshConfig {
  for (const o of objects) {
    const problem = nameProblem(o.kind, o.metadata?.name);
    if (problem) fail(`${o.kind} ${o.metadata?.name ?? "(no name)"}`, problem);
  }
  const services = new Map(kubernetesServices(objects).map((s) => [s.host, s]));
  const gatewayApi = gatewayApiConfig(objects, { services, release });
  const istioApi = istioApiConfig(objects, release);
  for (const service of istioApi.services) services.set(service.host, service);
  const config: MeshConfig = {
    release,
    services,
    virtualHosts: [...gatewayApi.virtualHosts, ...istioApi.virtualHosts],
    destinations: istioApi.destinations,
    gateways: [...gatewayApi.gateways, ...istioApi.gateways],
    gatewayDeployments: [],
    outbound: istioApi.outbound,
    warnings: [...gatewayApi.warnings, ...istioApi.warnings],
  };
  for (const deployment of [...gatewayApi.gatewayDeployments, ...istioApi.gatewayDeployments])
    addGatewayDeployment(config, deployment);
  checkOverlaps(config);
  return config;
}

/** Adds gateway pods to run, and the Service in front of them, once. */
function addGatewayDeployment(config: MeshConfig, deployment: GatewayDeployment): void {
  if (config.gatewayDeployments.some((d) => d.name === deployment.name && d.namespace === deployment.namespace)) return;
  config.gatewayDeployments.push(deployment);
  const host = `${deployment.name}.${deployment.namespace}.svc.${CLUSTER_DOMAIN}`;
  config.services.set(host, {
    host,
    kind: "kubernetes",
    name: deployment.name,
    namespace: deployment.namespace,
    port: deployment.port,
    selector: { ...deployment.labels },
  });
}

/** Two VirtualServices for one host on one gateway: Istio merges them in an order it does not promise, so the preview refuses. */
function checkOverlaps(config: MeshConfig): void {
  const seen = new Map<string, string>();
  for (const vh of config.virtualHosts) {
    for (const gw of vh.gateways) {
      for (const host of vh.hosts) {
        const key = `${gw} ${host}`;
        const first = seen.get(key);
        if (first !== undefined && first !== vh.source)
          fail(
            vh.source,
            `a second VirtualService for ${host} (the first is ${first}); Istio merges these unpredictably, so the preview refuses`,
          );
        seen.set(key, vh.source);
      }
    }
  }
}
