// Checks over rendered manifests that stand in for a cluster (the tests' own: no command
// runs them): schema validation against the published Kubernetes, Istio and Gateway API
// schemas, and cross-checks that the objects point at each other (Services at pods, routes
// at Services and subsets, subsets at exactly one version, HTTPRoutes at their parents and
// backends). Hosts resolve as in the mesh preview, which follows Istio (mesh/config.ts
// resolveHost), and selectors match with the tooling's one labelsMatch (kustomize.ts).
// Pure functions: objects in, findings out.
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { Namespace } from "kubernetes-models/v1/Namespace";
import { Service } from "kubernetes-models/v1/Service";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import { DestinationRule } from "@kubernetes-models/istio/networking.istio.io/v1/DestinationRule";
import { VirtualService } from "@kubernetes-models/istio/networking.istio.io/v1/VirtualService";
import { Gateway } from "@kubernetes-models/istio/networking.istio.io/v1/Gateway";
import { ServiceEntry } from "@kubernetes-models/istio/networking.istio.io/v1/ServiceEntry";
import { Sidecar } from "@kubernetes-models/istio/networking.istio.io/v1/Sidecar";
import { Gateway as GatewayApiGateway } from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/Gateway";
import { HTTPRoute } from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute";
import { IMAGE_NAMES } from "#lessons/core/images.ts";
import { labelsMatch, type K8sObject } from "#lessons/core/kustomize.ts";
import { deprecatedField } from "#lessons/mesh/fields.ts";
import type { Labels } from "#lessons/mesh/model.ts";
import { resolveHost } from "#lessons/mesh/values.ts";
import { parseDuration } from "#common/duration.ts";

export type Rule =
  | "api-version"
  | "schema"
  | "deprecated-field"
  | "deployment-selector"
  | "service-selector"
  | "route-host"
  | "route-subset"
  | "route-parent"
  | "subset-pods"
  | "port-name"
  | "restricted"
  | "shutdown-budget"
  | "image"
  | "ambient-namespace"
  | "waypoint"
  | "use-waypoint";

export interface Finding {
  rule: Rule;
  /** `Kind/name` of the object the finding is about. */
  object: string;
  message: string;
}

interface Model {
  validate(): void;
}

/** The current API of every kind our manifests render, with its published schema. */
const MODELS: Record<string, new (data: any) => Model> = {
  "v1/Namespace": Namespace,
  "v1/Service": Service,
  "v1/ConfigMap": ConfigMap,
  "v1/ServiceAccount": ServiceAccount,
  "apps/v1/Deployment": Deployment,
  "networking.istio.io/v1/DestinationRule": DestinationRule,
  "networking.istio.io/v1/VirtualService": VirtualService,
  "networking.istio.io/v1/Gateway": Gateway,
  "networking.istio.io/v1/ServiceEntry": ServiceEntry,
  "networking.istio.io/v1/Sidecar": Sidecar,
  // @kubernetes-models/gateway-api 2.x: Gateway API v1.5.1, experimental fields included.
  "gateway.networking.k8s.io/v1/HTTPRoute": HTTPRoute,
  "gateway.networking.k8s.io/v1/Gateway": GatewayApiGateway,
};

const WORKLOAD_KINDS = new Set(["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"]);

/** Istio's protocol selection: a port name `<protocol>` or `<protocol>-<suffix>`, or appProtocol. */
const ISTIO_PROTOCOLS = ["http", "http2", "https", "grpc", "grpc-web", "tcp", "tls", "udp", "mongo", "mysql", "redis"];

export function objectId(obj: K8sObject): string {
  return `${obj.kind}/${obj.metadata?.name ?? "(unnamed)"}`;
}

function groupOf(apiVersion: string): string {
  const slash = apiVersion.indexOf("/");
  return slash === -1 ? "" : apiVersion.slice(0, slash);
}

function isKind(obj: K8sObject, group: string, kind: string): boolean {
  return obj.kind === kind && groupOf(obj.apiVersion ?? "") === group;
}

function namespaceOf(obj: K8sObject): string {
  return obj.metadata?.namespace ?? "";
}

/** What to use instead of an apiVersion/kind no current cluster (or these checks) knows. */
function unknownApiMessage(obj: K8sObject): string {
  const what = `${obj.apiVersion} ${obj.kind}`;
  if (obj.kind === "Deployment") {
    return `${what} is not served by current Kubernetes (extensions/v1beta1, apps/v1beta1 and apps/v1beta2 were removed in 1.16): use apps/v1`;
  }
  if (groupOf(obj.apiVersion ?? "") === "networking.istio.io") {
    return `${what}: use networking.istio.io/v1, the GA API since Istio 1.22`;
  }
  if (groupOf(obj.apiVersion ?? "") === "gateway.networking.k8s.io" && ["HTTPRoute", "Gateway"].includes(obj.kind)) {
    return `${what}: use gateway.networking.k8s.io/v1, the GA API (HTTPRoute and Gateway since Gateway API v1.0)`;
  }
  return `${what} is not a kind these manifests are checked for (known: ${Object.keys(MODELS).join(", ")})`;
}

/** Validates every object against the schema of its apiVersion/kind; unknown ones are findings. */
export function validateSchemas(objects: readonly K8sObject[]): Finding[] {
  const findings: Finding[] = [];
  for (const obj of objects) {
    const Model = MODELS[`${obj.apiVersion}/${obj.kind}`];
    if (Model === undefined) {
      findings.push({ rule: "api-version", object: objectId(obj), message: unknownApiMessage(obj) });
      continue;
    }
    try {
      new Model(obj).validate();
    } catch (error) {
      findings.push({ rule: "schema", object: objectId(obj), message: (error as Error).message });
    }
  }
  return findings;
}

// ---- label selectors ----

interface LabelSelector {
  matchLabels?: Labels;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

function selectorMatches(selector: LabelSelector, labels: Labels): boolean {
  if (!labelsMatch(selector.matchLabels ?? {}, labels)) return false;
  return (selector.matchExpressions ?? []).every(({ key, operator, values = [] }) => {
    switch (operator) {
      case "In":
        return key in labels && values.includes(labels[key]!);
      case "NotIn":
        return !(key in labels) || !values.includes(labels[key]!);
      case "Exists":
        return key in labels;
      case "DoesNotExist":
        return !(key in labels);
      default:
        return false;
    }
  });
}

interface PodTemplate {
  owner: K8sObject;
  namespace: string;
  labels: Labels;
  spec: any;
}

function podTemplates(objects: readonly K8sObject[]): PodTemplate[] {
  return objects
    .filter((obj) => WORKLOAD_KINDS.has(obj.kind) && obj.spec?.template !== undefined)
    .map((obj) => ({
      owner: obj,
      namespace: namespaceOf(obj),
      labels: obj.spec.template.metadata?.labels ?? {},
      spec: obj.spec.template.spec ?? {},
    }));
}

function formatLabels(labels: Labels): string {
  return Object.entries(labels)
    .map(([key, value]) => `${key}: ${value}`)
    .join(", ");
}

/** A workload must select its own pods (apps/v1 makes the selector required and immutable). */
function checkWorkloadSelectors(templates: readonly PodTemplate[]): Finding[] {
  return templates.flatMap(({ owner, labels }): Finding[] => {
    const selector = owner.spec?.selector as LabelSelector | undefined;
    if (selector === undefined || (selector.matchLabels === undefined && selector.matchExpressions === undefined)) {
      return [
        {
          rule: "deployment-selector",
          object: objectId(owner),
          message: "has no spec.selector (required since apps/v1)",
        },
      ];
    }
    if (!selectorMatches(selector, labels)) {
      return [
        {
          rule: "deployment-selector",
          object: objectId(owner),
          message: `spec.selector does not match its own pod labels {${formatLabels(labels)}}`,
        },
      ];
    }
    return [];
  });
}

function servicePods(service: K8sObject, templates: readonly PodTemplate[]): PodTemplate[] {
  const selector: Labels = service.spec?.selector ?? {};
  if (Object.keys(selector).length === 0) return [];
  return templates.filter((t) => t.namespace === namespaceOf(service) && labelsMatch(selector, t.labels));
}

function checkServiceSelectors(services: readonly K8sObject[], templates: readonly PodTemplate[]): Finding[] {
  return services
    .filter((service) => servicePods(service, templates).length === 0)
    .map((service) => ({
      rule: "service-selector" as const,
      object: objectId(service),
      message: `selector {${formatLabels(service.spec?.selector ?? {})}} matches no pod template in the render`,
    }));
}

function checkPortNames(services: readonly K8sObject[]): Finding[] {
  return services.flatMap((service) =>
    ((service.spec?.ports ?? []) as { name?: string; port?: number; appProtocol?: string }[])
      .filter(({ name = "", appProtocol }) => {
        if (appProtocol !== undefined) return false;
        return !ISTIO_PROTOCOLS.some((protocol) => name === protocol || name.startsWith(`${protocol}-`));
      })
      .map(({ name, port }) => ({
        rule: "port-name" as const,
        object: objectId(service),
        message:
          `port ${port} is named ${JSON.stringify(name ?? "")} and has no appProtocol: Istio selects the protocol ` +
          `from a name prefix (${ISTIO_PROTOCOLS.join(", ")}) or appProtocol, so this port is treated as opaque TCP`,
      })),
  );
}

// ---- Istio routing ----

/**
 * The Service a rule's host names, resolved as Istio does: a short name is a Service in the
 * rule's namespace, anything with a dot is taken as written, so only the FQDN names a Service
 * of another namespace (`web.other` and `web.other.svc` name no Service).
 */
function findService(services: readonly K8sObject[], host: string, ruleNamespace: string): K8sObject | undefined {
  const fqdn = resolveHost(host, ruleNamespace);
  return services.find((s) => resolveHost(s.metadata.name, namespaceOf(s)) === fqdn);
}

/** For a host that looks like `name.namespace` or `name.namespace.svc`: how Istio reads it. */
function hostHint(host: string): string {
  const parts = host.split(".");
  return parts.length === 2 || (parts.length === 3 && parts[2] === "svc")
    ? " (Istio takes a name with a dot as written: a Service of another namespace is name.namespace.svc.cluster.local)"
    : "";
}

interface Destination {
  host: string;
  subset?: string;
}

/** Every destination a VirtualService sends (or mirrors) traffic to. */
function routeDestinations(vs: K8sObject): Destination[] {
  const routes = [...(vs.spec?.http ?? []), ...(vs.spec?.tcp ?? []), ...(vs.spec?.tls ?? [])] as any[];
  return routes.flatMap((route) => [
    ...((route.route ?? []) as { destination?: Destination }[]).flatMap((r) => (r.destination ? [r.destination] : [])),
    ...(route.mirror ? [route.mirror as Destination] : []),
    ...((route.mirrors ?? []) as { destination?: Destination }[]).flatMap((m) =>
      m.destination ? [m.destination] : [],
    ),
  ]);
}

function checkRoutes(
  virtualServices: readonly K8sObject[],
  destinationRules: readonly K8sObject[],
  services: readonly K8sObject[],
): Finding[] {
  return virtualServices.flatMap((vs) =>
    routeDestinations(vs).flatMap(({ host, subset }): Finding[] => {
      const service = findService(services, host, namespaceOf(vs));
      if (service === undefined) {
        return [
          {
            rule: "route-host",
            object: objectId(vs),
            message: `destination host ${host} is not a Service in the render${hostHint(host)}`,
          },
        ];
      }
      if (subset === undefined) return [];
      const subsetExists = destinationRules.some(
        (dr) =>
          findService(services, dr.spec?.host ?? "", namespaceOf(dr)) === service &&
          ((dr.spec?.subsets ?? []) as { name: string }[]).some((s) => s.name === subset),
      );
      return subsetExists
        ? []
        : [
            {
              rule: "route-subset",
              object: objectId(vs),
              message: `subset ${subset} of ${host} is defined by no DestinationRule for that host`,
            },
          ];
    }),
  );
}

/** Each subset must pick the pods of exactly one workload: one version, as subsets mean. */
function checkSubsets(
  destinationRules: readonly K8sObject[],
  services: readonly K8sObject[],
  templates: readonly PodTemplate[],
): Finding[] {
  return destinationRules.flatMap((dr): Finding[] => {
    const host: string = dr.spec?.host ?? "";
    const service = findService(services, host, namespaceOf(dr));
    if (service === undefined) {
      return [
        {
          rule: "route-host",
          object: objectId(dr),
          message: `host ${host} is not a Service in the render${hostHint(host)}`,
        },
      ];
    }
    const pods = servicePods(service, templates);
    return ((dr.spec?.subsets ?? []) as { name: string; labels?: Labels }[]).flatMap(
      ({ name, labels = {} }): Finding[] => {
        const selected = pods.filter((p) => labelsMatch(labels, p.labels));
        const owners = selected.map((p) => objectId(p.owner));
        // Several workloads of one version are fine (the outlier lesson adds a faulty v1); pods of several versions are not.
        const versions = new Set(selected.map(versionOf));
        if (owners.length === 1 || (owners.length > 1 && versions.size === 1)) return [];
        if (owners.length === 0) {
          const seen = pods.map(
            (p) => `${objectId(p.owner)} has {${formatLabels(pick(p.labels, Object.keys(labels)))}}`,
          );
          return [
            {
              rule: "subset-pods",
              object: objectId(dr),
              message:
                `subset ${name} {${formatLabels(labels)}} selects no pods of Service ${host}` +
                (seen.length ? ` (${seen.join("; ")})` : ""),
            },
          ];
        }
        return [
          {
            rule: "subset-pods",
            object: objectId(dr),
            message: `subset ${name} {${formatLabels(labels)}} selects the pods of ${owners.length} workloads running versions ${[...versions].join(", ")} (${owners.join(", ")}), not one version`,
          },
        ];
      },
    );
  });
}

/** The version a workload's app reports (its first container's `version` variable); without one, each workload is its own. */
function versionOf(template: PodTemplate): string {
  const env: any[] = template.spec?.containers?.[0]?.env ?? [];
  return String(env.find((e) => e.name === "version")?.value ?? objectId(template.owner));
}

function pick(labels: Labels, keys: readonly string[]): Labels {
  return Object.fromEntries(keys.filter((k) => k in labels).map((k) => [k, labels[k]!]));
}

// ---- Gateway API routing ----

interface ObjectRef {
  group?: string;
  kind?: string;
  name: string;
  namespace?: string;
}

/** Every Service an HTTPRoute sends (or mirrors) traffic to, with where it says so. */
function httpRouteBackends(route: K8sObject): { ref: ObjectRef; field: string }[] {
  return ((route.spec?.rules ?? []) as any[]).flatMap((rule, i) => [
    ...((rule.backendRefs ?? []) as ObjectRef[]).map((ref, j) => ({
      ref,
      field: `spec.rules[${i}].backendRefs[${j}]`,
    })),
    ...((rule.filters ?? []) as any[]).flatMap((f, j) =>
      f.requestMirror?.backendRef
        ? [
            {
              ref: f.requestMirror.backendRef as ObjectRef,
              field: `spec.rules[${i}].filters[${j}].requestMirror.backendRef`,
            },
          ]
        : [],
    ),
  ]);
}

/** An HTTPRoute's parents (a Service for the mesh, or a Gateway) and its backends (Services) must be in the render. */
function checkHttpRoutes(
  routes: readonly K8sObject[],
  services: readonly K8sObject[],
  gateways: readonly K8sObject[],
): Finding[] {
  const exists = (objects: readonly K8sObject[], name: string, namespace: string) =>
    objects.some((o) => o.metadata.name === name && namespaceOf(o) === namespace);
  return routes.flatMap((route): Finding[] => {
    const parents = ((route.spec?.parentRefs ?? []) as ObjectRef[]).flatMap((ref, i): Finding[] => {
      const namespace = ref.namespace ?? namespaceOf(route);
      const isService = (ref.group ?? "gateway.networking.k8s.io") === "" && ref.kind === "Service";
      const kind = isService ? "Service" : (ref.kind ?? "Gateway");
      if (exists(isService ? services : gateways, ref.name, namespace)) return [];
      return [
        {
          rule: "route-parent",
          object: objectId(route),
          message: `spec.parentRefs[${i}]: ${kind} ${namespace}/${ref.name} is not in the render`,
        },
      ];
    });
    const backends = httpRouteBackends(route).flatMap(({ ref, field }): Finding[] => {
      if ((ref.group ?? "") !== "" || (ref.kind ?? "Service") !== "Service") return [];
      const namespace = ref.namespace ?? namespaceOf(route);
      if (exists(services, ref.name, namespace)) return [];
      return [
        {
          rule: "route-host",
          object: objectId(route),
          message: `${field}: Service ${namespace}/${ref.name} is not in the render`,
        },
      ];
    });
    return [...parents, ...backends];
  });
}

function checkDeprecatedFields(rules: readonly K8sObject[]): Finding[] {
  const findings: Finding[] = [];
  const walk = (obj: K8sObject, node: unknown, path: string[]): void => {
    if (node === null || typeof node !== "object") return;
    for (const [key, value] of Object.entries(node)) {
      const advice = deprecatedField([...path, key].join("."), value);
      if (advice !== undefined) {
        findings.push({
          rule: "deprecated-field",
          object: objectId(obj),
          message: `${[...path, key].join(".")}: ${advice}`,
        });
      }
      walk(obj, value, [...path, key]);
    }
  };
  for (const rule of rules) walk(rule, rule.spec, ["spec"]);
  return findings;
}

// ---- ambient mode ----

const labelsOf = (obj: K8sObject): Record<string, string> =>
  (obj.metadata as { labels?: Record<string, string> }).labels ?? {};

/**
 * Ambient mode (istio.io/dataplane-mode: ambient): no sidecar injection beside it; every waypoint
 * (a Gateway of class istio-waypoint) has the HBONE listener on 15008 and a known
 * istio.io/waypoint-for; every istio.io/use-waypoint label names a waypoint of the render.
 */
function checkAmbient(objects: readonly K8sObject[], gateways: readonly K8sObject[]): Finding[] {
  const findings: Finding[] = [];
  for (const ns of objects.filter(
    (o) => isKind(o, "", "Namespace") && labelsOf(o)["istio.io/dataplane-mode"] === "ambient",
  )) {
    if (labelsOf(ns)["istio-injection"] !== undefined)
      findings.push({
        rule: "ambient-namespace",
        object: objectId(ns),
        message:
          "has istio-injection beside istio.io/dataplane-mode: ambient; pods that get a sidecar are left out of ambient",
      });
  }
  const waypoints = gateways.filter((g) => g.spec?.gatewayClassName === "istio-waypoint");
  for (const wp of waypoints) {
    const listeners = (wp.spec?.listeners ?? []) as { port?: number; protocol?: string }[];
    if (!listeners.some((l) => l.protocol === "HBONE" && l.port === 15008))
      findings.push({
        rule: "waypoint",
        object: objectId(wp),
        message: "spec.listeners: a waypoint needs protocol HBONE on port 15008",
      });
    const forTraffic = labelsOf(wp)["istio.io/waypoint-for"];
    if (forTraffic !== undefined && !["service", "workload", "all", "none"].includes(forTraffic))
      findings.push({
        rule: "waypoint",
        object: objectId(wp),
        message: `istio.io/waypoint-for ${forTraffic}: expected service, workload, all or none`,
      });
  }
  for (const obj of objects.filter((o) => isKind(o, "", "Service") || isKind(o, "", "Namespace"))) {
    const name = labelsOf(obj)["istio.io/use-waypoint"];
    if (name === undefined || name === "none") continue;
    const namespace =
      labelsOf(obj)["istio.io/use-waypoint-namespace"] ??
      (obj.kind === "Namespace" ? obj.metadata.name : namespaceOf(obj));
    if (!waypoints.some((w) => w.metadata.name === name && namespaceOf(w) === namespace))
      findings.push({
        rule: "use-waypoint",
        object: objectId(obj),
        message: `istio.io/use-waypoint names ${namespace}/${name}, which is no waypoint (Gateway of class istio-waypoint) of the render`,
      });
  }
  return findings;
}

// ---- workload hardening ----

/** What a container lacks for the Pod Security "restricted" profile (plus a read-only root). */
export function restrictedViolations(podSpec: any, container: any): string[] {
  const pod = podSpec.securityContext ?? {};
  const own = container.securityContext ?? {};
  const problems: string[] = [];
  if ((own.runAsNonRoot ?? pod.runAsNonRoot) !== true) problems.push("runAsNonRoot must be true");
  const uid = own.runAsUser ?? pod.runAsUser;
  if (typeof uid !== "number" || uid === 0) problems.push("runAsUser must be a numeric non-root uid");
  if (own.privileged === true) problems.push("privileged must not be set");
  if (own.allowPrivilegeEscalation !== false) problems.push("allowPrivilegeEscalation must be false");
  if (own.readOnlyRootFilesystem !== true) problems.push("readOnlyRootFilesystem must be true");
  const drop: string[] = own.capabilities?.drop ?? [];
  if (!drop.includes("ALL")) problems.push("capabilities.drop must include ALL");
  const added: string[] = own.capabilities?.add ?? [];
  if (added.some((c) => c !== "NET_BIND_SERVICE")) problems.push("capabilities.add may only hold NET_BIND_SERVICE");
  const seccomp = (own.seccompProfile ?? pod.seccompProfile)?.type;
  if (seccomp !== "RuntimeDefault" && seccomp !== "Localhost")
    problems.push("seccompProfile.type must be RuntimeDefault or Localhost");
  for (const field of ["hostNetwork", "hostPID", "hostIPC"]) {
    if (podSpec[field] === true) problems.push(`${field} must not be set`);
  }
  if (((podSpec.volumes ?? []) as any[]).some((v) => v.hostPath !== undefined))
    problems.push("hostPath volumes are not allowed");
  return problems;
}

function containersOf(spec: any): any[] {
  return [...(spec.initContainers ?? []), ...(spec.containers ?? [])];
}

function checkRestricted(templates: readonly PodTemplate[]): Finding[] {
  return templates.flatMap(({ owner, spec }) =>
    containersOf(spec).flatMap((container) => {
      const problems = restrictedViolations(spec, container);
      return problems.length === 0
        ? []
        : [
            {
              rule: "restricted" as const,
              object: objectId(owner),
              message: `container ${container.name}: ${problems.join("; ")}`,
            },
          ];
    }),
  );
}

const DEFAULT_GRACE_SECONDS = 30;

/** The kubelet must not kill a pod before its SHUTDOWN_DELAY and DRAIN_TIMEOUT have run out. */
function checkShutdownBudget(templates: readonly PodTemplate[]): Finding[] {
  return templates.flatMap(({ owner, spec }) =>
    (spec.containers ?? []).flatMap((container: any) => {
      const env = new Map<string, string>(
        ((container.env ?? []) as any[]).filter((e) => typeof e.value === "string").map((e) => [e.name, e.value]),
      );
      const delay = env.has("SHUTDOWN_DELAY") ? parseDuration(env.get("SHUTDOWN_DELAY")!) : 0;
      const drain = env.has("DRAIN_TIMEOUT") ? parseDuration(env.get("DRAIN_TIMEOUT")!) : 0;
      if (delay === undefined || drain === undefined) {
        return [
          {
            rule: "shutdown-budget" as const,
            object: objectId(owner),
            message: `container ${container.name}: SHUTDOWN_DELAY or DRAIN_TIMEOUT is not a duration`,
          },
        ];
      }
      const graceMs = (spec.terminationGracePeriodSeconds ?? DEFAULT_GRACE_SECONDS) * 1000;
      return delay + drain < graceMs
        ? []
        : [
            {
              rule: "shutdown-budget" as const,
              object: objectId(owner),
              message: `container ${container.name}: terminationGracePeriodSeconds ${graceMs / 1000} is not longer than SHUTDOWN_DELAY + DRAIN_TIMEOUT (${(delay + drain) / 1000}s)`,
            },
          ];
    }),
  );
}

/** Cross-checks the rendered objects against each other. */
export function crossCheck(objects: readonly K8sObject[]): Finding[] {
  const templates = podTemplates(objects);
  const services = objects.filter((o) => isKind(o, "", "Service"));
  const virtualServices = objects.filter((o) => isKind(o, "networking.istio.io", "VirtualService"));
  const destinationRules = objects.filter((o) => isKind(o, "networking.istio.io", "DestinationRule"));
  const httpRoutes = objects.filter((o) => isKind(o, "gateway.networking.k8s.io", "HTTPRoute"));
  const gateways = objects.filter((o) => isKind(o, "gateway.networking.k8s.io", "Gateway"));
  return [
    ...checkWorkloadSelectors(templates),
    ...checkServiceSelectors(services, templates),
    ...checkPortNames(services),
    ...checkRoutes(virtualServices, destinationRules, services),
    ...checkSubsets(destinationRules, services, templates),
    ...checkHttpRoutes(httpRoutes, services, gateways),
    ...checkAmbient(objects, gateways),
    ...checkDeprecatedFields([...virtualServices, ...destinationRules]),
    ...checkRestricted(templates),
    ...checkShutdownBudget(templates),
  ];
}

/** Every container image must be one this repository builds (lessons/src/core/images.ts). */
export function checkImages(objects: readonly K8sObject[], builtImages: readonly string[] = IMAGE_NAMES): Finding[] {
  return podTemplates(objects).flatMap(({ owner, spec }) =>
    containersOf(spec)
      .filter((container) => !builtImages.includes(container.image))
      .map((container) => ({
        rule: "image" as const,
        object: objectId(owner),
        message: `container ${container.name} runs image ${container.image}, which is not one of the images this repository builds (${builtImages.join(", ") || "none"})`,
      })),
  );
}

/** All checks: schemas, cross-checks and image names. */
export function checkManifests(objects: readonly K8sObject[], builtImages: readonly string[] = IMAGE_NAMES): Finding[] {
  return [...validateSchemas(objects), ...crossCheck(objects), ...checkImages(objects, builtImages)];
}
