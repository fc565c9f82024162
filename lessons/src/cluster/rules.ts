// Which objects of a lesson are its rules, and how to tell one lesson's rules from
// another's on a cluster. A rule is an object of Istio's or the Gateway API's
// traffic APIs. Nothing is labelled: every lesson's render is known (kustomize),
// so a rule on the cluster is compared with the renders. Same kind and name as
// one of the lesson's rules and the same spec: it is the lesson's. Anything else
// of a rule kind is a leftover, named with the lessons that have it.
import type { K8sObject } from "../core/kustomize.ts";

/**
 * The rule kinds a lesson may hold, by API group and kind, with the resource
 * name kubectl takes (fully qualified: Istio's Gateway and the Gateway API's
 * Gateway share a kind). A lesson with a kind missing here is an error.
 */
export const RULE_RESOURCES: Readonly<Record<string, string>> = {
  "networking.istio.io/VirtualService": "virtualservices.networking.istio.io",
  "networking.istio.io/DestinationRule": "destinationrules.networking.istio.io",
  "networking.istio.io/Gateway": "gateways.networking.istio.io",
  "networking.istio.io/ServiceEntry": "serviceentries.networking.istio.io",
  "networking.istio.io/Sidecar": "sidecars.networking.istio.io",
  "networking.istio.io/WorkloadEntry": "workloadentries.networking.istio.io",
  "networking.istio.io/EnvoyFilter": "envoyfilters.networking.istio.io",
  "gateway.networking.k8s.io/HTTPRoute": "httproutes.gateway.networking.k8s.io",
  "gateway.networking.k8s.io/GRPCRoute": "grpcroutes.gateway.networking.k8s.io",
  "gateway.networking.k8s.io/Gateway": "gateways.gateway.networking.k8s.io",
  "gateway.networking.k8s.io/ReferenceGrant": "referencegrants.gateway.networking.k8s.io",
};

/** API groups whose objects are rules (routing and traffic policy), not workloads. */
const RULE_GROUPS = new Set([
  "networking.istio.io",
  "gateway.networking.k8s.io",
  "security.istio.io",
  "telemetry.istio.io",
]);

export class RuleKindError extends Error {}

function groupOf(obj: Pick<K8sObject, "apiVersion">): string {
  const slash = obj.apiVersion.indexOf("/");
  return slash === -1 ? "" : obj.apiVersion.slice(0, slash);
}

export function isRule(obj: K8sObject): boolean {
  return RULE_GROUPS.has(groupOf(obj));
}

/** The kubectl resource of a rule, e.g. virtualservices.networking.istio.io. */
export function resourceOf(obj: K8sObject): string {
  const resource = RULE_RESOURCES[`${groupOf(obj)}/${obj.kind}`];
  if (!resource)
    throw new RuleKindError(
      `${obj.apiVersion} ${obj.kind} ${obj.metadata.name}: not a rule kind the lessons tooling knows; add it to RULE_RESOURCES in lessons/src/cluster/rules.ts`,
    );
  return resource;
}

/** `resource/name`, as kubectl takes it. */
export function ruleRef(obj: K8sObject): string {
  return `${resourceOf(obj)}/${obj.metadata.name}`;
}

/** `VirtualService flaskapp`, for people. */
export function ruleLabel(obj: K8sObject): string {
  return `${obj.kind} ${obj.metadata.name}`;
}

export function rulesOf(objects: readonly K8sObject[]): K8sObject[] {
  return objects.filter(isRule);
}

/** Every rule resource any lesson uses, in RULE_RESOURCES order: what is looked at and cleaned on a cluster. */
export function ruleResources(renders: Iterable<readonly K8sObject[]>): string[] {
  const used = new Set<string>();
  for (const objects of renders) for (const rule of rulesOf(objects)) used.add(resourceOf(rule));
  return Object.values(RULE_RESOURCES).filter((r) => used.has(r));
}

/** The API group of a kubectl resource name: `httproutes.gateway.networking.k8s.io` → gateway.networking.k8s.io; `services` → "". */
export function resourceGroup(resource: string): string {
  const dot = resource.indexOf(".");
  return dot === -1 ? "" : resource.slice(dot + 1);
}

/**
 * The resources to delete before a lesson is applied, grouped so each group is
 * one `kubectl delete`: resources of which the lesson keeps nothing, and
 * resources of which it keeps some names (a field selector excluding them;
 * `kubectl apply` then updates those in place). A group never mixes API groups,
 * so one whose kinds a cluster does not serve (the Gateway API's, without its
 * CRDs) can be left out on its own.
 */
export function deletionGroups(
  resources: readonly string[],
  lessonObjects: readonly K8sObject[],
  resourceOfObject: (obj: K8sObject) => string | undefined = resourceOf,
): Array<{ resources: string[]; keep: string[] }> {
  const groups = new Map<string, { resources: string[]; keep: string[] }>();
  for (const resource of resources) {
    const keep = [
      ...new Set(lessonObjects.filter((r) => resourceOfObject(r) === resource).map((r) => r.metadata.name)),
    ].sort();
    const key = `${resourceGroup(resource).startsWith("gateway.") ? "gateway" : "other"}|${keep.join(",")}`;
    if (!groups.has(key)) groups.set(key, { resources: [], keep });
    groups.get(key)!.resources.push(resource);
  }
  return [...groups.values()].sort((a, b) => a.keep.length - b.keep.length);
}

/** The Gateway API's group: its kinds are served only where its CRDs are installed. */
export const GATEWAY_API_GROUP = "gateway.networking.k8s.io";

export function isGatewayApiResource(resource: string): boolean {
  return resourceGroup(resource) === GATEWAY_API_GROUP;
}

/** The label every object of a lesson carries (each kustomization's `labels:`): what switching removes when the next lesson lacks it. */
export const LESSON_LABEL = { key: "app.kubernetes.io/part-of", value: "istio-lessons" } as const;
export const LESSON_SELECTOR = `${LESSON_LABEL.key}=${LESSON_LABEL.value}`;

/**
 * The kinds a lesson may hold besides its rules and its Namespace (never deleted: it
 * holds everything), with the resource name kubectl takes. A lesson with a kind
 * missing here is an error: switching could not remove it.
 */
export const OBJECT_RESOURCES: Readonly<Record<string, string>> = {
  "apps/Deployment": "deployments.apps",
  "/Service": "services",
  "/ServiceAccount": "serviceaccounts",
  "/ConfigMap": "configmaps",
  "/Secret": "secrets",
  "policy/PodDisruptionBudget": "poddisruptionbudgets.policy",
};

/** The kubectl resource of a lesson's object that is not a rule; undefined for its Namespace. */
export function objectResourceOf(obj: K8sObject): string | undefined {
  if (obj.kind === "Namespace" && groupOf(obj) === "") return undefined;
  const resource = OBJECT_RESOURCES[`${groupOf(obj)}/${obj.kind}`];
  if (!resource)
    throw new RuleKindError(
      `${obj.apiVersion} ${obj.kind} ${obj.metadata.name}: not a kind the lessons tooling can remove when switching lessons; add it to OBJECT_RESOURCES in lessons/src/cluster/rules.ts`,
    );
  return resource;
}

/** Every non-rule resource any lesson uses (Namespace aside), in OBJECT_RESOURCES order. */
export function objectResources(renders: Iterable<readonly K8sObject[]>): string[] {
  const used = new Set<string>();
  for (const objects of renders) for (const obj of objects) if (!isRule(obj)) used.add(objectResourceOf(obj) ?? "");
  return Object.values(OBJECT_RESOURCES).filter((r) => used.has(r));
}

/** A field selector that matches every object except these names. */
export function excludeNames(names: readonly string[]): string {
  return names.map((n) => `metadata.name!=${n}`).join(",");
}

/** True when every field the render sets has that value on the live object (the API server may add defaults). */
export function contains(live: unknown, rendered: unknown): boolean {
  if (Array.isArray(rendered)) {
    return (
      Array.isArray(live) && live.length === rendered.length && rendered.every((item, i) => contains(live[i], item))
    );
  }
  if (rendered !== null && typeof rendered === "object") {
    if (live === null || typeof live !== "object" || Array.isArray(live)) return false;
    return Object.entries(rendered).every(([key, value]) => contains((live as Record<string, unknown>)[key], value));
  }
  return live === rendered;
}

function sameRule(a: K8sObject, b: K8sObject): boolean {
  return (
    a.apiVersion.split("/")[0] === b.apiVersion.split("/")[0] &&
    a.kind === b.kind &&
    a.metadata.name === b.metadata.name
  );
}

/** The lessons whose render holds this rule with this spec (exact: same kind, name and every rendered field). */
export function lessonsHolding<L extends string>(live: K8sObject, renders: ReadonlyMap<L, readonly K8sObject[]>): L[] {
  const found: L[] = [];
  for (const [lesson, objects] of renders) {
    if (rulesOf(objects).some((r) => sameRule(r, live) && contains(live.spec, r.spec ?? {}))) found.push(lesson);
  }
  return found;
}

export interface RuleFindings<L extends string> {
  /** The lesson's rules that are not on the cluster. */
  missing: K8sObject[];
  /** The lesson's rules present under the same name with another spec, and the lessons whose spec they have. */
  changed: Array<{ rule: K8sObject; from: L[] }>;
  /** Rules on the cluster that are not the lesson's, and the lessons that have them. */
  leftovers: Array<{ rule: K8sObject; from: L[] }>;
}

/** Compares the rules on the cluster with a lesson's. */
export function assessRules<L extends string>(
  live: readonly K8sObject[],
  lesson: L,
  renders: ReadonlyMap<L, readonly K8sObject[]>,
): RuleFindings<L> {
  const own = rulesOf(renders.get(lesson) ?? []);
  const findings: RuleFindings<L> = { missing: [], changed: [], leftovers: [] };
  for (const rule of own) {
    const onCluster = live.find((l) => sameRule(l, rule));
    if (!onCluster) findings.missing.push(rule);
    else if (!contains(onCluster.spec, rule.spec ?? {}))
      findings.changed.push({ rule, from: lessonsHolding(onCluster, renders) });
  }
  for (const rule of live) {
    if (!own.some((o) => sameRule(o, rule))) findings.leftovers.push({ rule, from: lessonsHolding(rule, renders) });
  }
  return findings;
}
