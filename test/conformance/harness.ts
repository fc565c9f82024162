// The conformance suite's bench: upstream test cases, rewritten as our own
// overlays (YAML as a playground holds it) over a small set of Services, sent
// through decide() as the sidecar of a client or as a gateway, and read back
// as what the client would observe: the backend that answered, the status of
// a reply the proxy made itself, a redirect's Location, the Host and path the
// backend received.
import { parseAllDocuments } from "yaml";
import type { K8sObject } from "#lessons/core/kustomize.ts";
import { meshConfig } from "#lessons/mesh/config.ts";
import { decide, type Plan } from "#lessons/mesh/decide.ts";
import { GATEWAY_NAME_LABEL } from "#lessons/mesh/gateway-api.ts";
import type { MeshConfig } from "#lessons/mesh/model.ts";
import { NEWEST_RELEASE } from "#lessons/mesh/releases.ts";
import type { ProxyRole } from "#lessons/mesh/routing.ts";

/** Where the upstream sources were read. */
export const ISTIO_AT = "istio/istio@86c9f01fd735fb01d8192f5bcaf0d424afb7f14c";
export const GATEWAY_API_AT = "kubernetes-sigs/gateway-api@4564255ac2c35d582249b3cdf261bdf51c8bca32";

export const NS = "istio-lessons";

/** A Service `name` selecting pods `app: name`, on `port` (the first port is the one the preview models). */
export function service(name: string, port = 80, portName = "http"): K8sObject {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace: NS },
    spec: { selector: { app: name }, ports: [{ name: portName, port }] },
  };
}

/** The upstream suites' backends: echo (the mesh suite's Service) and its versions, infra-backend-v1..v3 (the gateway suite's). */
export const BACKENDS: K8sObject[] = [
  service("echo"),
  service("echo-v1", 8080),
  service("echo-v2", 8080),
  service("infra-backend-v1", 8080),
  service("infra-backend-v2", 8080),
  service("infra-backend-v3", 8080),
];

/** An overlay's objects from YAML; the namespace is ours unless written. */
export function overlay(yaml: string): K8sObject[] {
  return parseAllDocuments(yaml)
    .map((d) => d.toJS() as K8sObject)
    .filter((o) => o !== null)
    .map((o) => ({ ...o, metadata: { namespace: NS, ...o.metadata } }));
}

export function configOf(yaml: string, extra: K8sObject[] = []): MeshConfig {
  return meshConfig([...BACKENDS, ...extra, ...overlay(yaml)], NEWEST_RELEASE);
}

export interface Request {
  path?: string;
  host?: string;
  method?: string;
  headers?: Record<string, string>;
}

/** The gateway pods istiod runs for Gateway `name` (Gateway API), or the demo profile's ingress gateway. */
export function gatewayRole(config: MeshConfig, name?: string): ProxyRole {
  const deployment = config.gatewayDeployments.find((d) =>
    name === undefined ? true : d.labels[GATEWAY_NAME_LABEL] === name,
  );
  if (!deployment) throw new Error(`no gateway deployment for ${name ?? "any Gateway"}`);
  return { kind: "gateway", namespace: deployment.namespace, labels: deployment.labels, port: deployment.port };
}

export const CLIENT: ProxyRole = { kind: "sidecar", namespace: NS, labels: { app: "client" } };

/** The plan a proxy makes for a request; `draws` are its random draws in order (0 when not given). */
export function send(config: MeshConfig, request: Request, role: ProxyRole = CLIENT, draws: number[] = []): Plan {
  const headers: Record<string, string> = { "x-request-id": "conformance", "x-forwarded-proto": "http" };
  for (const [name, value] of Object.entries(request.headers ?? {})) headers[name.toLowerCase()] = value;
  return decide({
    config,
    role,
    request: { path: request.path ?? "/", method: request.method ?? "GET", headers },
    authority: request.host ?? "echo",
    random: () => draws.shift() ?? 0,
  });
}

/** What the client observes. */
export interface Observed {
  /** The Service whose pods answered (short name), for a forwarded request. */
  backend?: string;
  /** The status of a reply the proxy made itself. */
  status?: number;
  location?: string;
  /** The Host, path and headers the backend received. */
  host?: string;
  path?: string;
  headers?: Record<string, string | undefined>;
}

export function observe(plan: Plan): Observed {
  if (plan.kind === "reply")
    return {
      status: plan.reply.status,
      ...(plan.reply.headers.location ? { location: plan.reply.headers.location } : {}),
    };
  const backend = plan.target.host.split(".")[0]!;
  return {
    backend,
    host: plan.upstream.headers.host as string,
    path: plan.upstream.path,
    headers: plan.upstream.headers,
  };
}
