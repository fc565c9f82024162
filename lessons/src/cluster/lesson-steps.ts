// The steps that switch a cluster to a lesson: remove other lessons' rules and every
// labelled object (app.kubernetes.io/part-of=istio-lessons) the lesson's render lacks,
// apply the lesson's overlay, wait for its pods; and remove its rules again (verify --all).
// Explicit deletes computed from the renders, not `kubectl apply --prune`: prune is
// alpha (kubectl's help says so, and ApplySet-based pruning, also alpha, is to replace
// it), needs an allowlist of every kind, and fails on a kind the cluster does not serve
// (the Gateway API's, where its CRDs are not installed); a delete is printed by
// --dry-run exactly as it runs, and the label keeps the learner's own objects safe.
// `npm run lesson`, `npm run cluster -- up` and `npm run verify -- --all` run them.
import { relative } from "node:path";
import { renderKustomization, type K8sObject } from "../core/kustomize.ts";
import { kubectl, renderNamespace } from "../core/kubectl.ts";
import { ROOT } from "../core/paths.ts";
import type { ProgramRun } from "../core/run.ts";
import { allLessons, type Lesson, overlayDir } from "../catalog/lessons.ts";
import { ambientWaitSteps, isAmbient } from "./ambient.ts";
import { formatDuration } from "#common/duration.ts";
import {
  ACTION_TIMEOUT_MS,
  podsStep,
  queryTimeoutMs,
  rolloutStep,
  servicesOf,
  throwIfUnserved,
  workloadsOf,
  type KubeTarget,
} from "./kube.ts";
import { EXIT, failedMessage, lastError, StepError, type Step } from "./plan.ts";
import {
  deletionGroups,
  excludeNames,
  GATEWAY_API_GROUP,
  isGatewayApiResource,
  isRule,
  LESSON_SELECTOR,
  objectResourceOf,
  objectResources,
  resourceOf,
  ruleRef,
  ruleResources,
  rulesOf,
} from "./rules.ts";
import { gatewayApiInstallHint } from "./tools.ts";

/** kubectl apply or delete of rules: a failure says whether the cluster lacks the rule kinds. */
function ruleActionJudge(argv: string[]): (run: ProgramRun) => void {
  return (run) => {
    if (run.code === 0) return;
    throwIfUnserved(run);
    throw new StepError(failedMessage(argv, run), EXIT.failed);
  };
}

export type Renders = ReadonlyMap<Lesson, readonly K8sObject[]>;

/** Every lesson's render (kubectl kustomize), Gateway API twins and ambient lessons included, to know every lesson's rules. */
export async function renderLessons(): Promise<Renders> {
  const lessons = allLessons();
  const objects = await Promise.all(lessons.map((lesson) => renderKustomization(overlayDir(lesson))));
  return new Map(lessons.map((lesson, i) => [lesson, objects[i]!]));
}

/** The overlay's directory as typed from the repository root, e.g. k8s/overlays/weighted. */
export function overlayPath(lesson: Lesson): string {
  return relative(ROOT, overlayDir(lesson));
}

export function renderOf(renders: Renders, lesson: Lesson): readonly K8sObject[] {
  const objects = renders.get(lesson);
  if (!objects) throw new Error(`lesson ${lesson} was not rendered`);
  return objects;
}

/**
 * Asks the cluster whether it serves the Gateway API's kinds (its CRDs are optional: an
 * Istio-API lesson never needs them). `served()` answers after the step ran; a lesson
 * with Gateway API objects on a cluster without them stops here, saying what to install.
 */
export function gatewayApiStep(
  lesson: Lesson,
  render: readonly K8sObject[],
  target: KubeTarget,
): { step: Step; served: () => boolean } {
  let served = true;
  const needed = rulesOf(render).filter((r) => isGatewayApiResource(resourceOf(r)));
  return {
    served: () => served,
    step: {
      argv: kubectl(
        target.context,
        "api-resources",
        `--api-group=${GATEWAY_API_GROUP}`,
        "-o",
        "name",
        `--request-timeout=${formatDuration(target.requestTimeoutMs)}`,
      ),
      note: "does the cluster serve the Gateway API (its CRDs)?",
      quiet: true,
      timeoutMs: queryTimeoutMs(target),
      judge: (run) => {
        if (run.code !== 0)
          throw new StepError(`cannot list the cluster's API resources: ${lastError(run)}`, EXIT.failed);
        served = run.stdout.split("\n").some((l) => l.trim().endsWith(`.${GATEWAY_API_GROUP}`));
        if (!served && needed.length > 0) {
          throw new MissingApiError(
            `not ready: ${lesson} needs the Gateway API (${[...new Set(needed.map((r) => r.kind))].join(", ")}), which this cluster does not serve: ${gatewayApiInstallHint()}`,
          );
        }
      },
    },
  };
}

/** A lesson needs an API the cluster does not serve: that lesson cannot run here, the next may. */
export class MissingApiError extends StepError {
  constructor(message: string) {
    super(message, EXIT.notReady);
  }
}

/** Removes what other lessons left (their rules; labelled objects this render lacks), then applies the lesson. */
export function switchSteps(
  lesson: Lesson,
  renders: Renders,
  target: KubeTarget,
  gatewayApi = gatewayApiStep(lesson, renderOf(renders, lesson), target),
): Step[] {
  const render = renderOf(renders, lesson);
  const namespace = renderNamespace(render);
  const step = (argv: string[], note: string, resources: readonly string[]): Step => ({
    argv,
    note,
    timeoutMs: ACTION_TIMEOUT_MS,
    judge: ruleActionJudge(argv),
    ...(resources.every(isGatewayApiResource)
      ? {
          skip: () =>
            gatewayApi.served() ? undefined : "this cluster does not serve the Gateway API: nothing of it to remove",
        }
      : {}),
  });
  const except = (keep: readonly string[]) => (keep.length > 0 ? ["--field-selector", excludeNames(keep)] : []);
  const rules = ruleResources(renders.values());
  const apply = kubectl(target.context, "apply", "-k", overlayPath(lesson));
  return [
    ...(rules.some(isGatewayApiResource) ? [gatewayApi.step] : []),
    ...deletionGroups(rules, rulesOf(render)).map(({ resources, keep }) =>
      step(
        kubectl(
          target.context,
          "delete",
          resources.join(","),
          "-n",
          namespace,
          ...(keep.length > 0 ? except(keep) : ["--all"]),
        ),
        keep.length > 0 ? `other lessons' rules; ${lesson} applies ${keep.join(", ")} itself` : "other lessons' rules",
        resources,
      ),
    ),
    ...deletionGroups(
      objectResources(renders.values()),
      render.filter((o) => !isRule(o)),
      objectResourceOf,
    ).map(({ resources, keep }) =>
      step(
        kubectl(target.context, "delete", resources.join(","), "-n", namespace, "-l", LESSON_SELECTOR, ...except(keep)),
        keep.length > 0
          ? `what other lessons added; ${lesson} applies ${keep.join(", ")} itself`
          : "what other lessons added",
        resources,
      ),
    ),
    { argv: apply, timeoutMs: ACTION_TIMEOUT_MS, judge: ruleActionJudge(apply) },
  ];
}

/** Waits for the lesson's Deployments to roll out, then checks every pod is ready with its sidecar (2/2); for an ambient lesson, without one and enrolled with ztunnel, and its waypoint programmed. */
export function waitSteps(render: readonly K8sObject[], target: KubeTarget, waitMs: number, cluster?: string): Step[] {
  if (isAmbient(render)) return ambientWaitSteps(render, target, waitMs);
  const namespace = renderNamespace(render);
  const workloads = workloadsOf(render);
  let rolloutFailure: string | undefined;
  return [
    rolloutStep(target, namespace, workloads, waitMs, (why) => (rolloutFailure = why)),
    podsStep(target, namespace, workloads, {
      ...(cluster ? { cluster } : {}),
      services: servicesOf(render),
      rolloutFailure: () => rolloutFailure,
    }),
  ];
}

/** Deletes the lesson's own rules (verify --all, after its checks); none for a lesson without rules. */
export function removeSteps(lesson: Lesson, renders: Renders, target: KubeTarget): Step[] {
  const render = renderOf(renders, lesson);
  const rules = rulesOf(render);
  if (rules.length === 0) return [];
  return [
    {
      argv: kubectl(
        target.context,
        "delete",
        ...rules.map(ruleRef),
        "-n",
        renderNamespace(render),
        "--ignore-not-found",
      ),
      note: `${lesson}'s rules`,
      timeoutMs: ACTION_TIMEOUT_MS,
    },
  ];
}
