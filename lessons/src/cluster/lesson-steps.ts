// The steps that switch a cluster to a lesson: remove other lessons' rules, apply the
// lesson's overlay, wait for its pods; and remove its rules again (verify --all).
// `npm run lesson`, `npm run cluster -- up` and `npm run verify -- --all` run them.
import { relative } from "node:path";
import { renderKustomization, type K8sObject } from "../core/kustomize.ts";
import { kubectl, renderNamespace } from "../core/kubectl.ts";
import { ROOT } from "../core/paths.ts";
import type { ProgramRun } from "../core/run.ts";
import { allLessons, overlayDir, type Lesson } from "../catalog/lessons.ts";
import { ACTION_TIMEOUT_MS, podsStep, rolloutStep, throwIfUnserved, workloadsOf, type KubeTarget } from "./kube.ts";
import { EXIT, failedMessage, StepError, type Step } from "./plan.ts";
import { deletionGroups, excludeNames, ruleRef, ruleResources, rulesOf } from "./rules.ts";

/** kubectl apply or delete of rules: a failure says whether the cluster lacks the rule kinds. */
function ruleActionJudge(argv: string[]): (run: ProgramRun) => void {
  return (run) => {
    if (run.code === 0) return;
    throwIfUnserved(run);
    throw new StepError(failedMessage(argv, run), EXIT.failed);
  };
}

export type Renders = ReadonlyMap<Lesson, readonly K8sObject[]>;

/** Every lesson's render (kubectl kustomize), Gateway API twins included, to know every lesson's rules. */
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

/** Removes other lessons' rules, then applies the lesson. */
export function switchSteps(lesson: Lesson, renders: Renders, target: KubeTarget): Step[] {
  const render = renderOf(renders, lesson);
  const namespace = renderNamespace(render);
  const step = (argv: string[], note?: string): Step => ({ argv, ...(note ? { note } : {}), timeoutMs: ACTION_TIMEOUT_MS, judge: ruleActionJudge(argv) });
  return [
    ...deletionGroups(ruleResources(renders.values()), rulesOf(render)).map(({ resources, keep }) =>
      step(
        kubectl(target.context, "delete", resources.join(","), "-n", namespace, ...(keep.length > 0 ? ["--field-selector", excludeNames(keep)] : ["--all"])),
        keep.length > 0 ? `other lessons' rules; ${lesson} applies ${keep.join(", ")} itself` : "other lessons' rules",
      ),
    ),
    step(kubectl(target.context, "apply", "-k", overlayPath(lesson))),
  ];
}

/** Waits for the lesson's Deployments to roll out, then checks every pod is ready with its sidecar (2/2). */
export function waitSteps(render: readonly K8sObject[], target: KubeTarget, waitMs: number, cluster?: string): Step[] {
  const namespace = renderNamespace(render);
  const workloads = workloadsOf(render);
  let rolloutFailure: string | undefined;
  return [
    rolloutStep(target, namespace, workloads, waitMs, (why) => (rolloutFailure = why)),
    podsStep(target, namespace, workloads, { ...(cluster ? { cluster } : {}), rolloutFailure: () => rolloutFailure }),
  ];
}

/** Deletes the lesson's own rules (verify --all, after its checks); none for a lesson without rules. */
export function removeSteps(lesson: Lesson, renders: Renders, target: KubeTarget): Step[] {
  const render = renderOf(renders, lesson);
  const rules = rulesOf(render);
  if (rules.length === 0) return [];
  return [{ argv: kubectl(target.context, "delete", ...rules.map(ruleRef), "-n", renderNamespace(render), "--ignore-not-found"), note: `${lesson}'s rules`, timeoutMs: ACTION_TIMEOUT_MS }];
}
