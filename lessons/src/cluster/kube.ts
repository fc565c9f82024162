// What the cluster tooling asks a cluster, as plan steps: is there a cluster at
// all, does the lessons' namespace exist with sidecar injection on, are the
// lesson's pods ready with their istio-proxy sidecar, which rules are there.
// Each step is one kubectl command; its judge reads kubectl's answer and turns
// a problem into one line that says what to do.
import { formatDuration } from "#common/duration.ts";
import { kubectl } from "../core/kubectl.ts";
import { labelsMatch, type K8sObject } from "../core/kustomize.ts";
import { assessRules, GATEWAY_API_GROUP, ruleLabel, ruleRef, type RuleFindings } from "./rules.ts";
import { gatewayApiInstallHint } from "./tools.ts";
import { EXIT, lastError, StepError, type Step } from "./plan.ts";
import type { ProgramRun } from "../core/run.ts";
import { IMAGE_NAMES } from "../core/images.ts";
import { formatCommand } from "../core/shell.ts";

/** Where and how the tooling talks to the cluster. */
export interface KubeTarget {
  /** kubectl's --context; undefined: kubectl's current context. */
  context?: string | undefined;
  /** kubectl --request-timeout of each query (how long the API server may take to answer). */
  requestTimeoutMs: number;
}

/** A query is stopped when it has not finished this long after its --request-timeout. */
export const QUERY_GRACE_MS = 20_000;
/** Longest a kubectl apply or delete may take before it is stopped. */
export const ACTION_TIMEOUT_MS = 2 * 60_000;

export function queryTimeoutMs(target: KubeTarget): number {
  return target.requestTimeoutMs + QUERY_GRACE_MS;
}

export function requestTimeout(target: KubeTarget): string {
  return `--request-timeout=${formatDuration(target.requestTimeoutMs)}`;
}

export function json<T>(run: ProgramRun): T | undefined {
  try {
    return JSON.parse(run.stdout) as T;
  } catch {
    return undefined;
  }
}

/** What the probe learned about the cluster. */
export interface ClusterInfo {
  server: string;
  version: string;
}

/**
 * Two queries before anything else: which API server kubectl would talk to (none
 * without a kubeconfig: kubectl would then try http://localhost:8080), and
 * whether a Kubernetes API server answers there. Either failing is "no cluster".
 */
export function probeSteps(target: KubeTarget): { steps: Step[]; info: ClusterInfo } {
  const info: ClusterInfo = { server: "", version: "" };
  const where = target.context ? `context "${target.context}"` : "the current context";
  return {
    info,
    steps: [
      {
        argv: kubectl(target.context, "config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}"),
        note: "the API server of the context",
        quiet: true,
        timeoutMs: queryTimeoutMs(target),
        judge: (run) => {
          info.server = run.stdout.trim();
          if (run.code === 0 && info.server) return;
          const why = target.context
            ? `kubectl has no context "${target.context}" (${lastError(run)}); see \`kubectl config get-contexts\``
            : "kubectl has no current context (no kubeconfig, or none selected), so it would try http://localhost:8080; create a cluster with `npm run cluster -- up`, or select yours with `kubectl config use-context NAME`";
          throw new StepError(`no cluster: ${why}`, EXIT.noCluster);
        },
      },
      {
        argv: kubectl(target.context, "version", "-o", "json", requestTimeout(target)),
        note: "the cluster answers",
        quiet: true,
        timeoutMs: queryTimeoutMs(target),
        judge: (run) => {
          const version = json<{ serverVersion?: { gitVersion?: string } }>(run)?.serverVersion?.gitVersion;
          if (run.code === 0 && version) {
            info.version = version;
            return;
          }
          const error = lastError(run);
          const why = /could not find the requested resource/.test(error)
            ? `${info.server} (${where}) answers, but it is not a Kubernetes API server (${error}): is another program listening there?`
            : `the API server at ${info.server} (${where}) does not answer: ${error}`;
          throw new StepError(`no cluster: ${why}`, EXIT.noCluster);
        },
      },
    ],
  };
}

/** The namespace exists and Istio injects sidecars there. */
export function namespaceStep(target: KubeTarget, namespace: string, firstLesson: string): Step {
  return {
    argv: kubectl(target.context, "get", "namespace", namespace, "-o", "json", requestTimeout(target)),
    note: "the namespace exists, with istio-injection=enabled",
    quiet: true,
    timeoutMs: queryTimeoutMs(target),
    judge: (run) => {
      if (run.code !== 0) {
        const error = lastError(run);
        if (/NotFound/.test(error))
          throw new StepError(
            `not ready: namespace ${namespace} does not exist: apply a lesson first: npm run lesson -- ${firstLesson}`,
            EXIT.notReady,
          );
        throw new StepError(`cannot read namespace ${namespace}: ${error}`, EXIT.failed);
      }
      const labels = json<K8sObject>(run)?.metadata?.labels ?? {};
      if (labels["istio-injection"] !== "enabled" && !labels["istio.io/rev"]) {
        throw new StepError(
          `not ready: namespace ${namespace} lacks the label istio-injection=enabled, so Istio adds no sidecars: kubectl label namespace ${namespace} istio-injection=enabled, then kubectl rollout restart deployment -n ${namespace}`,
          EXIT.notReady,
        );
      }
    },
  };
}

/** A Deployment of a render: what its pods look like. */
export interface RenderedDeployment {
  name: string;
  matchLabels: Record<string, string>;
  replicas: number;
}

export function workloadsOf(objects: readonly K8sObject[]): RenderedDeployment[] {
  return objects
    .filter((o) => o.kind === "Deployment")
    .map((d) => ({
      name: d.metadata.name,
      matchLabels: (d.spec?.selector?.matchLabels ?? {}) as Record<string, string>,
      replicas: Number(d.spec?.replicas ?? 1),
    }));
}

/** A Service of a render: the pods it sends traffic to. */
export interface RenderedService {
  name: string;
  selector: Record<string, string>;
}

export function servicesOf(objects: readonly K8sObject[]): RenderedService[] {
  return objects
    .filter((o) => o.kind === "Service" && o.spec?.selector)
    .map((s) => ({ name: s.metadata.name, selector: s.spec!.selector as Record<string, string> }));
}

interface ContainerStatus {
  name: string;
  ready?: boolean;
  image?: string;
  state?: { waiting?: { reason?: string; message?: string }; running?: object; terminated?: { reason?: string } };
}

export interface Pod {
  metadata: {
    name: string;
    labels?: Record<string, string>;
    deletionTimestamp?: string;
    ownerReferences?: Array<{ kind: string; name: string }>;
  };
  spec?: {
    containers?: Array<{ name: string; image?: string }>;
    initContainers?: Array<{ name: string; image?: string; restartPolicy?: string }>;
  };
  status?: {
    phase?: string;
    conditions?: Array<{ type: string; status: string }>;
    containerStatuses?: ContainerStatus[];
    initContainerStatuses?: ContainerStatus[];
  };
}

/** The proxy's container name; a native sidecar (Istio 1.28+ on Kubernetes 1.29+) is an init container that keeps running. */
export const SIDECAR = "istio-proxy";

/** The containers that run for the pod's life: regular ones and native sidecars (init containers with restartPolicy Always), as kubectl's READY column counts them. */
export function longRunning(pod: Pod): { names: string[]; statuses: ContainerStatus[] } {
  const sidecars = (pod.spec?.initContainers ?? []).filter((c) => c.restartPolicy === "Always").map((c) => c.name);
  const names = [...(pod.spec?.containers ?? []).map((c) => c.name), ...sidecars];
  const statuses = [
    ...(pod.status?.containerStatuses ?? []),
    ...(pod.status?.initContainerStatuses ?? []).filter((s) => sidecars.includes(s.name)),
  ];
  return { names, statuses };
}

function isReady(pod: Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}

function selects(matchLabels: Record<string, string>, pod: Pod): boolean {
  return labelsMatch(matchLabels, pod.metadata.labels ?? {});
}

const IMAGE_REASONS = new Set(["ImagePullBackOff", "ErrImagePull", "ErrImageNeverPull", "InvalidImageName"]);

/** Why a pod is not ready, with what to do; undefined when it is ready with its sidecar. */
export function podProblem(pod: Pod, namespace: string, deployment: string, cluster?: string): string | undefined {
  const { names, statuses } = longRunning(pod);
  const ready = statuses.filter((s) => s.ready).length;
  const name = pod.metadata.name;
  for (const status of statuses) {
    const reason = status.state?.waiting?.reason;
    if (reason && IMAGE_REASONS.has(reason)) {
      const image = status.image ?? pod.spec?.containers?.find((c) => c.name === status.name)?.image ?? "its image";
      const ours = IMAGE_NAMES.includes(image);
      const load = ours
        ? ` the image is not in the cluster: build and load it (npm run cluster -- up, or kind load docker-image ${image}${cluster ? ` --name ${cluster}` : ""}; minikube: minikube image load ${image})`
        : "";
      return `pod ${name}: container ${status.name} cannot get image ${image} (${reason}):${load || ` ${status.state?.waiting?.message ?? "see kubectl describe pod"}`}`;
    }
    if (reason === "CrashLoopBackOff")
      return `pod ${name}: container ${status.name} keeps crashing (CrashLoopBackOff): kubectl logs -n ${namespace} ${name} -c ${status.name} --previous`;
  }
  if (!names.includes(SIDECAR)) {
    return `pod ${name} runs without the ${SIDECAR} sidecar (${ready}/${names.length}): it started before sidecar injection was on, or Istio is not installed (kubectl get pods -n istio-system); then kubectl rollout restart deployment/${deployment} -n ${namespace}`;
  }
  if (!isReady(pod)) {
    const waiting = statuses
      .filter((s) => !s.ready)
      .map((s) => `${s.name}${s.state?.waiting?.reason ? ` (${s.state.waiting.reason})` : ""}`);
    return `pod ${name} is not ready (${ready}/${names.length}${waiting.length ? `; waiting: ${waiting.join(", ")}` : ""})`;
  }
  return undefined;
}

/**
 * The Deployment a pod belongs to: its ReplicaSet owner's name without the
 * pod-template-hash suffix; "" for a pod no ReplicaSet owns (a bare pod), undefined
 * when the pod says nothing of its owners (then its labels decide).
 */
export function ownerDeployment(pod: Pod): string | undefined {
  const owners = pod.metadata.ownerReferences;
  if (!owners) return undefined;
  const replicaSet = owners.find((o) => o.kind === "ReplicaSet")?.name;
  const hash = pod.metadata.labels?.["pod-template-hash"];
  if (!replicaSet) return "";
  return hash && replicaSet.endsWith(`-${hash}`)
    ? replicaSet.slice(0, -hash.length - 1)
    : replicaSet.replace(/-[a-z0-9]+$/, "");
}

/**
 * Pods behind one of the lesson's Services that belong to none of its Deployments:
 * a workload another lesson left (outlier-ejection's flaskapp-v1-faulty) or one of the
 * learner's own. The Service sends them its share of the traffic, so the lesson's
 * outcome would not be the lesson's. One line each, with the command that removes it.
 */
export function strayPods(
  pods: readonly Pod[],
  workloads: readonly RenderedDeployment[],
  services: readonly RenderedService[],
  namespace: string,
  lesson?: string,
): string[] {
  const names = new Set(workloads.map((w) => w.name));
  const problems: string[] = [];
  for (const pod of pods) {
    if (pod.metadata.deletionTimestamp) continue;
    const behind = services
      .filter((s) => Object.keys(s.selector).length > 0 && selects(s.selector, pod))
      .map((s) => s.name);
    if (behind.length === 0) continue;
    const owner = ownerDeployment(pod);
    const own = owner === undefined ? workloads.some((w) => selects(w.matchLabels, pod)) : names.has(owner);
    if (own) continue;
    const remove = owner
      ? `kubectl delete deployment/${owner} -n ${namespace}`
      : `kubectl delete pod/${pod.metadata.name} -n ${namespace}`;
    problems.push(
      `pod ${pod.metadata.name}${owner ? ` (deployment ${owner})` : ""} is behind Service ${behind.join(", ")} but belongs to no Deployment of ${lesson ?? "this lesson"}: it gets a share of the requests; remove it with ${lesson ? `npm run lesson -- ${lesson} (or ${remove})` : remove}`,
    );
  }
  return problems;
}

/** Every Deployment has its replicas ready, each pod with its sidecar; the problems otherwise, one line each. */
export function assessPods(
  pods: readonly Pod[],
  workloads: readonly RenderedDeployment[],
  namespace: string,
  cluster?: string,
  problemOf: typeof podProblem = podProblem,
): string[] {
  const problems: string[] = [];
  for (const workload of workloads) {
    const own = pods.filter(
      (p) =>
        !p.metadata.deletionTimestamp &&
        selects(workload.matchLabels, p) &&
        (ownerDeployment(p) ?? workload.name) === workload.name,
    );
    const wrong = own
      .map((p) => problemOf(p, namespace, workload.name, cluster))
      .filter((p): p is string => p !== undefined);
    problems.push(...wrong);
    const good = own.length - wrong.length;
    if (wrong.length === 0 && good < workload.replicas) {
      problems.push(
        `deployment/${workload.name} has ${good} of ${workload.replicas} pods ready: kubectl describe deployment/${workload.name} -n ${namespace}`,
      );
    }
  }
  return problems;
}

/** `kubectl rollout status` of every Deployment of the render: waits for each to have its new pods ready. */
export function rolloutStep(
  target: KubeTarget,
  namespace: string,
  workloads: readonly RenderedDeployment[],
  waitMs: number,
  failed: (why: string) => void,
): Step {
  return {
    argv: kubectl(
      target.context,
      "rollout",
      "status",
      ...workloads.map((w) => `deployment/${w.name}`),
      "-n",
      namespace,
      `--timeout=${formatDuration(waitMs)}`,
    ),
    note: `up to ${formatDuration(waitMs)} for each Deployment`,
    timeoutMs: waitMs * Math.max(1, workloads.length) + QUERY_GRACE_MS,
    judge: (run) => {
      if (run.code !== 0) failed(lastError(run));
    },
  };
}

/** Every pod of the render's Deployments is ready with its sidecar (2/2); after a rollout that failed, says why. */
export function podsStep(
  target: KubeTarget,
  namespace: string,
  workloads: readonly RenderedDeployment[],
  options: {
    cluster?: string;
    services?: readonly RenderedService[];
    lesson?: string;
    rolloutFailure?: () => string | undefined;
  } = {},
): Step {
  return {
    argv: kubectl(target.context, "get", "pods", "-n", namespace, "-o", "json", requestTimeout(target)),
    note: `${workloads.map((w) => w.name).join(", ")}: every pod ready with its ${SIDECAR} sidecar${options.services?.length ? ", and no other workload's pods behind the lesson's Services" : ""}`,
    quiet: true,
    timeoutMs: queryTimeoutMs(target),
    judge: (run) => {
      if (run.code !== 0) throw new StepError(`cannot list the pods in ${namespace}: ${lastError(run)}`, EXIT.failed);
      const pods = json<{ items?: Pod[] }>(run)?.items ?? [];
      const problems = [
        ...assessPods(pods, workloads, namespace, options.cluster),
        ...strayPods(pods, workloads, options.services ?? [], namespace, options.lesson),
      ];
      const rollout = options.rolloutFailure?.();
      if (problems.length > 0) throw new StepError(`not ready:\n  ${problems.join("\n  ")}`, EXIT.notReady);
      if (rollout) throw new StepError(`not ready: the rollout did not finish: ${rollout}`, EXIT.notReady);
    },
  };
}

/** A rule kind the cluster does not serve (no Istio, or no Gateway API CRDs) is "not ready", with what to install. */
export function throwIfUnserved(run: ProgramRun): void {
  const text = lastError(run) + run.stderr;
  const missing = /doesn't have a resource type "([^"]+)"|no matches for kind "([^"]+)" in version "([^"/]+)/.exec(
    text,
  );
  if (!missing) return;
  const kind = missing[1] ?? missing[2]!;
  const gatewayApi =
    missing[3] === GATEWAY_API_GROUP ||
    /^(httproutes?|grpcroutes?|referencegrants?)$/i.test(kind) ||
    /gateway\.networking\.k8s\.io/.test(text);
  const install = gatewayApi
    ? gatewayApiInstallHint()
    : "install Istio first (npm run cluster -- up, or istioctl install --set profile=demo -y)";
  throw new StepError(`not ready: this cluster does not serve ${kind}: ${install}`, EXIT.notReady);
}

/**
 * The rules on the cluster, for comparing with the lesson's: one query for the Gateway API's
 * kinds (skipped when the cluster does not serve them: `gatewayApiServed`), then one for the
 * others, whose judge compares everything found with the lesson's rules.
 */
export function rulesSteps<L extends string>(
  target: KubeTarget,
  namespace: string,
  resources: readonly string[],
  lesson: L,
  renders: ReadonlyMap<L, readonly K8sObject[]>,
  gatewayApiServed: () => boolean,
  found: (findings: RuleFindings<L>) => void,
): Step[] {
  const gatewayApi = resources.filter((r) => r.endsWith(`.${GATEWAY_API_GROUP}`));
  const others = resources.filter((r) => !gatewayApi.includes(r));
  const live: K8sObject[] = [];
  const query = (kinds: readonly string[], last: boolean): Step => ({
    argv: kubectl(target.context, "get", kinds.join(","), "-n", namespace, "-o", "json", requestTimeout(target)),
    note: last
      ? `the rules of ${lesson} and no other lesson's`
      : "the Gateway API's rules, where the cluster serves them",
    quiet: true,
    timeoutMs: queryTimeoutMs(target),
    ...(last ? {} : { skip: () => (gatewayApiServed() ? undefined : "this cluster does not serve the Gateway API") }),
    judge: (run) => {
      if (run.code !== 0) {
        throwIfUnserved(run);
        throw new StepError(`cannot list the rules in ${namespace}: ${lastError(run)}`, EXIT.failed);
      }
      live.push(...(json<{ items?: K8sObject[] }>(run)?.items ?? []));
      if (last) found(assessRules(live, lesson, renders));
    },
  });
  if (others.length === 0) return gatewayApi.length ? [query(gatewayApi, true)] : [];
  return [...(gatewayApi.length ? [query(gatewayApi, false)] : []), query(others, true)];
}

/** The problems of rule findings, one line each, with the commands that fix them; empty when the rules are the lesson's alone. */
export function ruleProblems<L extends string>(
  findings: RuleFindings<L>,
  lesson: L,
  namespace: string,
  context: string | undefined,
): string[] {
  const from = (lessons: readonly string[]) => (lessons.length ? `, from ${lessons.join(", ")}` : ", from no lesson");
  const problems: string[] = [];
  if (findings.missing.length > 0)
    problems.push(`missing ${findings.missing.map(ruleLabel).join(", ")} of ${lesson}: npm run lesson -- ${lesson}`);
  for (const { rule, from: lessons } of findings.changed)
    problems.push(`${ruleLabel(rule)} is not ${lesson}'s${from(lessons)}: npm run lesson -- ${lesson}`);
  if (findings.leftovers.length > 0) {
    const names = findings.leftovers.map(({ rule, from: lessons }) => `${ruleLabel(rule)}${from(lessons)}`).join("; ");
    const remove = formatCommand(
      kubectl(context, "delete", ...findings.leftovers.map(({ rule }) => ruleRef(rule)), "-n", namespace),
    ).replace(/^\$ /, "");
    problems.push(
      `rules of another lesson are still there: ${names}; remove them with npm run lesson -- ${lesson} (or ${remove})`,
    );
  }
  return problems;
}
