// Ambient mode on a cluster, as plan steps and pure judgements: Istio's ambient profile
// (istiod, the CNI node agent and ztunnel, no sidecar injector), the wait for a lesson's
// waypoint, and what a ready ambient pod is: its containers ready, no istio-proxy, and
// enrolled with ztunnel (the CNI agent marks it with ambient.istio.io/redirection: enabled,
// istio/istio cni/pkg/util/podutil.go PodFullyEnrolled). The sidecar steps stay in kube.ts and
// lesson-steps.ts; each asks isAmbient(render) once and hands over to these.
import { formatDuration } from "#common/duration.ts";
import { kubectl, renderNamespace } from "../core/kubectl.ts";
import type { K8sObject } from "../core/kustomize.ts";
import { DATAPLANE_MODE_LABEL, INJECTION_LABEL, isWaypointGateway } from "../mesh/ambient.ts";
import {
  ACTION_TIMEOUT_MS,
  assessPods,
  json,
  longRunning,
  QUERY_GRACE_MS,
  queryTimeoutMs,
  requestTimeout,
  rolloutStep,
  SIDECAR,
  workloadsOf,
  type KubeTarget,
  type Pod,
  type RenderedDeployment,
} from "./kube.ts";
import { EXIT, lastError as lastErrorOf, StepError, type Step } from "./plan.ts";

export { isAmbient } from "../mesh/ambient.ts";

/** The annotation the CNI node agent puts on a pod once ztunnel carries its traffic, and its value then. */
export const REDIRECTION_ANNOTATION = "ambient.istio.io/redirection";
export const REDIRECTION_ENABLED = "enabled";

/** The node agents of the ambient profile, DaemonSets in istio-system. */
export const AMBIENT_DAEMONSETS = ["ztunnel", "istio-cni-node"] as const;

/** The first lesson `cluster up --ambient` applies: ztunnel alone, no waypoint to wait for. */
export const FIRST_AMBIENT_LESSON = "ambient/l4-only";

/** istioctl's install of the ambient profile (istiod, CNI, ztunnel; no ingress gateway). */
export function ambientInstallArgv(context: string, waitMs: number): string[] {
  return [
    "istioctl",
    "install",
    "--context",
    context,
    "--set",
    "profile=ambient",
    "-y",
    "--readiness-timeout",
    formatDuration(waitMs),
  ];
}

/** Waits for ztunnel and the CNI agent to run on every node. */
export function ambientAgentsStep(context: string, waitMs: number): Step {
  return {
    argv: kubectl(
      context,
      "rollout",
      "status",
      ...AMBIENT_DAEMONSETS.map((d) => `daemonset/${d}`),
      "-n",
      "istio-system",
      `--timeout=${formatDuration(waitMs)}`,
    ),
    note: "ztunnel and the CNI node agent run on every node",
    timeoutMs: waitMs * AMBIENT_DAEMONSETS.length + QUERY_GRACE_MS,
    judge: (run) => {
      if (run.code !== 0)
        throw new StepError(
          `ambient mode is not ready: ${lastErrorOf(run)} (kubectl --context ${context} get daemonset -n istio-system)`,
          EXIT.failed,
        );
    },
  };
}

/** The waypoints a render declares (Gateways of class istio-waypoint). */
export function waypointsOf(render: readonly K8sObject[]): string[] {
  return render.filter(isWaypointGateway).map((g) => g.metadata.name);
}

/** Waits until istiod has deployed each waypoint of the render and it is programmed (its pods ready, an address given). */
export function waypointSteps(render: readonly K8sObject[], target: KubeTarget, waitMs: number): Step[] {
  const names = waypointsOf(render);
  if (names.length === 0) return [];
  const namespace = renderNamespace(render);
  return [
    {
      argv: kubectl(
        target.context,
        "wait",
        "--for=condition=Programmed",
        ...names.map((n) => `gateway/${n}`),
        "-n",
        namespace,
        `--timeout=${formatDuration(waitMs)}`,
      ),
      note: `the waypoint ${names.join(", ")}: deployed by istiod and programmed`,
      timeoutMs: waitMs * names.length + QUERY_GRACE_MS,
      judge: (run) => {
        if (run.code !== 0) {
          throw new StepError(
            `not ready: waypoint ${names.join(", ")} is not programmed: ${lastErrorOf(run)} (is Istio installed with the ambient profile? kubectl get gateway -n ${namespace}; kubectl get pods -n ${namespace} -l gateway.networking.k8s.io/gateway-name)`,
            EXIT.notReady,
          );
        }
      },
    },
  ];
}

/** Why an ambient pod is not ready, with what to do; undefined when it is ready, without a sidecar, and enrolled with ztunnel. */
export function ambientPodProblem(
  pod: Pod & { metadata: { annotations?: Record<string, string> } },
  namespace: string,
  deployment: string,
): string | undefined {
  const { names, statuses } = longRunning(pod);
  const ready = statuses.filter((s) => s.ready).length;
  const name = pod.metadata.name;
  if (names.includes(SIDECAR)) {
    return `pod ${name} has the ${SIDECAR} sidecar (${ready}/${names.length}): in ambient mode it must not; the namespace still injects sidecars or the pod started before the switch: kubectl label namespace ${namespace} ${INJECTION_LABEL}-, then kubectl rollout restart deployment/${deployment} -n ${namespace}`;
  }
  if (
    ready < names.length ||
    !(pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false)
  )
    return `pod ${name} is not ready (${ready}/${names.length})`;
  if (pod.metadata.annotations?.[REDIRECTION_ANNOTATION] !== REDIRECTION_ENABLED) {
    return `pod ${name} is not enrolled with ztunnel (no ${REDIRECTION_ANNOTATION}: ${REDIRECTION_ENABLED}): is Istio installed with the ambient profile (kubectl get daemonset ztunnel istio-cni-node -n istio-system)?`;
  }
  return undefined;
}

/** Every pod of the render's Deployments ready (1/1: no sidecar) and enrolled with ztunnel. */
export function ambientPodsStep(
  target: KubeTarget,
  namespace: string,
  workloads: readonly RenderedDeployment[],
  rolloutFailure?: () => string | undefined,
): Step {
  return {
    argv: kubectl(target.context, "get", "pods", "-n", namespace, "-o", "json", requestTimeout(target)),
    note: `${workloads.map((w) => w.name).join(", ")}: every pod ready without a sidecar, enrolled with ztunnel`,
    quiet: true,
    timeoutMs: queryTimeoutMs(target),
    judge: (run) => {
      if (run.code !== 0) throw new StepError(`cannot list the pods in ${namespace}: ${lastErrorOf(run)}`, EXIT.failed);
      const pods = json<{ items?: Pod[] }>(run)?.items ?? [];
      const problems = assessPods(pods, workloads, namespace, undefined, ambientPodProblem);
      if (problems.length > 0) throw new StepError(`not ready:\n  ${problems.join("\n  ")}`, EXIT.notReady);
      const rollout = rolloutFailure?.();
      if (rollout) throw new StepError(`not ready: the rollout did not finish: ${rollout}`, EXIT.notReady);
    },
  };
}

/** The namespace exists and is enrolled in ambient mode, without sidecar injection. */
export function ambientNamespaceStep(target: KubeTarget, namespace: string, lesson: string): Step {
  return {
    argv: kubectl(target.context, "get", "namespace", namespace, "-o", "json", requestTimeout(target)),
    note: `the namespace exists, with ${DATAPLANE_MODE_LABEL}=ambient`,
    quiet: true,
    timeoutMs: queryTimeoutMs(target),
    judge: (run) => {
      if (run.code !== 0) {
        const error = lastErrorOf(run);
        if (/NotFound/.test(error))
          throw new StepError(
            `not ready: namespace ${namespace} does not exist: apply the lesson first: npm run lesson -- ${lesson}`,
            EXIT.notReady,
          );
        throw new StepError(`cannot read namespace ${namespace}: ${error}`, EXIT.failed);
      }
      const labels = json<K8sObject>(run)?.metadata?.labels ?? {};
      if (labels[DATAPLANE_MODE_LABEL] !== "ambient") {
        throw new StepError(
          `not ready: namespace ${namespace} is not in ambient mode (no ${DATAPLANE_MODE_LABEL}=ambient): apply the lesson: npm run lesson -- ${lesson}`,
          EXIT.notReady,
        );
      }
      if (labels[INJECTION_LABEL] === "enabled") {
        throw new StepError(
          `not ready: namespace ${namespace} has ${INJECTION_LABEL}=enabled beside ambient mode: kubectl label namespace ${namespace} ${INJECTION_LABEL}-, then kubectl rollout restart deployment -n ${namespace}`,
          EXIT.notReady,
        );
      }
    },
  };
}

/** After an ambient lesson is applied: its Deployments rolled out, every pod 1/1 and enrolled, its waypoint programmed. */
export function ambientWaitSteps(render: readonly K8sObject[], target: KubeTarget, waitMs: number): Step[] {
  const namespace = renderNamespace(render);
  const workloads = workloadsOf(render);
  let rolloutFailure: string | undefined;
  return [
    rolloutStep(target, namespace, workloads, waitMs, (why) => (rolloutFailure = why)),
    ambientPodsStep(target, namespace, workloads, () => rolloutFailure),
    ...waypointSteps(render, target, waitMs),
  ];
}

/** verify's preflight for an ambient lesson: the namespace in ambient mode, the pods (unless just waited for), the waypoint. */
export function ambientReadinessSteps(
  render: readonly K8sObject[],
  lesson: string,
  target: KubeTarget,
  workloadsToo: boolean,
): Step[] {
  const namespace = renderNamespace(render);
  if (!workloadsToo) return [];
  return [
    ambientNamespaceStep(target, namespace, lesson),
    ambientPodsStep(target, namespace, workloadsOf(render)),
    ...waypointSteps(render, target, ACTION_TIMEOUT_MS / 4),
  ];
}
