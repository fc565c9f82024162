// The Kubernetes Gateway API as Istio implements it (HTTPRoute for the mesh
// and for Gateways of class istio), read into the same mesh configuration as
// Istio's own API.
import type { K8sObject } from "../kustomize.ts";
import { RuleError, type MeshConfig } from "./config.ts";

export const GATEWAY_API_GROUP = "gateway.networking.k8s.io";

/** Adds the render's Gateway API objects to `config`. */
export function gatewayApiConfig(objects: K8sObject[], _config: MeshConfig): void {
  const first = objects.find((o) => o.apiVersion.startsWith(`${GATEWAY_API_GROUP}/`));
  if (first) throw new RuleError(`${first.kind} ${first.metadata.name}: the Gateway API is not modelled by the mesh preview yet`);
}
