// The kubectl command lines a learner runs against a cluster, built in one
// place: verify runs them, the preview and --dry-run print them.
import type { K8sObject } from "./kustomize.ts";

export const DEFAULT_NAMESPACE = "istio-lessons";

/** The namespace a render puts everything in: its Namespace object's, else the lessons' default. */
export function renderNamespace(objects: readonly K8sObject[]): string {
  return objects.find((o) => o.kind === "Namespace")?.metadata.name ?? DEFAULT_NAMESPACE;
}
/** How far back a mirror check reads logs; the run id picks out this run's copies. */
export const LOG_WINDOW = "5m";

/** `kubectl` with these arguments, on the given context (none: kubectl's current context). */
export function kubectl(context: string | undefined, ...args: string[]): string[] {
  return ["kubectl", ...(context ? ["--context", context] : []), ...args];
}

/** `kubectl exec` of tally in the sleep pod, with tally's arguments. */
export function sleepTallyCommand(namespace: string, args: string[], context?: string): string[] {
  return kubectl(context, "exec", "-n", namespace, "deploy/sleep", "-c", "sleep", "--", "tally", ...args);
}

/** The pod labels a Deployment of the render selects, as a kubectl label selector. */
export function deploymentSelector(objects: readonly K8sObject[], deployment: string): string {
  const found = objects.find((o) => o.kind === "Deployment" && o.metadata.name === deployment);
  if (!found) throw new Error(`the overlay has no Deployment ${deployment}`);
  return Object.entries(found.spec?.selector?.matchLabels ?? {})
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(",");
}

/** `kubectl logs` of every pod of a Deployment of the render (by its selector), recent lines only. */
export function deploymentLogsCommand(
  objects: K8sObject[],
  deployment: string,
  namespace: string,
  context?: string,
): string[] {
  const selector = deploymentSelector(objects, deployment);
  const found = objects.find((o) => o.kind === "Deployment" && o.metadata.name === deployment)!;
  const container = String(found.spec?.template?.spec?.containers?.[0]?.name ?? deployment);
  return kubectl(
    context,
    "logs",
    "-n",
    namespace,
    "-l",
    selector,
    "-c",
    container,
    "--tail=-1",
    `--since=${LOG_WINDOW}`,
  );
}
